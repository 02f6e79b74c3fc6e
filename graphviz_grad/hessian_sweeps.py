"""The sweeps behind `graphviz_grad.hessian`: columns of the Hessian by forward over reverse.

>>> from graphviz_grad import backward, parse
>>> trace = backward(parse("L = (x*W1 + y*W2 - B)**2"), [5.0, 0.1, 10.0, 0.2, 0.5])
>>> columns_of(trace, prepare(trace), [1, 3, 4])  # the columns of W1, W2, B: 2·v·vᵀ, v = (x, y, -1)
[[50.0, 100.0, -10.0], [100.0, 200.0, -20.0], [-10.0, -20.0, 2.0]]

The column along input k is the tangent of the gradient along k: a tangent sweep
ż = Σ ∂z/∂a·ȧ over the engine's prepared program, then a reverse sweep carrying the adjoint's
tangent, ġ_a += ġ_z·∂z/∂a + ḡ_z·Σ_b ∂²z/∂a∂b·ḃ, with the second local derivatives from the op
table's ``second_partials``. `columns_of` runs the two sweeps once for a block of columns (every node
carries a list of tangents, one per column); `column` does one direction at a time with
structural zeros, for points where a local derivative is not finite and for `hvp`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .engine import Trace, _program
from .errors import GraphError
from .graph import Graph
from .ops import OPS

BLOCK_NUMBERS = 1 << 19
"""The columns are computed together in blocks of at most this many numbers in all (nodes times
columns), which bounds the memory of a Hessian of a large graph."""


@dataclass(frozen=True)
class Locals:
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


def prepare(trace: Trace) -> Locals:
    """The numbers every column reads at the trace's point: local derivatives, second ones, kinks."""
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
    return Locals(order, linear, partials, seconds, slots, tuple(kinks), math.isfinite(total))


def column(trace: Trace, local: Locals, direction: Mapping[str, float]) -> list[float]:
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


def _sum(pairs: Sequence[tuple[float, list[float]]]) -> list[float]:
    """Σ c·v over the (c, v) pairs, element by element, left to right (the result may be ``v``)."""
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


def _combine(pairs: Sequence[tuple[float, Any]], width: int) -> list[float]:
    """Σ c·v over the (c, v) pairs, where a v that is a whole number k is the unit vector e_k (an
    input's own tangent in its block): its c is added at k, not multiplied along a whole list."""
    dense = [(c, v) for c, v in pairs if type(v) is list]
    if len(dense) == len(pairs):
        return _sum(dense)
    total = _sum(dense) if dense else [0.0] * width
    if dense and total is dense[0][1]:
        total = total.copy()  # never change a list that another node holds
    for c, v in pairs:
        if type(v) is int:
            total[v] += c
    return total


def _block(trace: Trace, local: Locals, seeds: Sequence[int]) -> list[list[float] | None]:
    """Columns ``H·e_k`` for the inputs at positions ``seeds``, all at once: every node carries one
    tangent (and one adjoint tangent) per column, so the engine's program is swept twice for the
    whole block, with the loops over columns inside list operations. Every node that depends on
    no seed has ``None`` (structurally 0). For points where every local derivative is finite
    (`Locals.finite`), where a structural 0 and a computed 0 give the same products."""
    n, width, grads = len(trace.graph), len(seeds), trace.grads
    partials, seconds, slots, linear = local.partials, local.seconds, local.slots, local.linear
    dots: list[Any] = [None] * n  # a node's tangents: a list, None (all 0) or k (the unit vector e_k)
    for k, position in enumerate(seeds):
        dots[position] = k
    for i in reversed(local.order):  # ż = Σ ∂z/∂a·ȧ, in evaluation order
        parts = partials[i]
        pairs = [(parts[slot], dots[a]) for slot, a in slots[i] if dots[a] is not None]
        if pairs:
            dots[i] = _combine(pairs, width)
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
            term = _combine(pairs, width)
            before = adjoint_dots[a]
            adjoint_dots[a] = term if before is None else list(map(operator.add, before, term))
    return adjoint_dots


def columns_of(trace: Trace, local: Locals, positions: Sequence[int]) -> list[list[float]]:
    """The Hessian's columns for the inputs at ``positions``: in blocks (`_block`) where every
    local derivative is finite, else one structural column at a time (`column`)."""
    graph = trace.graph
    if not local.finite:
        return [[column[p] for p in positions] for column in
                (column(trace, local, {graph.nodes[q].name: 1.0}) for q in positions)]
    width = max(1, min(len(positions), BLOCK_NUMBERS // max(1, len(local.order))))
    columns: list[list[float]] = []
    for start in range(0, len(positions), width):
        seeds = positions[start:start + width]
        adjoint_dots = _block(trace, local, seeds)
        rows = [adjoint_dots[p] or [0.0] * len(seeds) for p in positions]
        # + 0.0: a -0.0 that a sum of zeros may leave is written 0.0, as a sum from 0.0 gives
        columns += [[row[k] + 0.0 for row in rows] for k in range(len(seeds))]
    return columns
