"""Numbers at one point at `DIGITS` digits without SymPy arithmetic: every node's value by the
op table compiled to mpmath, and the comparison of an engine float with such a value.

>>> from graphviz_grad import grad
>>> trace = grad("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> values = node_values(trace.graph, trace.values)
>>> values.exprs[-1], values.plain
(4.00000000000000000000000000000, True)
>>> compare(4.0, values.exprs[-1], rtol=1e-7, atol=1e-10)
(0.0, 0.0, True)

Each op runs as its table row's ``mpmath`` rule, or else its ``sympy`` constructor compiled
once by `sympy.lambdify` to mpmath (so the knowledge stays in the op table). SymPy itself is
asked only for a node whose mpmath value is not a finite real (0/0, log(-1), a pole), whose
argument is beyond float64 or whose exact result could outgrow memory (the op table's ``far``
and ``growth``): the same guarded rules as before, at the same 30 digits. Measured on the
seed, node by node in mpmath is about 40 times less work than SymPy's number arithmetic.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import sympy as sp
from mpmath import libmp

from ..graph import CONST, INPUT, Graph
from ..ops import OPS
from .translate import _PREC, DIGITS, MAX_BITS, _at_point, _generic, _number, exact

_FLOAT_MAX = 1.7976931348623157e308
_ROUND = libmp.round_nearest
_ZERO = libmp.fzero
_MAKE = mpmath.mp.make_mpf
_FLOAT_MAX_MPF = libmp.from_float(_FLOAT_MAX)


class OutOfTime(Exception):
    """The check's time budget ran out inside a pass over the graph."""


def on_time(deadline: float | None, i: int) -> None:
    """Raise `OutOfTime` past ``deadline`` (`time.monotonic`; None: no limit), looking at the
    clock at every 1,024th ``i`` only."""
    if deadline is not None and not i & 1023 and time.monotonic() > deadline:
        raise OutOfTime


@functools.cache
def mpmath_rule(op: str) -> Callable[..., Any]:
    """The op on mpmath numbers at the context's precision: the table's ``mpmath`` rule, else
    its ``sympy`` constructor compiled to mpmath once (``Max`` becomes ``max``, ``Piecewise`` a
    conditional expression).

    >>> with mpmath.workdps(30):
    ...     float(mpmath_rule("leaky_relu")(mpmath.mpf(-2)))
    -0.02
    """
    rule = OPS[op].mpmath
    if rule is not None:
        return functools.partial(rule, mpmath)
    generic = _generic(op)
    run = closure(generic.expr, generic.symbols)  # microseconds to build; lambdify takes 30 ms
    if run is not None:
        return lambda *args: run(args)
    return sp.lambdify(generic.symbols, generic.expr, modules="mpmath")


@functools.lru_cache(maxsize=4096)
def decimal(value: float) -> tuple | None:
    """The float's shortest decimal text rounded to `DIGITS` digits, as an mpmath value tuple
    (the point as SymPy sees it, `exact`); ``None`` for inf and nan.

    >>> mpmath.mpf(decimal(0.1)) == mpmath.mpf("0.1")
    True
    """
    if not math.isfinite(value):
        return None
    fraction = Fraction(repr(float(value)))
    return libmp.from_rational(fraction.numerator, fraction.denominator, _PREC, _ROUND)


@dataclass
class NodeValues:
    """Every node's value at the point: ``exprs`` as SymPy numbers (``nan``, ``zoo``, ``oo``
    where there is no finite real value), ``floats`` the nearest floats, and ``plain`` when
    every value is a finite real within float64's range (then no node needs the far-argument
    or size-cap rules)."""

    exprs: list[sp.Expr]
    floats: list[float]
    plain: bool


def node_values(graph: Graph, values: Sequence[float], deadline: float | None = None) -> NodeValues:
    """Every node's value with `DIGITS` digits at the inputs' decimal values (``values``: the
    trace's node values, of which the inputs are read), node by node through the op table, so
    that ``x/x`` at 0 stays 0/0 = nan (SymPy never sees the whole expression); `OutOfTime`
    past ``deadline``."""
    args_of = graph.arg_indices
    mpfs: list[tuple | None] = []
    exprs: list[sp.Expr] = []
    floats: list[float] = []
    plain = True
    saved = mpmath.mp.prec
    mpmath.mp.prec = _PREC
    try:
        for i, node in enumerate(graph.nodes):
            on_time(deadline, i)
            if node.op in (INPUT, CONST):
                number = values[i] if node.op == INPUT else node.value
                value = decimal(number)  # type: ignore[arg-type]
                expr = (sp.Float._new(value, _PREC) if value is not None and value != _ZERO
                        else _number(exact(number)))  # type: ignore[arg-type]
            else:
                args = args_of[i]
                value = _fast(node.op, [mpfs[a] for a in args], [floats[a] for a in args])
                expr = (sp.Float._new(value, _PREC) if value is not None
                        else _at_point(node.op, [exprs[a] for a in args]))
            if value is None and expr.is_Float:
                value = expr._mpf_  # SymPy's finite value: its consumers may go fast again
            elif value is None and expr.is_Rational:
                value = libmp.from_rational(int(expr.p), int(expr.q), _PREC, _ROUND)
            number = libmp.to_float(value, rnd=_ROUND) if value is not None else _special_float(expr)
            plain = plain and value is not None and abs(number) <= _FLOAT_MAX
            mpfs.append(value)
            exprs.append(expr)
            floats.append(number)
    finally:
        mpmath.mp.prec = saved
    return NodeValues(exprs, floats, plain)


def _fast(op: str, args: list[tuple | None], floats: list[float]) -> tuple | None:
    """The op's value as an mpmath tuple, or ``None`` where SymPy's guarded rules decide: an
    argument without a finite value or beyond float64, a result that may outgrow `MAX_BITS`,
    a result that is not a finite real."""
    if any(arg is None for arg in args) or not all(abs(number) <= _FLOAT_MAX for number in floats):
        return None
    if OPS[op].growth is not None and not _surely_small(floats):
        return None
    try:
        value = mpmath_rule(op)(*(_MAKE(arg) for arg in args))
    except (ArithmeticError, ValueError, TypeError):
        return None
    if isinstance(value, int):
        return libmp.from_int(value)
    if not isinstance(value, mpmath.mpf) or not mpmath.isfinite(value):
        return None
    return value._mpf_


def _surely_small(floats: Sequence[float]) -> bool:
    """Whether a power of these numbers is certainly below `MAX_BITS` (the float estimate of
    `translate._too_large`: base and exponent of ordinary size)."""
    estimate = [abs(number) for number in floats]
    return (all(number == 0 or 1e-300 < number < 1e300 for number in estimate)
            and estimate[-1] * math.log2(max(estimate[0], 2.0)) < MAX_BITS)


def _special_float(expr: sp.Expr) -> float:
    if expr is sp.nan:
        return math.nan
    if expr is sp.zoo or expr is sp.oo:
        return math.inf
    if expr is sp.S.NegativeInfinity:
        return -math.inf
    try:
        return float(expr)
    except (OverflowError, TypeError, ValueError):
        return math.nan


def compare(engine: float, value: Any, *, rtol: float, atol: float) -> tuple[float, float, bool]:
    """Absolute and relative error of a float against a finite SymPy or mpmath number, and
    whether ``|engine - value| <= atol + rtol*|value|``, at `DIGITS` digits (mpmath's number
    functions on the values' tuples: no SymPy arithmetic, no precision context).

    >>> compare(0.1, sp.Rational(1, 10), rtol=1e-7, atol=1e-10)[2]
    True
    """
    if not math.isfinite(engine):
        return math.inf, math.inf, False
    if isinstance(value, sp.Float | mpmath.mpf):
        exact_value = value._mpf_
    elif isinstance(value, sp.Rational):
        exact_value = libmp.from_rational(int(value.p), int(value.q), _PREC, _ROUND)
    else:
        exact_value = sp.Float(value, DIGITS)._mpf_
    difference = libmp.mpf_abs(libmp.mpf_sub(libmp.from_float(engine), exact_value, _PREC, _ROUND))
    magnitude = libmp.mpf_abs(exact_value)
    abs_error = libmp.to_float(difference, rnd=_ROUND)
    if magnitude != _ZERO:
        rel_error = libmp.to_float(libmp.mpf_div(difference, magnitude, _PREC, _ROUND), rnd=_ROUND)
    else:
        rel_error = 0.0 if difference == _ZERO else math.inf
    relative, absolute = _tolerances(rtol, atol)
    bound = libmp.mpf_add(absolute, libmp.mpf_mul(relative, magnitude, _PREC, _ROUND), _PREC, _ROUND)
    return abs_error, rel_error, bool(libmp.mpf_le(difference, bound))


def _within(engine: float, value: tuple, rtol: float, atol: float) -> bool:
    """`compare`'s verdict alone (no errors to report), on an mpmath tuple."""
    if not math.isfinite(engine):
        return False
    difference = libmp.mpf_abs(libmp.mpf_sub(libmp.from_float(engine), value, _PREC, _ROUND))
    relative, absolute = _tolerances(rtol, atol)
    scaled = libmp.mpf_mul(relative, libmp.mpf_abs(value), _PREC, _ROUND)
    return bool(libmp.mpf_le(difference, libmp.mpf_add(absolute, scaled, _PREC, _ROUND)))


@functools.lru_cache(maxsize=64)
def _tolerances(rtol: float, atol: float) -> tuple[tuple, tuple]:
    return libmp.from_float(rtol), libmp.from_float(atol)


def forward_agreeing(graph: Graph, values: Sequence[float], nodes: Sequence[int], *, rtol: float,
                     atol: float, deadline: float | None = None) -> set[int]:
    """Those of ``nodes`` whose forward rule agrees with the op at the engine's own argument
    floats at `DIGITS` digits in mpmath (tolerance ``rtol``, at least 4 ulps, and ``atol``);
    the others, and nodes with an argument that is not finite, go to the slow way
    (`numeric.forward_mismatch`, SymPy where mpmath has no finite real value)."""
    args_of, agreeing = graph.arg_indices, set()
    rtol = max(rtol, 4 * 2.0**-52)
    saved = mpmath.mp.prec
    mpmath.mp.prec = _PREC
    try:
        for k, i in enumerate(nodes):
            on_time(deadline, k)
            floats = [values[a] for a in args_of[i]]
            if not all(map(math.isfinite, floats)):
                continue
            value = _fast(graph.nodes[i].op, [libmp.from_float(number) for number in floats], floats)
            if value is None:
                continue
            engine = values[i]
            if libmp.mpf_cmp(libmp.mpf_abs(value), _FLOAT_MAX_MPF) <= 0:
                agrees = _within(engine, value, rtol, atol)
            else:
                agrees = math.isinf(engine) and (engine > 0) == (value[0] == 0)
            if agrees:
                agreeing.add(i)
    finally:
        mpmath.mp.prec = saved
    return agreeing


class _Unsupported(Exception):
    """A SymPy expression the closure compiler does not know (the caller substitutes in SymPy)."""


_FUNCTIONS: dict[type, Callable[[Any], Any]] = {
    sp.exp: mpmath.exp, sp.log: mpmath.log, sp.sin: mpmath.sin, sp.cos: mpmath.cos, sp.tan: mpmath.tan,
    sp.tanh: mpmath.tanh, sp.sinh: mpmath.sinh, sp.cosh: mpmath.cosh, sp.erf: mpmath.erf,
    sp.erfc: mpmath.erfc, sp.Abs: abs,
}


def closure(expr: sp.Expr, symbols: Sequence[sp.Symbol]) -> Callable[[Sequence[Any]], Any] | None:
    """A SymPy expression of ``symbols`` as a Python closure on a sequence of mpmath numbers, at
    the caller's mpmath precision: sums, products, powers, numbers and the functions of the op
    table's derivatives; ``None`` for anything else (Heaviside, Piecewise, nan, ...), which the
    caller then substitutes in SymPy. Building one costs microseconds (`sympy.lambdify`:
    milliseconds), so every local derivative of a large graph can have its own.

    >>> x = sp.Symbol("x")
    >>> run = closure(2*x*sp.exp(-x**2), [x])
    >>> with mpmath.workdps(30):
    ...     print(mpmath.nstr(run([mpmath.mpf(1)]), 25))
    0.7357588823428846431910475
    """
    try:
        return _closure(expr, {symbol: k for k, symbol in enumerate(symbols)})
    except _Unsupported:
        return None


def _closure(expr: sp.Expr, position: dict[sp.Symbol, int]) -> Callable[[Sequence[Any]], Any]:
    if expr in position:
        k = position[expr]
        return lambda args: args[k]
    if expr.is_Float or expr.is_Rational:
        number = _MAKE(expr._mpf_ if expr.is_Float
                       else libmp.from_rational(int(expr.p), int(expr.q), _PREC, _ROUND))
        return lambda args: number
    parts = [_closure(arg, position) for arg in expr.args]
    if isinstance(expr, sp.Add | sp.Mul):
        first, rest = parts[0], parts[1:]
        if isinstance(expr, sp.Add):
            def total(args: Sequence[Any]) -> Any:
                value = first(args)
                for part in rest:
                    value = value + part(args)
                return value
            return total

        def product(args: Sequence[Any]) -> Any:
            value = first(args)
            for part in rest:
                value = value * part(args)
            return value
        return product
    if isinstance(expr, sp.Pow):
        base, exponent = parts
        return lambda args: base(args) ** exponent(args)
    function = _FUNCTIONS.get(type(expr))
    if function is not None and len(parts) == 1:
        (argument,) = parts
        return lambda args: function(argument(args))
    raise _Unsupported(type(expr).__name__)
