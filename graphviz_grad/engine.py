"""Forward and reverse passes over a `Graph`, giving an immutable, replayable `Trace`.

>>> from graphviz_grad import parse
>>> trace = backward(parse("L = (x*W1 + y*W2 - B)**2"), dict(x=5, y=10, W1=0.1, W2=0.2, B=0.5))
>>> trace.value("L"), trace.gradients
(4.0, {'x': 0.4, 'W1': 20.0, 'y': 0.8, 'W2': 40.0, 'B': -4.0})
>>> trace.steps[0].node, trace.steps[0].sent[0]
('L', Edge(source='z4', target='L', slot=0, local=4.0, contribution=4.0))

Both passes are loops over the topological order (no recursion), so graphs of
millions of nodes work. Arithmetic is float64 with IEEE semantics: nothing raises,
and each node gets a status, ``ok``, ``inf``, ``nan`` (inherited from an argument)
or ``domain`` (the nan was born here: ``log(-1)``, ``0/0``, ``inf - inf``).
"""

from __future__ import annotations

import gc
import itertools
import math
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from numbers import Real
from typing import Any

from .errors import GraphTypeError, InputTypeError, InputValueError, NumericError, missing_value
from .graph import CONST, INPUT, Graph
from .ops import OPS

OK, INF, NAN, DOMAIN = "ok", "inf", "nan", "domain"
STATUSES = (OK, INF, NAN, DOMAIN)


@dataclass(frozen=True, slots=True)
class Edge:
    """Argument ``source`` feeding slot ``slot`` of node ``target``.

    ``local`` is the local derivative d target / d source and ``contribution`` the
    chain-rule product dL/dtarget * local that ``source`` receives along this edge.
    Both are ``None`` where no derivative is taken: ``source`` does not depend on an
    input (a constant), or ``target`` does not reach the output.
    """

    source: str
    target: str
    slot: int
    local: float | None
    contribution: float | None


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the backward pass: node ``node`` with its finished gradient.

    ``received`` are the contributions from the nodes that read it (in their
    topological order); ``grad`` is their sum, or 1 for the output. ``sent`` are the
    contributions it passes on to its arguments.
    """

    index: int
    node: str
    grad: float
    received: tuple[Edge, ...]
    sent: tuple[Edge, ...]


# How the backward pass gets an operation's partials: by calling its rule with one or two
# arguments, by taking its constant partials, or (a product) by reading the other argument.
_UNARY, _BINARY, _FIXED_UNARY, _FIXED_BINARY, _SWAPPED = range(5)


class _Program:
    """What the passes need from a graph's structure, computed once per graph: columns
    (lists, or ranges where the positions are consecutive), not a tuple per node."""

    __slots__ = ("_graph", "_inputs", "_live", "backward_kinds", "dead", "forward_columns", "initial",
                 "input_span", "output", "trimmed")

    def __init__(self, graph: Graph, initial: tuple[float, ...], input_span: slice | None,
                 forward_columns: tuple[Any, ...], backward_kinds: tuple[list[Any], list[Any]],
                 trimmed: tuple[list[Any], ...] | None, dead: Sequence[int], output: int):
        self._graph = graph
        self._inputs: tuple[tuple[str, int], ...] | None = None
        self._live: tuple[bool, ...] | None = None
        self.initial = initial                  # every node 0.0 but the constants
        self.input_span = input_span            # the inputs' positions, when contiguous
        self.forward_columns = forward_columns  # positions, rules, args a, args b (or -1)
        self.backward_kinds = backward_kinds    # per operation: kind, rule or partials
        self.trimmed = trimmed                  # the backward columns of the live operations, or None: all
        self.dead = dead                        # positions of the nodes that are not live
        self.output = output

    @property
    def inputs(self) -> tuple[tuple[str, int], ...]:
        """(name, position) of every input."""
        found = self._inputs
        if found is None:
            graph = self._graph
            where = [i for i, op in enumerate(graph._ops) if op == INPUT]
            found = self._inputs = tuple(zip(graph.inputs, where, strict=True))
        return found

    @property
    def live(self) -> tuple[bool, ...]:
        """Per node: depends on an input and reaches the output."""
        found = self._live
        if found is None:
            positions, _, first, second = self.forward_columns
            alive = _alive(self._graph, positions, first, second, sweep_all=True)
            found = self._live = tuple(map(bool, alive[:-1]))  # type: ignore[index]
        return found

    @property
    def backward_columns(self) -> tuple[Any, ...]:
        """(positions, kinds, rules or partials, args a, args b) of the live operations, from
        the output back; made afresh (as iterators where no operation is left out)."""
        if self.trimmed is not None:
            return self.trimmed
        positions, _, first, second = self.forward_columns
        kinds, rules = self.backward_kinds
        return tuple(map(reversed, (positions, kinds, rules, first, second)))

    @property
    def forward(self) -> Iterator[tuple[int, Any, int, int]]:
        """(position, rule, arg a, arg b or -1) per operation, in graph order."""
        return zip(*self.forward_columns, strict=True)

    @property
    def backward(self) -> Iterator[tuple[int, int, Any, int, int]]:
        """(position, kind, rule or partials, a, b) per live operation, from the output back."""
        return zip(*self.backward_columns, strict=True)


def _rules() -> dict[str, tuple[Any, int, Any]]:
    """Per op name: its forward rule, how the backward pass gets its partials, and what with
    (made again when the table is replaced, as tests do with a deliberately broken rule)."""
    if _RULES[0] is OPS:
        return _RULES[1]
    rules = {}
    for op in OPS.values():
        if op.swapped_partials:
            rules[op.name] = (op.forward, _SWAPPED, None)
        elif op.constant_partials is not None:
            rules[op.name] = (op.forward, _FIXED_UNARY if op.arity == 1 else _FIXED_BINARY,
                              op.constant_partials)
        else:
            rules[op.name] = (op.forward, _UNARY if op.arity == 1 else _BINARY, op.partials)
    _RULES[:] = [OPS, rules]
    return rules


_RULES: list[Any] = [None, {}]


def _program(graph: Graph) -> _Program:
    if not isinstance(graph, Graph):
        raise GraphTypeError(f"expected a Graph (from parse or build), not {type(graph).__name__}")
    cached = graph._cache.get("engine")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    collecting = gc.isenabled()
    gc.disable()  # the program's lists make no cycles; a collection would rescan every live node
    try:
        program = _prepare(graph)
    finally:
        if collecting:
            gc.enable()
    graph._cache["engine"] = program
    return program


def _alive(graph: Graph, positions: Sequence[int], first: Sequence[int], second: Sequence[int],
           sweep_all: bool = False) -> bytes | None:
    """Per node (plus a spare byte), 1 if it depends on an input and reaches the output; None
    when that is every operation (checked in C: no operation has only constant arguments,
    and `build` vouches that all reach the output), unless ``sweep_all``."""
    ops = graph._ops
    n = len(ops)
    constant = bytearray(n + 1)  # the spare slot n answers for a missing second argument
    constant[n] = 1
    for i in graph._consts:
        constant[i] = 1
    of = constant.__getitem__
    pure = not any(map(operator.and_, map(of, first), map(of, second)))  # no op on constants only
    if pure and graph._all_reach and not sweep_all:
        return None
    depends = bytearray(n + 1)  # depends on an input; slot n is a spare that stays 0
    for i, op in enumerate(ops):
        if op == INPUT:
            depends[i] = 1
    if pure:
        for i in positions:
            depends[i] = 1
    else:
        for i, a, b in zip(positions, first, second, strict=True):
            depends[i] = depends[a] | depends[b]
    reaches = bytearray(n + 1)  # reaches the output; slot n takes the unary ops' "second" writes
    reaches[graph._out] = 1
    if graph._all_reach:
        for i in positions:
            reaches[i] = 1
        for a in first:
            reaches[a] = 1
        for b in second:
            reaches[b] = 1
    else:
        for i, a, b in zip(reversed(positions), reversed(first), reversed(second), strict=True):
            if reaches[i]:
                reaches[a] = reaches[b] = 1
    reaches[n] = 0
    return bytes(map(operator.and_, reaches, depends))


def _prepare(graph: Graph) -> _Program:
    """The program, column by column: whole-list operations (map, zip, compress) in C; the
    dependency sweeps run in Python only when some operation might not be live."""
    ops, first, second = graph._ops, graph._a, graph._b
    n = len(ops)
    positions: Sequence[int]
    count = sum(map(_LEAF.__contains__, ops))
    if ops[:count].count(INPUT) + ops[:count].count(CONST) == count:  # leaves first: build, parse
        positions = range(count, n)
        first, second = first[count:], second[count:]
    else:
        positions = [i for i, op in enumerate(ops) if op not in _LEAF]
        first = [first[i] for i in positions]
        second = [second[i] for i in positions]
    initial = [0.0] * n
    for i, value in graph._consts.items():
        initial[i] = value
    rules = _rules()
    table = list(map(rules.__getitem__, map(ops.__getitem__, positions)))
    forward = (positions, list(map(_ITEM0, table)), first, second)
    kinds = (list(map(_ITEM1, table)), list(map(_ITEM2, table)))
    alive = _alive(graph, positions, first, second)
    if alive is None:
        trimmed = None
        dead: Sequence[int] = list(graph._consts)
    else:
        keep = [alive[i] for i in reversed(positions)]
        trimmed = tuple(list(itertools.compress(reversed(column), keep))
                        for column in (positions, *kinds, first, second))
        dead = tuple(itertools.compress(range(n), map(operator.not_, alive[:n])))
    k = len(graph.inputs)
    span = slice(0, k) if ops[:k].count(INPUT) == k else None  # usually the inputs come first
    return _Program(graph, tuple(initial), span, forward, kinds, trimmed, dead, graph._out)


_LEAF = frozenset((INPUT, CONST))
_ITEM0, _ITEM1, _ITEM2 = (operator.itemgetter(k) for k in range(3))


def _start(graph: Graph, program: _Program, values: Mapping[str, Any] | Sequence[Any]) -> list[float]:
    """Every node's starting value: the constants, and the inputs taken from ``values``."""
    names = graph.inputs
    kind = type(values)
    if kind is not list and kind is not tuple and (kind is dict or isinstance(values, Mapping)):
        if type(values) is not dict:  # a defaultdict or Counter would invent missing values
            absent = next((name for name in names if name not in values), None)
            if absent is not None:
                raise InputValueError(missing_value(absent))
        if len(values) != len(names):
            extra = [key for key in values if key not in graph.input_set]
            if extra:
                raise InputValueError(f"{extra[0]!r} is not an input (inputs: {_listing(names)})")
        try:
            # keys in input order (the usual dict): read the values in one sweep, no look-ups
            in_order = tuple(values) == names
            given = list(values.values()) if in_order else list(map(values.__getitem__, names))
        except KeyError as missing:
            extra = [key for key in values if key not in graph.input_set]
            also = f" ({extra[0]!r} is not an input)" if extra else ""
            raise InputValueError(f"{missing_value(missing.args[0])}{also}") from None
    else:
        unordered = (str, bytes, bytearray, set, frozenset)
        if kind is not list and kind is not tuple and (isinstance(values, unordered)
                                                       or not isinstance(values, Iterable)):
            raise InputTypeError("values must be a mapping of input names to numbers, or a sequence "
                                  f"in input order, not {type(values).__name__}")
        given = list(values)
        if len(given) != len(names):
            raise InputValueError(f"expected {len(names)} values (for {_listing(names)}), got {len(given)}")
    if not set(map(type, given)) <= {float}:
        given = [_real(name, value) for name, value in zip(names, given, strict=True)]
    vals = list(program.initial)
    if program.input_span is not None:  # the usual layout, inputs first: one slice assignment
        vals[program.input_span] = given
    else:
        for (_, position), value in zip(program.inputs, given, strict=True):
            vals[position] = value
    return vals


def _listing(names: Sequence[str], most: int = 8) -> str:
    shown = ", ".join(names[:most]) or "none"
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


def _real(name: str, value: Any) -> float:
    """A float from anything real: int, float, Fraction, Decimal, numpy real scalars."""
    if isinstance(value, Real | Decimal) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
        except ValueError:  # a signalling Decimal nan
            pass
    raise InputTypeError(f"the value of {name!r} must be a real number, not {value!r}")


def forward(graph: Graph, values: Mapping[str, Any] | Sequence[Any]) -> tuple[float, ...]:
    """Every node's value, in graph order; ``values`` maps input names to numbers
    (or lists them in input order).

    >>> from graphviz_grad import parse
    >>> forward(parse("y = 1/x"), {"x": 0})
    (0.0, 1.0, inf)
    """
    program = _program(graph)
    vals = _start(graph, program, values)
    for i, rule, a, b in zip(*program.forward_columns):  # noqa: B905 - columns of one length
        vals[i] = rule(vals[a]) if b < 0 else rule(vals[a], vals[b])
    return tuple(vals)


def backward(graph: Graph, values: Mapping[str, Any] | Sequence[Any], *, strict: bool = False) -> Trace:
    """Run the forward and the reverse pass and return the `Trace`.

    ``values`` maps input names to numbers, or lists them in ``graph.inputs`` order
    (faster when there are very many inputs).

    With ``strict=True`` a non-finite value or gradient raises `NumericError`
    naming the node, its op and its inputs, instead of being marked by a status.
    """
    program = _program(graph)
    vals = forward(graph, values)
    if strict:
        _check_values(graph, vals)
    grads = [0.0] * len(vals)
    grads[program.output] = 1.0
    for i, kind, rule, a, b in zip(*program.backward_columns):  # noqa: B905 - columns of one length
        g = grads[i]  # dL/dnode is complete: every consumer came earlier in this loop
        if kind == _FIXED_BINARY:  # the most common kinds first
            grads[a] += g * rule[0]
            grads[b] += g * rule[1]
        elif kind == _SWAPPED:
            grads[a] += g * vals[b]
            grads[b] += g * vals[a]
        elif kind == _BINARY:
            parts = rule(vals[a], vals[b], vals[i])
            grads[a] += g * parts[0]
            grads[b] += g * parts[1]
        elif kind == _UNARY:
            grads[a] += g * rule(vals[a], vals[i])[0]
        else:
            grads[a] += g * rule[0]
    for i in program.dead:  # constants may have been handed partials: they get none
        grads[i] = 0.0
    grads[program.output] = 1.0  # dL/dL, even when L is a constant
    trace = Trace(graph, vals, tuple(grads))
    if strict:
        _check_gradients(trace)
    return trace


def _check_values(graph: Graph, vals: Sequence[float]) -> None:
    """Strict mode: raise at the first non-finite value, in evaluation order."""
    for node, value in zip(graph.nodes, vals, strict=True):
        if not math.isfinite(value):
            _raise_at(graph, vals, node, f"value fault at node {node.name!r} ({node.op}): value is {value!r}")


def _check_gradients(trace: Trace) -> None:
    """Strict mode: raise at the first non-finite gradient from the output back, blaming
    the operation whose local derivative made it."""
    for step in trace.steps:
        if not math.isfinite(step.grad):
            cause = next((edge for edge in step.received if not math.isfinite(edge.contribution or 0.0)
                          and math.isfinite(trace.grad(edge.target))), None)
            node = trace.graph[cause.target if cause else step.node]
            _raise_at(trace.graph, trace.values, node,
                      f"gradient fault at node {node.name!r} ({node.op}): gradient d{trace.output}/"
                      f"d{step.node} is {step.grad!r}")


def _raise_at(graph: Graph, vals: Sequence[float], node: Any, message: str) -> None:
    args = tuple((arg, vals[graph.index(arg)]) for arg in node.inputs)
    where = ", ".join(f"{arg} = {value!r}" for arg, value in args)
    detail = f" in {graph.statement(node.name)}" + (f" with {where}" if where else "") if args else ""
    raise NumericError(message + detail, node.name, node.op, args)


def value_status(graph: Graph, values: Sequence[float], i: int) -> str:
    """``ok``, ``inf``, ``nan`` or ``domain`` for node ``i``'s value among ``values``: a nan whose
    arguments are all numbers comes from outside an op's domain (``log(-1)``).

    >>> from graphviz_grad import parse
    >>> value_status(parse("L = log(x)"), [-1.0, float("nan")], 1)
    'domain'
    """
    value = values[i]
    if math.isfinite(value):
        return OK
    if value == value:
        return INF
    args = graph.arg_indices[i]
    if not args or any(values[a] != values[a] for a in args):
        return NAN
    return DOMAIN


class NodeReadings:
    """Reading a node's value and status by name, for `Trace` and the tangent trace alike (both
    hold ``graph`` and ``values``, by position in ``graph.nodes``)."""

    __slots__ = ()
    graph: Graph
    values: tuple[float, ...]

    @property
    def output(self) -> str:
        return self.graph.output

    @property
    def output_value(self) -> float:
        return self.value(self.graph.output)

    def value(self, name: str) -> float:
        return self.values[self.graph.index(name)]

    def status(self, name: str) -> str:
        """``ok``, ``inf``, ``nan`` or ``domain`` for the node's value (see the module doc)."""
        return value_status(self.graph, self.values, self.graph.index(name))


@dataclass(frozen=True, slots=True, eq=False)
class Trace(NodeReadings):
    """The result of `backward`: per node its value, gradient dL/dnode and status; per
    edge its local derivative and contribution; and the ordered backward steps.

    Positions follow ``graph.nodes``; look nodes up by name with `value`, `grad`, `status`.
    """

    graph: Graph
    values: tuple[float, ...]
    grads: tuple[float, ...]

    def partials(self, name: str) -> tuple[float, ...]:
        """The local derivatives of node ``name`` with respect to each of its arguments
        (``()`` for a leaf), from the op table's rule at this trace's values: the same
        numbers the backward pass used."""
        return self._partials(self.graph.index(name))

    def _partials(self, i: int) -> tuple[float, ...]:
        node = self.graph.nodes[i]
        if not node.inputs:
            return ()
        args = [self.values[a] for a in self.graph.arg_indices[i]]
        return OPS[node.op].partials(*args, self.values[i])

    def __eq__(self, other: object) -> bool:
        """Same graph and the same numbers, where nan equals nan (runs are reproducible)."""
        if not isinstance(other, Trace):
            return NotImplemented
        return self.graph == other.graph and all(
            mine == theirs or repr(mine) == repr(theirs)
            for mine, theirs in ((self.values, other.values), (self.grads, other.grads)))

    __hash__ = None  # type: ignore[assignment]

    def grad(self, name: str) -> float:
        return self.grads[self.graph.index(name)]

    @property
    def gradients(self) -> dict[str, float]:
        """dL/dinput for every input, in input order."""
        program = _program(self.graph)
        if program.input_span is not None:  # the usual layout: one slice, no look-ups
            return dict(zip(self.graph.inputs, self.grads[program.input_span], strict=True))
        return {name: self.grads[position] for name, position in program.inputs}

    def _edges_into(self, target: int, live: tuple[bool, ...]) -> list[Edge]:
        """The edges into node ``target``, each with its local derivative and contribution."""
        graph = self.graph
        args = graph.arg_indices[target]
        parts = self._partials(target) if live[target] else ()
        edges = []
        for slot, source in enumerate(args):
            if live[target] and live[source]:
                local: float | None = parts[slot]
                contribution: float | None = self.grads[target] * parts[slot]
            else:
                local = contribution = None
            edges.append(Edge(graph.nodes[source].name, graph.nodes[target].name, slot, local, contribution))
        return edges

    @property
    def edges(self) -> tuple[Edge, ...]:
        """Every edge, grouped by target in graph order."""
        live = _program(self.graph).live
        return tuple(edge for target in range(len(self.graph)) for edge in self._edges_into(target, live))

    @property
    def steps(self) -> tuple[Step, ...]:
        """The backward pass as it ran: one step per node that depends on an input and
        reaches the output, from the output back to the inputs. Built on each access."""
        graph = self.graph
        live = _program(graph).live
        received: list[list[Edge]] = [[] for _ in graph.nodes]
        sent: list[list[Edge]] = [[] for _ in graph.nodes]
        for target in range(len(graph)):
            if live[target]:
                for edge in self._edges_into(target, live):
                    if edge.local is not None:
                        received[graph.index(edge.source)].append(edge)
                        sent[target].append(edge)
        live_from_output = [i for i in range(len(graph) - 1, -1, -1) if live[i]]
        return tuple(Step(k, graph.nodes[i].name, self.grads[i], tuple(received[i]), tuple(sent[i]))
                     for k, i in enumerate(live_from_output))

    def __repr__(self) -> str:
        return (f"<Trace of {len(self.values)} nodes: {self.graph.output} = {self.output_value!r}, "
                f"gradients {self.gradients!r}>")
