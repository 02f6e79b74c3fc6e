"""Numbers at one point, for the check's rows: comparisons at 30 digits, the chain rule node by
node at 30 digits, a signed pole's limit and central finite differences.

>>> import sympy as sp
>>> compare(0.1, sp.Rational(1, 10), rtol=1e-7, atol=1e-10)[2]
True
>>> from graphviz_grad import grad
>>> differences = FiniteDifferences(grad("L = x**3", x=2.0), atol=1e-10)
>>> fd, step, tolerance, note = differences.estimate(0, sp.Integer(12))
>>> abs(fd - 12) < tolerance, note
(True, '')
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
import sympy as sp
from mpmath import libmp

from ..engine import Trace
from ..graph import CONST, INPUT, Graph
from ..ops import OPS
from .derive import _PIECEWISE, SIMPLIFY_OPS
from .precise import _MAKE, closure, compare, mpmath_rule
from .report import _digits_text
from .translate import (
    _EPS,
    _FLOAT_MAX,
    _PREC,
    DIGITS,
    _at_point,
    _depends,
    _far,
    _far_limit,
    _huge,
    _local_partials,
    _real_or_nan,
    _slot_symbols,
    _substitute,
    _to_float,
    bounded_substitute,
    exact,
)

_STEP = _EPS ** (1 / 3)
"""The central difference's relative step: eps**(1/3) balances truncation and rounding error."""
FD_BUDGET = 4_000_000
"""Finite differences re-evaluate the graph downstream of a row's node four times; once the check
has spent this many node evaluations, the remaining rows get no finite difference."""


def kink_compare(engine: float, expected: sp.Expr, *, rtol: float, atol: float
                 ) -> tuple[bool, float | None, float | None, str]:
    """A kink row against the convention's value: ok, errors and a note."""
    text = _digits_text(expected)
    where = "the convention at the kink and SymPy's local derivatives elsewhere"
    if expected is sp.nan:
        return True, None, None, f"not compared: {where} give no real value"
    if expected is sp.zoo or expected in (sp.oo, -sp.oo) or abs(expected) > _FLOAT_MAX:
        ok = math.isinf(engine) and (expected is sp.zoo or (engine > 0) == (expected > 0))
        errors = (0.0, 0.0) if ok else (None, None)
    else:
        abs_error, rel_error, ok = compare(engine, expected, rtol=rtol, atol=atol)
        errors = (abs_error, rel_error)
    if ok:
        return True, *errors, f"the engine agrees with {where} ({text})"
    return False, *errors, f"the engine gives {engine!r}, but {where} give {text}"


def forward_mismatch(trace: Trace, i: int, *, rtol: float, atol: float) -> str:
    """Node i's forward rule on the engine's own argument values, against the same op at high
    precision: catches a wrong forward rule (which finite differences would follow). The check
    asks only for nodes that `precise.forward_agreeing` did not find agreeing in mpmath."""
    graph = trace.graph
    node = graph.nodes[i]
    if node.op in (INPUT, CONST):
        return ""
    engine = trace.values[i]
    args = [trace.values[a] for a in graph.arg_indices[i]]
    if not all(math.isfinite(a) for a in args):
        return ""  # IEEE arithmetic on inf and nan: nothing for SymPy to say
    fast = _mpmath_value(node.op, args)
    if fast is not None and (compare(engine, fast, rtol=max(rtol, 4 * _EPS), atol=atol)[2]
                             if abs(fast) <= _FLOAT_MAX
                             else math.isinf(engine) and (engine > 0) == (fast > 0)):
        return ""  # agrees at 30 digits in mpmath; SymPy (a hundred times slower) only otherwise
    value = _at_point(node.op, [sp.Float(a, DIGITS) for a in args])
    if value is sp.nan:
        agree = math.isnan(engine)
    elif value is sp.zoo or value in (sp.oo, -sp.oo) or abs(value) > _FLOAT_MAX:
        agree = math.isinf(engine) and (value is sp.zoo or (engine > 0) == (value > 0))
    else:
        agree = compare(engine, value, rtol=max(rtol, 4 * _EPS), atol=atol)[2]
    if agree:
        return ""
    return (f"forward value differs: the engine computes {graph.statement(node.name)} = {engine!r} "
            f"from its arguments, SymPy {_digits_text(value)}")


def _mpmath_value(op: str, args: Sequence[float]) -> mpmath.mpf | None:
    """The op at float arguments in mpmath at `DIGITS` digits (the op table's ``mpmath``), or
    ``None`` where it has none or the result is not a finite real (SymPy decides those)."""
    rule = mpmath_rule(op)
    try:
        with mpmath.workdps(DIGITS):
            value = rule(*(mpmath.mpf(a) for a in args))
    except (ArithmeticError, ValueError):
        return None
    return value if isinstance(value, mpmath.mpf) and mpmath.isfinite(value) else None


def chain_rule(graph: Graph, ref: Sequence[sp.Expr], depends: Sequence[bool], live: Sequence[bool],
               conventions: Mapping[int, tuple[sp.Expr, ...]] | None = None
               ) -> tuple[dict[int, sp.Expr], list[sp.Expr]]:
    """Node form for large graphs: dL/dz = sum over z's consumers c of dL/dc * dc/dz, each
    local derivative by `sympy.diff` of the node's own expression, written with node symbols
    (`node_form`, once per graph) and evaluated at high precision node by node (linear in the
    graph's size) from the nodes' values ``ref`` (`chain_values`). With ``conventions``, those
    nodes' local derivatives take the given values (kinks)."""
    return node_form(graph, ref, depends, live), chain_values(graph, ref, depends, live, conventions)


_NODE_FORMS: dict[Graph, dict[int, sp.Expr]] = {}
_NODE_FORMS_KEPT = 16
"""Graphs whose node form each process keeps (the oldest out)."""


def node_form(graph: Graph, ref: Sequence[sp.Expr], depends: Sequence[bool], live: Sequence[bool]
              ) -> dict[int, sp.Expr]:
    """dL/dz for every node as a sum over its consumers, written with node symbols
    (``dL/dz7*cos(z6)``), once per graph: it does not depend on the point (the values of the
    nodes without inputs, which it holds as numbers, are the same at every point)."""
    known = _NODE_FORMS.get(graph)
    if known is not None:
        return known
    n, all_args, out = len(graph), graph.arg_indices, graph.index(graph.output)
    symbols = [sp.Symbol(node.name, real=True) if depends[i] else ref[i]
               for i, node in enumerate(graph.nodes)]
    adjoint = [sp.Symbol(f"d{graph.output}/d{node.name}", real=True) for node in graph.nodes]
    terms: list[list[sp.Expr]] = [[] for _ in graph.nodes]
    for i in range(n - 1, -1, -1):
        node = graph.nodes[i]
        if not live[i] or node.op in (INPUT, CONST):
            continue
        args = all_args[i]
        locals_ = _local_partials(node.op, tuple(None if depends[a] else ref[a] for a in args))
        dummies = _slot_symbols(len(args))
        for slot, a in enumerate(args):
            partial = locals_[slot]
            if partial is not None and live[a]:
                terms[a].append(adjoint[i] * partial.xreplace(
                    {d: symbols[b] for d, b in zip(dummies, args, strict=True)}))
    expressions = {i: sp.Integer(1) if i == out else sp.Add(*terms[i]) for i in range(n)}
    if len(_NODE_FORMS) >= _NODE_FORMS_KEPT:
        del _NODE_FORMS[next(iter(_NODE_FORMS))]
    _NODE_FORMS[graph] = expressions
    return expressions


_CLOSURES: dict[tuple[Any, ...], Any] = {}


def _local_closure(op: str, constants: tuple[sp.Expr | None, ...], slot: int) -> Any:
    """The local derivative of `_local_partials` as a `precise.closure` (``None``: SymPy only)."""
    key = (op, constants, slot)
    if key not in _CLOSURES:
        partial = _local_partials(op, constants)[slot]
        if len(_CLOSURES) >= 10_000:
            _CLOSURES.clear()
        _CLOSURES[key] = None if partial is None else closure(partial, _slot_symbols(len(constants)))
    return _CLOSURES[key]


def chain_values(graph: Graph, ref: Sequence[sp.Expr], depends: Sequence[bool], live: Sequence[bool],
                 conventions: Mapping[int, tuple[sp.Expr, ...]] | None = None) -> list[sp.Expr]:
    """Every node's dL/dz at the point by the chain rule node by node at `DIGITS` digits: local
    derivatives as compiled mpmath closures on the nodes' values and sums in mpmath while every
    number is a finite real; SymPy's substitution where it is not (a pole, nan, an argument
    beyond float64, a power past the size cap, a kink's convention)."""
    conventions = conventions or {}
    n, all_args, out = len(graph), graph.arg_indices, graph.index(graph.output)
    numbers = [_mpmath_number(value) for value in ref]
    values: list[Any] = [None] * n  # None: no contribution yet (0); an mpmath number or SymPy's
    values[out] = _MAKE(libmp.fone)
    saved = mpmath.mp.prec
    mpmath.mp.prec = _PREC
    try:
        for i in range(n - 1, -1, -1):
            node = graph.nodes[i]
            if not live[i] or node.op in (INPUT, CONST):
                continue
            upstream = values[i] if values[i] is not None else _MAKE(libmp.fzero)
            args = all_args[i]
            constants = tuple(None if depends[a] else ref[a] for a in args)
            locals_ = _local_partials(node.op, constants)
            for slot, a in enumerate(args):
                partial = locals_[slot]
                if partial is None or not live[a]:
                    continue
                at_point = None
                if i not in conventions and all(numbers[b] is not None for b in args) \
                        and not _far(node.op, ref[args[0]]) and not any(_huge(ref[b]) for b in args):
                    run = _local_closure(node.op, constants, slot)
                    at_point = _mpmath_at(run, [numbers[b] for b in args])
                if at_point is None:
                    at_point = _real_or_nan(_sympy_partial(node.op, partial, conventions.get(i), slot,
                                                           [ref[b] for b in args]))
                contribution = _times(upstream, at_point)
                values[a] = contribution if values[a] is None else _plus(values[a], contribution)
    finally:
        mpmath.mp.prec = saved
    return [sp.Integer(1) if i == out else sp.Integer(0) if value is None else _real_or_nan(_to_sympy(value))
            for i, value in enumerate(values)]


def _mpmath_number(value: sp.Expr) -> Any:
    """A finite SymPy number as an mpmath number at `DIGITS` digits; ``None`` for nan, oo, zoo."""
    if value.is_Float:
        return _MAKE(value._mpf_)
    if value.is_Rational:
        return _MAKE(libmp.from_rational(int(value.p), int(value.q), _PREC, libmp.round_nearest))
    return None


def _mpmath_at(run: Any, args: list[Any]) -> Any:
    """A compiled local derivative at the arguments, or ``None`` where it is not a finite real."""
    if run is None:
        return None
    try:
        value = run(args)
    except (ArithmeticError, ValueError, TypeError):
        return None
    return value if isinstance(value, mpmath.mpf) and mpmath.isfinite(value) else None


def _sympy_partial(op: str, partial: sp.Expr, convention: tuple[sp.Expr, ...] | None, slot: int,
                   args: list[sp.Expr]) -> sp.Expr:
    if convention is not None:
        return convention[slot]
    if _far(op, args[0]):
        return _far_limit(op, args[0], derivative=True)
    at_args = dict(zip(_slot_symbols(len(args)), args, strict=True))
    # guarded where huge: no power is computed past MAX_BITS
    substitute = bounded_substitute if any(_huge(arg) for arg in args) else _substitute
    return substitute(partial, at_args)


def _to_sympy(value: Any) -> sp.Expr:
    return sp.Float._new(value._mpf_, _PREC) if isinstance(value, mpmath.mpf) else value


def _times(a: Any, b: Any) -> Any:
    if isinstance(a, mpmath.mpf) and isinstance(b, mpmath.mpf):
        return a * b
    return _to_sympy(a) * _to_sympy(b)


def _plus(a: Any, b: Any) -> Any:
    if isinstance(a, mpmath.mpf) and isinstance(b, mpmath.mpf):
        return a + b
    return _to_sympy(a) + _to_sympy(b)


def signed_pole(form: sp.Expr, binary_point: Mapping[sp.Expr, sp.Expr], point: Mapping[str, float]
                ) -> sp.Expr | None:
    """The sign of a ``zoo`` (SymPy's unsigned infinity, ``-1/y**2`` at 0): the limit of a
    closed form as every input approaches the point together from above and from below
    (inputs + t and - t, t -> 0+), when both give the same signed infinity. Only small forms
    without Max/Min/Abs/Heaviside/sign (`sympy.limit` is slow on large ones)."""
    if sp.count_ops(form) > SIMPLIFY_OPS or any(
            isinstance(sub, _PIECEWISE) or sub.is_Float for sub in sp.preorder_traversal(form)):
        return None
    t = sp.Dummy("t", positive=True)
    limits = set()
    for direction in (1, -1):
        shifted = _substitute(form, {symbol: exact(value) + direction * t
                                     for symbol, value in zip(binary_point, point.values(), strict=True)})
        try:
            limits.add(sp.limit(shifted, t, 0, "+"))
        except Exception:  # SymPy's limit raises NotImplementedError and worse on odd forms
            return None
    (limit,) = limits if len(limits) == 1 else (None,)
    return limit if limit in (sp.oo, -sp.oo) else None


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
                 consumers, {step[0]: step for step in steps}, {branch[0]: branch for branch in branches})


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
        after = self.plan.after(k)
        cost = 4 * len(after[0])
        if self.spent + cost > FD_BUDGET:
            return None, None, None, f"no finite difference: over the budget of {FD_BUDGET:,} evaluations"
        self.spent += cost
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
