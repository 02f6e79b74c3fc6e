"""Forward mode: every node's tangent ż, the derivative along a direction, in one sweep.

>>> import graphviz_grad as gg
>>> run = tangents("L = (x*W1 + y*W2 - B)**2", direction="x", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> run.tangent("z1"), run.output_tangent  # ż1 = W1·ẋ, and dL/dx = 0.4
(0.1, 0.4)
>>> print(run.steps[2].caption())
ż3 = ż1 + ż2 = 0.1 + 0 = 0.1

The rule at every node is the chain rule read forwards, ż = Σ ∂z/∂a · ȧ over the node's
arguments ``a``, with the local derivatives ∂z/∂a from the op table (the same numbers the
backward pass uses). A node that depends on no input the direction moves has tangent exactly
0 (an ``inf`` partial times a zero tangent is not a ``nan`` here): so the output's tangent is
the gradient dotted with the direction, summed over the inputs that move.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from numbers import Real
from typing import Any

from .engine import NodeReadings, Trace, backward, forward
from .errors import InputTypeError, InputValueError
from .formula import parse
from .graph import CONST, INPUT, Expr, Graph, build
from .ops import OPS
from .steps import Step, operand
from .text import format_number

TANGENT = "tangent"
"""The phase of a tangent line in the step model."""

OK, INF, NAN, KINK = "ok", "inf", "nan", "kink"
"""A tangent's status: an ordinary number, infinite, nan, or taken at a kink (by convention)."""

# How a node's tangent is computed: the sum of the two partials' terms, one of them, or (a product)
# from the other argument's value; constant partials are read from the table once.
_FIXED, _PRODUCT, _RULE = range(3)


def dotted(name: str) -> str:
    """A node name with a dot over its first letter: the tangent's symbol.

    >>> dotted("z3"), dotted("x"), dotted("W1")
    ('ż3', 'ẋ', 'Ẇ1')
    """
    return unicodedata.normalize("NFC", name[:1] + "\u0307" + name[1:])


def as_graph(subject: Any) -> Graph:
    """The graph of formula text, a `Graph` or a builder `Expr`; a TypeError for anything else."""
    if isinstance(subject, str):
        return parse(subject)
    if isinstance(subject, Graph):
        return subject
    if isinstance(subject, Expr):
        return build(subject)
    raise TypeError(f"expected a formula, a Graph, an Expr or a Trace, not {type(subject).__name__}")


def as_trace(subject: Any, values: Any, named: Mapping[str, Any]) -> Trace:
    """The `Trace` of ``subject`` (which may itself be one) at the given values, read as `grad` reads them."""
    if isinstance(subject, Trace):
        if values is not None or named:
            raise InputValueError("a Trace carries its own values: give no others")
        return subject
    return backward(as_graph(subject), point(values, named))


def point(values: Any, named: Mapping[str, Any]) -> Any:
    """Values as a mapping, a sequence in input order, or keywords (not two of these at once)."""
    if not named:
        return {} if values is None else values
    if values is not None and not isinstance(values, Mapping):
        raise InputValueError("give values either as a sequence or by name, not both")
    twice = set(values or ()) & set(named)
    if twice:
        raise InputValueError(f"{sorted(twice)[0]!r} is given both in values and as a keyword")
    return {**(values or {}), **named}


def read_direction(graph: Graph, direction: Any, what: str = "direction") -> dict[str, float]:
    """The nonzero components of ``direction``: a mapping input → number (missing inputs are 0),
    or one input's name for its unit vector; every key checked.

    >>> read_direction(parse("y = a*b"), "b"), read_direction(parse("y = a*b"), {"a": 2, "b": 0})
    ({'b': 1.0}, {'a': 2.0})
    """
    if isinstance(direction, str):
        direction = {direction: 1.0}
    if not isinstance(direction, Mapping):
        raise TypeError(f"{what} must be an input's name or a mapping of input names to numbers, "
                        f"not {type(direction).__name__}")
    moved = {}
    for name, number in direction.items():
        if name not in graph.input_set:
            listed = ", ".join(graph.inputs) or "none"
            raise InputValueError(f"{what} names {name!r}, which is not an input (inputs: {listed})")
        if isinstance(number, bool) or not isinstance(number, Real) or not math.isfinite(number):
            real = isinstance(number, Real) and not isinstance(number, bool)
            error = InputValueError if real else InputTypeError
            raise error(f"{what} component {name!r} must be a finite number, not {number!r}")
        if number != 0:
            moved[name] = float(number)
    return moved


# The tangent rule per node: constant partials (add, sub, neg), a product, or the op's partials
# rule; each for the first argument moved, the second, or both.
_FIXED_A, _FIXED_B, _FIXED_AB, _PRODUCT_A, _PRODUCT_B, _PRODUCT_AB, _RULE_A, _RULE_B, _RULE_AB = range(9)


def program(graph: Graph, moved_inputs: frozenset[str]) -> tuple[tuple[Any, ...], ...]:
    """The tangent sweep's plan for the inputs a direction moves: ``(position, kind, constants or
    rule, arg a, arg b or -1)`` per node that depends on a moved input (the last plan is kept)."""
    cached = graph._cache.get("forward_mode")
    if cached is not None and cached[0] == moved_inputs:
        return cached[1]
    args = graph.arg_indices
    moved = [False] * len(graph)
    steps = []
    for i, node in enumerate(graph.nodes):
        if node.op == INPUT:
            moved[i] = node.name in moved_inputs
        elif node.op != CONST:
            a, b = args[i] if len(args[i]) == 2 else (args[i][0], -1)
            moved_a, moved_b = moved[a], b >= 0 and moved[b]
            if not (moved_a or moved_b):
                continue
            moved[i] = True
            shift = 2 if moved_a and moved_b else 1 if moved_b else 0
            op = OPS[node.op]
            if op.constant_partials is not None:
                steps.append((i, _FIXED_A + shift, op.constant_partials, a, b))
            elif op.swapped_partials:
                steps.append((i, _PRODUCT_A + shift, None, a, b))
            else:
                steps.append((i, _RULE_A + shift, op.partials, a, b))
    plan = tuple(steps)
    graph._cache["forward_mode"] = (moved_inputs, plan)
    return plan


def sweep(graph: Graph, values: Sequence[float], moved: Mapping[str, float]) -> list[float]:
    """Every node's tangent at the node values ``values`` (graph order) along the direction whose
    nonzero components are ``moved``, by the chain rule read forwards."""
    dots = [0.0] * len(values)
    for name, number in moved.items():
        dots[graph.index(name)] = number
    for i, kind, rule, a, b in program(graph, frozenset(moved)):
        if kind == _FIXED_A:
            dots[i] = rule[0] * dots[a]
        elif kind == _PRODUCT_A:
            dots[i] = values[b] * dots[a]
        elif kind == _FIXED_AB:
            dots[i] = rule[0] * dots[a] + rule[1] * dots[b]
        elif kind == _RULE_A:
            parts = rule(values[a], values[i]) if b < 0 else rule(values[a], values[b], values[i])
            dots[i] = parts[0] * dots[a]
        elif kind == _PRODUCT_AB:
            dots[i] = values[b] * dots[a] + values[a] * dots[b]
        elif kind == _PRODUCT_B:
            dots[i] = values[a] * dots[b]
        elif kind == _FIXED_B:
            dots[i] = rule[1] * dots[b]
        else:
            parts = rule(values[a], values[b], values[i])
            dots[i] = parts[1] * dots[b] if kind == _RULE_B else parts[0] * dots[a] + parts[1] * dots[b]
    return dots


@dataclass(frozen=True)
class ForwardStep:
    """One node of the tangent sweep: ``ż = Σ ∂z/∂a · ȧ`` with its numbers."""

    node: str
    op: str
    terms: tuple[tuple[str, float, float], ...]
    """(argument, local derivative ∂z/∂a, argument's tangent ȧ) for every argument that is not a
    constant (an argument the direction does not move has tangent 0 and adds nothing)."""
    tangent: float
    status: str
    slots: tuple[int, ...] = ()
    """The argument slot of each of ``terms`` (the edges the line reads)."""

    def record(self, digits: int = 4) -> Step:
        """This node's tangent line as a record of the one step model (`graphviz_grad.steps.Step`,
        phase ``tangent``): ``lhs`` ż3, ``symbols`` ż1 + ż2, ``numbers`` 0.1 + 0, ``value`` the tangent,
        ``terms`` the edges read, ``notes`` a kink's convention or a tangent that is not finite."""
        def number(value: float) -> str:
            return operand(format_number(value, digits))

        lhs, result = dotted(self.node), format_number(self.tangent, digits)
        notes = (("at a kink: the engine's convention",) if self.status == KINK else
                 (f"the tangent is {result}",) if self.status in (INF, NAN) else ())
        if not self.terms:
            text = f"{lhs} = 0 (it depends on no input)"
            return Step(TANGENT, self.node, lhs, "0", "0", "0", self.tangent, text, (), notes)
        symbols, formula, numbers = [], [], []
        for k, (source, local, dot) in enumerate(self.terms):
            if self.op in ("add", "sub", "neg"):  # ±ȧ: the partials are ±1
                sign = ("-" if k == 0 else " - ") if local < 0 else ("" if k == 0 else " + ")
                symbols.append(sign + dotted(source))
                formula.append(sign + dotted(source))
                numbers.append(sign + number(dot))
                continue
            sign = "" if k == 0 else " + "
            other = self.terms[1 - k][0] if self.op == "mul" and len(self.terms) == 2 else None
            symbols.append(f"{sign}{other}·{dotted(source)}" if other else
                           f"{sign}∂{self.node}/∂{source}·{dotted(source)}")
            formula.append(f"{sign}{number(local)}·{dotted(source)}")
            numbers.append(f"{sign}{number(local)}·{number(dot)}")
        symbols_text, numbers_text = "".join(symbols), "".join(numbers)
        text = f"{lhs} = {symbols_text} = {numbers_text} = {result}"
        terms = tuple((self.node, slot) for slot in self.slots)
        return Step(TANGENT, self.node, lhs, symbols_text, "".join(formula), numbers_text, self.tangent,
                    text, terms, notes)

    def caption(self, digits: int = 4) -> str:
        """``ż3 = ż1 + ż2 = 0.1 + 0 = 0.1``: the rule in symbols, with numbers, and the result
        (the `record`'s text, with a kink's note in brackets)."""
        step = self.record(digits)
        return step.text + (" (at a kink: the engine's convention)" if self.status == KINK else "")


@dataclass(frozen=True, eq=False)
class TangentTrace(NodeReadings):
    """The result of `tangents`: per node its value, its tangent ż along ``direction`` and statuses."""

    graph: Graph
    values: tuple[float, ...]
    tangents: tuple[float, ...]
    direction: Mapping[str, float]
    """Every input's component (0 for those not given)."""

    @property
    def output_tangent(self) -> float:
        """The directional derivative of the output: gradient · direction."""
        return self.tangent(self.graph.output)

    def tangent(self, name: str) -> float:
        return self.tangents[self.graph.index(name)]

    def tangent_status(self, name: str) -> str:
        """``kink`` where the node is not differentiable along a moved argument (the engine then takes
        PyTorch's convention), else ``ok``, ``inf`` or ``nan`` for the tangent's number."""
        i = self.graph.index(name)
        if self._at_kink(i):
            return KINK
        dot = self.tangents[i]
        return OK if math.isfinite(dot) else NAN if dot != dot else INF

    def _at_kink(self, i: int) -> bool:
        node = self.graph.nodes[i]
        op = OPS.get(node.op)
        if op is None or op.kink is None:
            return False
        args = self.graph.arg_indices[i]
        values = tuple(self.values[a] for a in args)
        return any(self._moves(a) and op.kink(slot, values) for slot, a in enumerate(args))

    def _moves(self, i: int) -> bool:
        """Whether node ``i`` depends on an input the direction moves."""
        return i in self._moving

    @cached_property
    def _moving(self) -> frozenset[int]:
        moved = frozenset(name for name, number in self.direction.items() if number != 0)
        return frozenset(self.graph.index(name) for name in moved) | frozenset(
            step[0] for step in program(self.graph, moved))

    @property
    def steps(self) -> tuple[ForwardStep, ...]:
        """One `ForwardStep` per operation node, in evaluation order (built on each access)."""
        graph = self.graph
        result = []
        for i, node in enumerate(graph.nodes):
            if node.op in (INPUT, CONST):
                continue
            args = graph.arg_indices[i]
            parts = OPS[node.op].partials(*(self.values[a] for a in args), self.values[i])
            terms = tuple((graph.nodes[a].name, parts[slot], self.tangents[a])
                          for slot, a in enumerate(args) if graph.nodes[a].op != CONST)
            slots = tuple(slot for slot, a in enumerate(args) if graph.nodes[a].op != CONST)
            result.append(ForwardStep(node.name, node.op, terms, self.tangents[i],
                                      self.tangent_status(node.name), slots))
        return tuple(result)

    def to_dict(self) -> dict[str, Any]:
        """The ``tangent`` object of ``grad --json --tangent``: ``direction`` (every input), ``output``
        and ``nodes`` (name → tangent, graph order); the statuses are `statuses`."""
        from .serialize import json_number

        names = [node.name for node in self.graph.nodes]
        return {"direction": {name: json_number(number) for name, number in self.direction.items()},
                "output": json_number(self.output_tangent),
                "nodes": {name: json_number(dot) for name, dot in zip(names, self.tangents, strict=True)}}

    def statuses(self) -> dict[str, str]:
        """Every node's `tangent_status`, in graph order (``grad --json``: ``tangent_statuses``)."""
        return {node.name: self.tangent_status(node.name) for node in self.graph.nodes}

    def __repr__(self) -> str:
        return (f"<TangentTrace of {len(self.values)} nodes: {self.output} = {self.output_value!r}, "
                f"tangent {self.output_tangent!r} along {dict(self.direction)!r}>")


def tangents(subject: Any, values: Any = None, /, *, direction: Any, **named: Any) -> TangentTrace:
    """Forward mode: every node's value and tangent ż along ``direction`` (an input's name for its
    unit vector, or a mapping input → number; missing inputs are 0).

    ``subject`` is formula text, a `Graph`, an `Expr` or a `Trace` (which brings its values);
    values come as for `graphviz_grad.grad` (an input called ``direction`` goes in the mapping).

    >>> tangents("y = a*b", a=2, b=3, direction={"a": 1, "b": 1}).output_tangent  # b + a
    5.0
    """
    if isinstance(subject, Trace):
        if values is not None or named:
            raise InputValueError("a Trace carries its own values: give no others")
        graph, vals = subject.graph, subject.values
    else:
        graph = as_graph(subject)
        vals = forward(graph, point(values, named))
    moved = read_direction(graph, direction)
    along = dict.fromkeys(graph.inputs, 0.0)
    along.update(moved)
    return TangentTrace(graph, vals, tuple(sweep(graph, vals, moved)), along)
