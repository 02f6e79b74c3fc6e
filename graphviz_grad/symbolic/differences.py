"""Central finite differences of a trace's output by each node, re-evaluating only the nodes
that node reaches through the op table's float rules (for small graphs as generated
straight-line code), within a budget of node evaluations.

>>> import sympy as sp
>>> from graphviz_grad import grad
>>> differences = FiniteDifferences(grad("L = x**3", x=2.0), atol=1e-10)
>>> fd, step, tolerance, note = differences.estimate(0, sp.Integer(12))
>>> abs(fd - 12) < tolerance, note
(True, '')
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import sympy as sp

from ..engine import Trace
from ..graph import CONST, INPUT, Graph
from ..ops import OPS
from .translate import _EPS, _depends, _to_float

_STEP = _EPS ** (1 / 3)
"""The central difference's relative step: eps**(1/3) balances truncation and rounding error."""
FD_BUDGET = 4_000_000
"""Finite differences re-evaluate the graph downstream of a row's node four times; once the check
has spent this many node evaluations, the remaining rows get no finite difference."""


@dataclass(frozen=True)
class _Plan:
    """A graph's finite-difference program, once per structure: the operation steps
    ``(node, rule, arg, arg or -1)`` in order, the nodes with a ``side`` (kinks, domain edges),
    and for small graphs each node's downstream steps and sides (built on first use)."""

    steps: tuple[tuple[Any, ...], ...]
    branches: tuple[tuple[Any, ...], ...]
    args: tuple[tuple[int, ...], ...]
    out: int
    downstream: dict[int, tuple[tuple[Any, ...], tuple[Any, ...]]]
    programs: dict[int, Any]
    consumers: list[list[int]]
    positions: list[int]
    """The operation nodes' positions, in order (for `bisect`)."""
    step_of: dict[int, tuple[Any, ...]]
    branch_of: dict[int, tuple[Any, ...]]

    def program(self, k: int) -> Any:
        """For small graphs, `FiniteDifferences._evaluate` for node k as one straight-line Python
        function ``run(base, value, sides) -> (output, crossed node or None)``, generated from
        `after` (names are node positions, rules the op table's: no user text in the source, as
        in `graphviz_grad.compiled`); ``None`` for large graphs (the loop runs instead)."""
        if len(self.steps) > _PLANNED_NODES:
            return None
        known = self.programs.get(k)
        if known is None:
            known = self.programs[k] = _generate(k, self.out, *self.after(k))
        return known

    def after(self, k: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The steps and the branch nodes that node k's value reaches (not every later node)."""
        known = self.downstream.get(k)
        if known is not None:
            return known
        reached, stack, consumers = {k}, [k], self.consumers
        while stack:
            for c in consumers[stack.pop()]:
                if c not in reached:
                    reached.add(c)
                    stack.append(c)
        reached.discard(k)
        order = sorted(reached)
        result = (tuple(self.step_of[i] for i in order),
                  tuple(self.branch_of[i] for i in order if i in self.branch_of))
        if len(self.steps) <= _PLANNED_NODES:
            self.downstream[k] = result
        return result


_PLANNED_NODES = 200
"""Graphs up to this many operations keep every node's downstream steps between checks, and
their finite differences run as generated code (`_Plan.program`)."""


def _generate(k: int, out: int, steps: tuple[tuple[Any, ...], ...],
              branches: tuple[tuple[Any, ...], ...]) -> Any:
    reached = {k, *(step[0] for step in steps)}

    def read(a: int) -> str:
        return f"t{a}" if a in reached else f"b[{a}]"

    namespace: dict[str, Any] = {}
    lines = ["def run(b, x, sides):", f"    t{k} = x"]
    for i, rule, a, b in steps:
        namespace[f"R{i}"] = rule
        lines.append(f"    t{i} = R{i}({read(a)})" if b < 0 else f"    t{i} = R{i}({read(a)}, {read(b)})")
    for i, side, args, varies in branches:
        namespace[f"S{i}"], namespace[f"V{i}"] = side, varies
        values = ", ".join(read(a) for a in args)
        lines.append(f"    if S{i}(({values},), V{i}) != sides[{i}]:")
        lines.append(f"        return {read(out)}, {i}")
    lines.append(f"    return {read(out)}, None")
    # the source is ours: node positions and the op table's functions only, no user text
    exec(compile("\n".join(lines), "<finite differences>", "exec"), namespace)
    return namespace["run"]


@functools.lru_cache(maxsize=64)
def _plan(graph: Graph) -> _Plan:
    args, depends = graph.arg_indices, _depends(graph)
    steps = tuple((i, OPS[node.op].forward, *(args[i] if len(args[i]) == 2 else (args[i][0], -1)))
                  for i, node in enumerate(graph.nodes) if node.op not in (INPUT, CONST))
    branches = tuple((i, OPS[node.op].side, tuple(args[i]), tuple(depends[a] for a in args[i]))
                     for i, node in enumerate(graph.nodes)
                     if node.op not in (INPUT, CONST) and OPS[node.op].side is not None)
    consumers: list[list[int]] = [[] for _ in graph.nodes]
    for i, node_args in enumerate(args):
        for a in set(node_args):
            consumers[a].append(i)
    return _Plan(steps, branches, tuple(tuple(a) for a in args), graph.index(graph.output), {}, {},
                 consumers, [step[0] for step in steps], {step[0]: step for step in steps},
                 {branch[0]: branch for branch in branches})


class FiniteDifferences:
    """Central finite differences of a trace's output by each node, re-evaluating only the
    nodes that node reaches through the op table's float rules, within `FD_BUDGET` evaluations."""

    def __init__(self, trace: Trace, *, atol: float):
        self.graph = trace.graph
        self.trace, self.atol, self.spent = trace, atol, 0
        self.plan = _plan(self.graph)
        self.out = self.plan.out
        base = trace.values
        self.base_sides = {i: side(tuple(base[a] for a in args), varies)
                           for i, side, args, varies in self.plan.branches}

    def _evaluate(self, k: int, value: float, base: list[float],
                  after: tuple[tuple[Any, ...], tuple[Any, ...]]) -> tuple[float, int | None]:
        """The output with node k set to ``value`` and every node it reaches recomputed, and the
        first of those whose side of a kink or domain edge (the op table's ``side``) differs
        from the unperturbed pass."""
        vals = list(base)
        vals[k] = value
        steps, branches = after
        for i, rule, a, b in steps:
            vals[i] = rule(vals[a]) if b < 0 else rule(vals[a], vals[b])
        sides = self.base_sides
        for i, side, args, varies in branches:
            if side(tuple(vals[a] for a in args), varies) != sides[i]:
                return vals[self.out], i
        return vals[self.out], None

    def estimate(self, k: int, value: sp.Expr) -> tuple[float | None, float | None, float | None, str]:
        """Central difference by node k with step h = eps**(1/3)*max(1, |v|) and its error
        estimate (the gap to the 2h difference plus the rounding bound), as ``(fd, h, tolerance,
        note)``; ``value`` is SymPy's derivative there (for the tolerance's scale). A step that
        moves a later non-smooth node to another branch (relu's argument across 0, ...) gives
        no estimate."""
        base = self.trace.values  # never written: each evaluation works on its own copy
        v = base[k]
        if not math.isfinite(v):
            return None, None, None, "no finite difference: the value is not finite"
        # the budget counts every later operation (what node k can reach at most), so finding the
        # nodes it does reach, and evaluating them, stays within it on any graph
        cost = 4 * (len(self.plan.steps) - bisect_right(self.plan.positions, k))
        if self.spent + cost > FD_BUDGET:
            return None, None, None, f"no finite difference: over the budget of {FD_BUDGET:,} evaluations"
        self.spent += cost
        after = self.plan.after(k)
        h = _STEP * max(1.0, abs(v))
        estimates, scale = [], abs(base[self.out])
        program, sides = self.plan.program(k), self.base_sides
        for step in (h, 2 * h):
            up, down = v + step, v - step
            if program is not None:
                (f_up, crossed_up), (f_down, crossed_down) = (program(base, up, sides),
                                                              program(base, down, sides))
            else:
                (f_up, crossed_up), (f_down, crossed_down) = (self._evaluate(k, up, base, after),
                                                              self._evaluate(k, down, base, after))
            crossed = crossed_up if crossed_up is not None else crossed_down
            if crossed is not None:
                node = self.graph.nodes[crossed]
                return None, h, None, (f"no finite difference: a step of {h:.3g} moves node {node.name} "
                                       f"({node.op}) across a kink or domain edge")
            scale = max(scale, abs(f_up), abs(f_down))
            estimates.append((f_up - f_down) / (up - down))
        fd, coarse = estimates
        if not (math.isfinite(fd) and math.isfinite(coarse)):
            return None, h, None, "no finite difference: the function is not finite within two steps"
        reference = abs(_to_float(value)) if value.is_Number else 0.0
        tolerance = 4 * abs(fd - coarse) + 8 * _EPS * scale / h + 1e-6 * reference + self.atol
        return fd, h, tolerance, ""
