"""Numbers at one point, for the check's rows: a kink row's comparison, the forward-rule check,
the chain rule node by node at 30 digits and a signed pole's limit (the finite differences are
`differences`, the mpmath evaluator `precise`).

>>> import sympy as sp
>>> kink_compare(0.0, sp.Integer(0), rtol=1e-7, atol=1e-10)[0]
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import mpmath
import sympy as sp
from mpmath import libmp

from ..engine import Trace
from ..graph import CONST, INPUT, Graph
from .derive import _PIECEWISE, SIMPLIFY_OPS
from .precise import _MAKE, closure, compare, mpmath_rule, on_time
from .report import _digits_text
from .translate import (
    _EPS,
    _FLOAT_MAX,
    _PREC,
    DIGITS,
    _at_point,
    _far,
    _far_limit,
    _huge,
    _local_partials,
    _real_or_nan,
    _slot_symbols,
    _substitute,
    bounded_substitute,
    exact,
)


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
               conventions: Mapping[int, tuple[sp.Expr, ...]] | None = None, deadline: float | None = None
               ) -> tuple[dict[int, sp.Expr], list[sp.Expr]]:
    """Node form for large graphs: dL/dz = sum over z's consumers c of dL/dc * dc/dz, each
    local derivative by `sympy.diff` of the node's own expression, written with node symbols
    (`node_form`, once per graph) and evaluated at high precision node by node (linear in the
    graph's size) from the nodes' values ``ref`` (`chain_values`). With ``conventions``, those
    nodes' local derivatives take the given values (kinks). `precise.OutOfTime` past ``deadline``."""
    return (node_form(graph, ref, depends, live, deadline),
            chain_values(graph, ref, depends, live, conventions, deadline))


_NODE_FORMS: dict[Graph, dict[int, sp.Expr]] = {}
_NODE_FORMS_KEPT = 16
"""Graphs whose node form each process keeps (the oldest out)."""


def node_form(graph: Graph, ref: Sequence[sp.Expr], depends: Sequence[bool], live: Sequence[bool],
              deadline: float | None = None) -> dict[int, sp.Expr]:
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
        on_time(deadline, i)  # nothing is cached until the form is whole
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
                 conventions: Mapping[int, tuple[sp.Expr, ...]] | None = None,
                 deadline: float | None = None) -> list[sp.Expr]:
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
            on_time(deadline, i)
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
