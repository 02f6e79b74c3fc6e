"""Second derivatives: the Hessian by forward-over-reverse, Hessian-vector products, eigenvalues.

>>> h = hessian("L = (x*W1 + y*W2 - B)**2", wrt="W1,W2,B", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> h.matrix  # 2·v·vᵀ with v = (x, y, -1)
((50.0, 100.0, -10.0), (100.0, 200.0, -20.0), (-10.0, -20.0, 2.0))
>>> h.eigenvalues
(0.0, 0.0, 252.0)

One column of the Hessian is the tangent of the gradient along one input: a forward sweep gives
every node's tangent ż (`graphviz_grad.forward`), and a reverse sweep carries both the adjoint ḡ
and its tangent, ġ_a += ġ_z·∂z/∂a + ḡ_z·Σ_b ∂²z/∂a∂b·ḃ, with the second local derivatives from the
op table's ``second_partials``. Values, adjoints and local derivatives are computed once, on the
engine's prepared program; then all columns go through the two sweeps together, each node
carrying a list of tangents (one per column), so the interpreter's cost per node is paid once per
block of columns, not once per column. `hvp` does one sweep along a vector, without forming H.

Where the point sits on a kink (relu at 0, a max tie, ...), an entry whose input reaches the kink
has status ``kink`` and no number: the second derivative does not exist there.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .eigen import eigenvalues as _eigenvalues
from .eigen import symmetric_eigenvalues
from .engine import Trace, _program, value_status
from .errors import GraphError, InputValueError
from .forward import as_trace, read_direction
from .graph import INPUT, Graph
from .ops import OPS

OK, INF, NAN, KINK, UNDEFINED = "ok", "inf", "nan", "kink", "undefined"
MAX_WRT = 400
"""At most this many inputs to differentiate by twice (a 400 by 400 matrix)."""
BLOCK_NUMBERS = 1 << 19
"""The columns are computed together in blocks of at most this many numbers in all (nodes times
columns), which bounds the memory of a Hessian of a large graph."""


@dataclass(frozen=True)
class _Locals:
    """Everything a column needs that does not depend on the direction, by node position; the
    structure is the engine's prepared program (`graphviz_grad.engine`), the numbers this point's."""

    order: tuple[int, ...]  # the live operation nodes (depend on an input, reach the output), output first
    linear: tuple[bool, ...]  # by position: the op's partials are constants (its second partials are 0)
    partials: list[tuple[float, ...]]
    seconds: list[tuple[tuple[float, ...], ...]]
    slots: list[tuple[tuple[int, int], ...]]  # (slot, arg) of the live args of each live node
    kinks: tuple[str, ...]  # the live nodes at a kink
    finite: bool  # every live node's adjoint and local derivatives are finite numbers (a False
    # where a sum of finite ones overflowed only sends the point the slower, one-column way)

    @cached_property
    def consumers(self) -> tuple[tuple[int, ...], ...]:
        """The live operation nodes that read each node."""
        readers: list[list[int]] = [[] for _ in self.partials]
        for i in self.order:
            for _, a in self.slots[i]:
                readers[a].append(i)
        return tuple(map(tuple, readers))


def _shape(graph: Graph) -> tuple[tuple[Any, ...], list[tuple[tuple[int, int], ...]], tuple[bool, ...]]:
    """What the columns need from the graph's structure, computed once per graph next to the
    engine's prepared program (and again when the op table is replaced): per live operation, output
    first, ``(position, args, live slots, partials rule, second partials rule, kink tests)``; the
    live slots by position; and by position whether the op is linear (constant partials)."""
    cached = graph._cache.get("hessian")
    if cached is not None and cached[0] is OPS:
        return cached[1]  # type: ignore[no-any-return]
    program = _program(graph)
    live = program.live
    rows, slots, linear = [], [()] * len(graph), [False] * len(graph)
    for i, _, _, a, b in program.backward:  # the live operations, from the output back
        node = graph.nodes[i]
        op = OPS[node.op]
        if op.second_partials is None:
            raise GraphError(f"no second derivatives for {node.op!r} (node {node.name!r}): "
                             "its op table row has no second_partials")
        args = (a,) if b < 0 else (a, b)
        slots[i] = tuple((slot, arg) for slot, arg in enumerate(args) if live[arg])
        linear[i] = op.constant_partials is not None
        tests = tuple(test for test in (op.kink, op.second_kink) if test is not None)
        rows.append((i, args, slots[i], op.partials, op.second_partials, tests))
    shape = (tuple(rows), slots, tuple(linear))
    graph._cache["hessian"] = (OPS, shape)
    return shape


def _locals(trace: Trace) -> _Locals:
    graph, vals, grads = trace.graph, trace.values, trace.grads
    rows, slots, linear = _shape(graph)
    n = len(graph)
    partials: list[tuple[float, ...]] = [()] * n
    seconds: list[tuple[tuple[float, ...], ...]] = [()] * n
    kinks = []
    total = 0.0  # finite only if every adjoint and local derivative is (or, rarely, a sum overflowed)
    for i, args, live_slots, rule, second_rule, tests in rows:
        here = tuple(vals[a] for a in args)
        parts = partials[i] = rule(*here, vals[i])
        second = seconds[i] = second_rule(*here, vals[i])
        total += grads[i] + sum(parts) + sum(map(sum, second))
        if tests and any(test(slot, here) for test in tests for slot, _ in live_slots):
            kinks.append(graph.nodes[i].name)
    order = tuple(row[0] for row in rows)
    return _Locals(order, linear, partials, seconds, slots, tuple(kinks), math.isfinite(total))


def _column(trace: Trace, local: _Locals, direction: Mapping[str, float]) -> list[float]:
    """The tangent of every node's adjoint along ``direction`` (the nonzero components suffice):
    (H·direction) at the inputs, one number at a time. Only the nodes downstream of a moved input
    get a tangent, and only those and the nodes they read get an adjoint tangent: a structural 0
    stays 0 next to an infinite local derivative (an ``inf`` times it is not a ``nan``)."""
    graph, grads = trace.graph, trace.grads
    n = len(graph)
    dots = [0.0] * n
    moved = [False] * n
    seeds = []
    for name, number in direction.items():
        if number != 0:
            position = graph.index(name)
            dots[position], moved[position] = number, True
            seeds.append(position)
    downstream, stack = set(), list(seeds)
    while stack:  # the live nodes that read a moved input, directly or not
        for consumer in local.consumers[stack.pop()]:
            if consumer not in downstream:
                downstream.add(consumer)
                stack.append(consumer)
    partials, seconds, slots = local.partials, local.seconds, local.slots
    for i in sorted(downstream):  # tangents, in evaluation order
        parts = partials[i]
        dots[i] = sum(parts[slot] * dots[a] for slot, a in slots[i] if moved[a])
        moved[i] = True
    adjoint_dots = [0.0] * n
    touched = [False] * n  # the adjoint's tangent is not structurally 0
    for i in local.order:  # a linear op (add, sub, neg) adds no second-order term: it sends ġ only
        own, carried = moved[i] and not local.linear[i], touched[i]
        if not (own or carried):
            continue
        g, g_dot, parts, second = grads[i], adjoint_dots[i], partials[i], seconds[i]
        for slot, a in slots[i]:
            row = second[slot] if own else ()
            # a second partial of exactly 0 (mul's d2/da2, ...) adds nothing, even along an infinite tangent
            curvature = [row[other] * dots[b] for other, b in slots[i]
                         if own and moved[b] and row[other] != 0]
            if not (carried or curvature):
                continue
            term = g_dot * parts[slot] if carried else 0.0
            if curvature:
                term += g * sum(curvature)
            adjoint_dots[a] += term
            touched[a] = True
    return adjoint_dots


def _combine(pairs: Sequence[tuple[float, list[float]]]) -> list[float]:
    """Σ c·v over the (c, v) pairs, element by element (one, two or three vectors)."""
    if len(pairs) == 1:
        c, v = pairs[0]
        return v if c == 1.0 else [c * x for x in v]
    if len(pairs) == 2:
        (c, v), (d, w) = pairs
        if c == 1.0 and d == 1.0:
            return list(map(operator.add, v, w))
        if c == 1.0 and d == -1.0:
            return list(map(operator.sub, v, w))
        return [c * x + d * y for x, y in zip(v, w, strict=True)]
    (c, v), (d, w), (e, u) = pairs
    return [c * x + d * y + e * z for x, y, z in zip(v, w, u, strict=True)]


def _block(trace: Trace, local: _Locals, seeds: Sequence[int]) -> list[list[float] | None]:
    """Columns ``H·e_k`` for the inputs at positions ``seeds``, all at once: every node carries one
    tangent (and one adjoint tangent) per column, so the engine's program is swept twice for the
    whole block, with the loops over columns inside list operations. Every node that depends on
    no seed has ``None`` (structurally 0). For points where every local derivative is finite
    (`_Locals.finite`), where a structural 0 and a computed 0 give the same products."""
    n, width, grads = len(trace.graph), len(seeds), trace.grads
    partials, seconds, slots, linear = local.partials, local.seconds, local.slots, local.linear
    dots: list[list[float] | None] = [None] * n
    for k, position in enumerate(seeds):
        dots[position] = [0.0] * width
        dots[position][k] = 1.0  # type: ignore[index]
    for i in reversed(local.order):  # ż = Σ ∂z/∂a·ȧ, in evaluation order
        parts = partials[i]
        pairs = [(parts[slot], dots[a]) for slot, a in slots[i] if dots[a] is not None]
        if pairs:
            dots[i] = _combine(pairs)  # type: ignore[arg-type]
    adjoint_dots: list[list[float] | None] = [None] * n
    for i in local.order:  # ġ_a += ġ_z·∂z/∂a + ḡ_z·Σ_b ∂²z/∂a∂b·ḃ, from the output back
        g_dot, g, parts, second = adjoint_dots[i], grads[i], partials[i], seconds[i]
        own = [(other, dots[b]) for other, b in slots[i] if dots[b] is not None] if not linear[i] else []
        if g_dot is None and not own:
            continue
        for slot, a in slots[i]:
            pairs = [(parts[slot], g_dot)] if g_dot is not None else []
            row = second[slot] if own else ()
            pairs += [(g * row[other], tangent) for other, tangent in own if g * row[other] != 0]
            if not pairs:
                continue
            term = _combine(pairs)  # type: ignore[arg-type]
            before = adjoint_dots[a]
            adjoint_dots[a] = term if before is None else list(map(operator.add, before, term))
    return adjoint_dots


def _matrix(trace: Trace, local: _Locals, positions: Sequence[int]) -> list[list[float]]:
    """The Hessian's columns for the inputs at ``positions``: in blocks (`_block`) where every
    local derivative is finite, else one structural column at a time (`_column`)."""
    graph = trace.graph
    if not local.finite:
        return [[column[p] for p in positions] for column in
                (_column(trace, local, {graph.nodes[q].name: 1.0}) for q in positions)]
    width = max(1, min(len(positions), BLOCK_NUMBERS // max(1, len(local.order))))
    columns: list[list[float]] = []
    for start in range(0, len(positions), width):
        seeds = positions[start:start + width]
        adjoint_dots = _block(trace, local, seeds)
        rows = [adjoint_dots[p] or [0.0] * len(seeds) for p in positions]
        # + 0.0: a -0.0 that a sum of zeros may leave is written 0.0, as a sum from 0.0 gives
        columns += [[row[k] + 0.0 for row in rows] for k in range(len(seeds))]
    return columns


@dataclass(frozen=True, eq=False)
class Hessian:
    """The Hessian of the output in the inputs ``wrt`` at one point, with a status per entry."""

    trace: Trace = field(repr=False)
    wrt: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]
    """Entry [i][j] is d²L/d wrt[i] d wrt[j]; at a kink, the number next to the engine's convention."""
    statuses: tuple[tuple[str, ...], ...]
    """``ok``, ``inf``, ``nan``, ``kink`` (an input of the pair reaches a kink) or ``undefined`` (it
    reaches a node outside its op's domain, ``log(-1)``) per entry."""
    kinks: tuple[str, ...] = ()
    """The nodes at a kink at this point (that depend on an input and reach the output)."""

    @property
    def graph(self) -> Graph:
        return self.trace.graph

    @property
    def output(self) -> str:
        return self.trace.output

    @property
    def value(self) -> float:
        return self.trace.output_value

    @property
    def gradient(self) -> dict[str, float]:
        """dL/dname for the names in ``wrt``."""
        gradients = self.trace.gradients
        return {name: gradients[name] for name in self.wrt}

    @property
    def point(self) -> dict[str, float]:
        return {name: self.trace.value(name) for name in self.graph.inputs}

    def __getitem__(self, key: tuple[str | int, str | int] | int) -> Any:
        """``h["W1", "B"]`` or ``h[0, 2]``: one entry, by the names or positions of its two inputs;
        ``h[0]``: one row."""
        if isinstance(key, int):
            return self.matrix[key]
        first, second = (self.wrt.index(k) if isinstance(k, str) else k for k in key)
        return self.matrix[first][second]

    def __len__(self) -> int:
        return len(self.wrt)

    def __iter__(self) -> Iterator[tuple[float, ...]]:
        """The rows, so that ``numpy.array(h)`` and ``list(h)`` give the matrix."""
        return iter(self.matrix)

    def tolist(self) -> list[list[float]]:
        return [list(row) for row in self.matrix]

    @property
    def ok(self) -> bool:
        """Every entry is an ordinary number (no kink, inf or nan)."""
        return all(status == OK for row in self.statuses for status in row)

    @cached_property
    def eigenvalues(self) -> tuple[float, ...] | None:
        """The eigenvalues, ascending; ``None`` unless every entry is an ordinary number. Values
        within rounding of 0 (``|λ| <= n·2⁻⁵²·max|λ|·8``) are written as 0."""
        if not self.ok:
            return None
        return _eigenvalues(self.matrix)

    @property
    def max_eigenvalue(self) -> float | None:
        values = self.eigenvalues
        return values[-1] if values else None

    def to_dict(self) -> dict[str, Any]:
        """``output, value, wrt, gradient, hessian, eigenvalues`` as JSON-ready data; an entry at a kink
        is the string ``"kink"`` (``"undefined"`` outside a domain), non-finite numbers are ``"nan"``,
        ``"inf"``, ``"-inf"``; ``eigenvalues`` is null unless every entry is an ordinary number."""
        from .serialize import json_number

        def entry(number: float, status: str) -> float | str | None:
            return status if status in (KINK, UNDEFINED) else json_number(number)

        eigenvalues = self.eigenvalues
        return {
            "output": self.output,
            "value": json_number(self.value),
            "wrt": list(self.wrt),
            "gradient": {name: json_number(number) for name, number in self.gradient.items()},
            "hessian": [[entry(number, status) for number, status in zip(row, statuses, strict=True)]
                        for row, statuses in zip(self.matrix, self.statuses, strict=True)],
            "eigenvalues": None if eigenvalues is None else [json_number(v) for v in eigenvalues],
        }

    def check(self, **options: Any) -> Any:
        """Compare every entry with SymPy's second derivative (`graphviz_grad.symbolic.hessian`)."""
        from .symbolic.hessian import check_hessian

        return check_hessian(self, **options)

    def __repr__(self) -> str:
        return f"<Hessian of {self.output} in {', '.join(self.wrt)}: {self.matrix!r}>"


def _wrt(graph: Graph, wrt: Sequence[str] | str | None) -> tuple[str, ...]:
    if wrt is None:
        names = tuple(graph.inputs)
    elif isinstance(wrt, str):
        names = tuple(part.strip() for part in wrt.split(",") if part.strip())
    elif isinstance(wrt, Sequence) and all(isinstance(name, str) for name in wrt):
        names = tuple(wrt)
    else:
        raise TypeError(f"wrt must be input names (a list or 'a,b'), not {type(wrt).__name__}")
    for name in names:
        if name not in graph.input_set:
            listed = ", ".join(graph.inputs) or "none"
            raise InputValueError(f"wrt names {name!r}, which is not an input (inputs: {listed})")
    if len(set(names)) != len(names):
        raise InputValueError("wrt names an input twice")
    if len(names) > MAX_WRT:
        raise InputValueError(f"a Hessian in {len(names):,} inputs is over the limit of {MAX_WRT}")
    return names


def _status(number: float) -> str:
    return OK if math.isfinite(number) else NAN if number != number else INF


def _upstream_inputs(graph: Graph, names: Sequence[str]) -> set[str]:
    """The inputs that the named nodes are computed from."""
    seen, stack, found = set(), [graph.index(name) for name in names], set()
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        node = graph.nodes[i]
        if node.op == INPUT:
            found.add(node.name)
        stack.extend(graph.arg_indices[i])
    return found


def hessian(subject: Any, values: Any = None, /, wrt: Sequence[str] | str | None = None,
            **named: Any) -> Hessian:
    """The Hessian of the output in the inputs ``wrt`` (default: all, in input order), by
    forward-over-reverse: a tangent sweep and a reverse sweep for all columns together (in blocks).

    ``subject`` is formula text, a `Graph`, an `Expr` or a `Trace`; values come as for
    `graphviz_grad.grad`. An entry whose inputs reach a kink has status ``kink``.

    >>> h = hessian("y = relu(a)*b + b**3", a=0, b=2)
    >>> h.statuses, h["b", "b"]
    ((('kink', 'kink'), ('kink', 'ok')), 12.0)
    """
    trace = as_trace(subject, values, named)
    names = _wrt(trace.graph, wrt)
    local = _locals(trace)
    graph = trace.graph
    positions = [graph.index(name) for name in names]
    columns = _matrix(trace, local, positions)
    matrix = tuple(zip(*columns, strict=True)) if columns else ()  # entry [i][j] from column j
    at_kink = _upstream_inputs(graph, local.kinks)
    values = trace.values  # a node outside its op's domain has a nan value
    born = [node.name for i, node in enumerate(graph.nodes)
            if values[i] != values[i] and value_status(graph, values, i) == "domain"]
    outside = _upstream_inputs(graph, born)
    # per input: the status of every entry in its row and column, unless the number's own
    marks = [KINK if name in at_kink else UNDEFINED if name in outside else None for name in names]

    def statuses_of(mark: str | None, row: tuple[float, ...]) -> tuple[str, ...]:
        if mark == KINK:
            return (KINK,) * len(row)
        if not any(marks) and all(map(math.isfinite, row)):
            return (OK,) * len(row)  # the usual case, without a look at every entry
        return tuple(KINK if other == KINK else UNDEFINED if mark or other else _status(number)
                     for other, number in zip(marks, row, strict=True))

    statuses = tuple(map(statuses_of, marks, matrix))
    return Hessian(trace, names, matrix, statuses, local.kinks)


def hvp(subject: Any, values: Any = None, /, *, vector: Any, wrt: Sequence[str] | str | None = None,
        **named: Any) -> dict[str, float]:
    """The Hessian-vector product H·v in one forward-over-reverse sweep, without forming H.

    ``vector`` is a mapping input → number (missing inputs 0) or one input's name; the result maps
    each input of ``wrt`` (default: all) to its row of H·v.

    >>> hvp("L = (x*W1 + y*W2 - B)**2", vector={"W1": 1}, x=5, y=10, W1=0.1, W2=0.2, B=0.5)
    {'x': 5.0, 'W1': 50.0, 'y': 2.0, 'W2': 100.0, 'B': -10.0}
    """
    trace = as_trace(subject, values, named)
    names = _wrt(trace.graph, wrt)
    column = _column(trace, _locals(trace), read_direction(trace.graph, vector, "vector"))
    return {name: column[trace.graph.index(name)] for name in names}


__all__ = ["Hessian", "hessian", "hvp", "symmetric_eigenvalues"]
