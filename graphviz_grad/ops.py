"""The op table: every operation's forward rule, local partial derivatives, SymPy form and text.

The engine, the formula parser, the SymPy translation and the renderer all read
this one table; adding an operation is adding one entry to ``OPS``.

>>> mul = OPS["mul"]
>>> mul.forward(3.0, 4.0), mul.partials(3.0, 4.0, 12.0)
(12.0, (4.0, 3.0))
>>> mul.text.format("x", "W1")
'x*W1'

Every rule works on float64 with IEEE semantics and never raises: a pole gives
``inf`` and a point outside the domain gives ``nan``.

>>> OPS["div"].forward(1.0, 0.0), OPS["log"].forward(-1.0), OPS["exp"].forward(1000.0)
(inf, nan, inf)

Kinks follow PyTorch: relu'(0) = 0, abs'(0) = 0, leaky_relu'(0) = 0.01, max/min split a
tie 0.5/0.5, sqrt'(0) = +inf, and ``x**0`` has derivative 0 (``0**0`` = 1, both derivatives 0).
The five activations follow PyTorch's defaults: softplus (computed stably at +-1000),
leaky_relu (slope 0.01), elu (alpha 1), silu and gelu (the exact erf form).

>>> OPS["max"].partials(2.0, 2.0, 2.0), OPS["pow"].partials(0.0, 0.0, 1.0)
((0.5, 0.5), (0.0, 0.0))
>>> OPS["softplus"].forward(1000.0), OPS["leaky_relu"].partials(0.0, 0.0)
(1000.0, (0.01,))
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

INF = math.inf
NAN = math.nan


@dataclass(frozen=True, slots=True)
class Op:
    """One operation: how to compute it, differentiate it, translate it and write it."""

    name: str
    """Identifier used in graphs, JSON and errors, e.g. ``"mul"``."""
    arity: int
    forward: Callable[..., float]
    """``forward(*args) -> value`` on floats; never raises."""
    partials: Callable[..., tuple[float, ...]]
    """``partials(*args, out) -> (d out/d arg0, ...)``: one local derivative per argument."""
    sympy: Callable[..., Any]
    """``sympy(sympy_module, *args) -> expression``; the module is passed in so this
    table does not import SymPy."""
    text: str
    """How one application reads in a formula: ``"{0}*{1}"``, ``"exp({0})"``."""
    symbol: str
    """Short label for a node drawing: ``"*"``, ``"exp"``."""
    operator: str | None = None
    """The formula token for an infix (arity 2) or prefix (arity 1) operator; ``None``
    for an operation written as a function call."""
    constant_partials: tuple[float, ...] | None = None
    """For a linear operation, the partials that never change (``add``: ``(1.0, 1.0)``);
    the engine then skips calling `partials`. They must equal what `partials` returns."""
    swapped_partials: bool = False
    """For a product, d/da = b and d/db = a: the engine reads them off the arguments
    instead of calling `partials` (which must return the same)."""
    kink: Callable[[int, tuple[float, ...]], bool] | None = None
    """``kink(slot, args)``: whether the derivative along argument ``slot`` is taken at a point
    where the operation is not differentiable (relu at 0, a max tie, ...)."""
    convention: str | None = None
    """What the engine takes there (PyTorch's choice), in words: ``"relu'(0) = 0"``."""
    kink_place: str = "{op} at 0 (node {node}'s argument {0})"
    """How a note names a kink: ``{op}``, ``{node}``, the argument names ``{0}``, ``{1}`` and
    the first argument's value ``{v}``."""
    kink_partials: Callable[..., tuple[Any, ...] | None] | None = None
    """``kink_partials(sympy, *exact_args)``: the convention's local derivatives as exact SymPy
    numbers when the exact arguments sit on the kink, else ``None`` (then not compared)."""
    edge: Callable[[int, tuple[float, ...]], bool] | None = None
    """``edge(slot, args)``: whether the partial along ``slot`` is taken where it has no real value
    though the op has one (pow's d/db at a negative base)."""
    edge_note: str = ""
    """The edge in words (fields as `kink_place`) and what the engine gives there."""
    side: Callable[[tuple[float, ...], tuple[bool, ...]], tuple[int, ...]] | None = None
    """``side(args, varies)``: which side of its kinks and domain edges the arguments are on
    (``varies[slot]``: whether that argument moves with the inputs); a finite-difference step
    that changes it gives no estimate. ``None``: smooth wherever defined."""
    far: tuple[float, float, float, float] | None = None
    """For a unary op whose SymPy value at an argument beyond float64 must not be computed
    (``exp(1e500000)`` never returns): its value at +far and -far, then its derivative at +far
    and -far, as float64 sees them (``nan``: no checkable value)."""
    growth: Callable[..., Any] | None = None
    """``growth(sympy, *numbers)``: log2 of the result's magnitude, for an op whose exact result
    can outgrow memory (``10**10**10**10``); the check takes a result beyond its cap as
    infinite (float64 overflows long before) instead of computing it."""
    exact_bits: Callable[..., float] | None = None
    """``exact_bits(*rationals)``: on exact rational SymPy arguments, a bound on the bits of the
    exact rational result before computing it (``inf``: not a cheap rational); ``None``: the op
    is never folded exactly (its result is transcendental)."""
    mpmath: Callable[..., Any] | None = None
    """``mpmath(mpmath_module, *mpfs)``: the op in mpmath, for the check's fast 30-digit forward
    check (a non-real or non-finite result falls back to `sympy`); ``None``: SymPy only."""
    derivative_text: tuple[str, str] | None = None
    """For a unary op, its derivative as people write it, ``(plain text, LaTeX)`` with ``{0}``
    for the argument (sigmoid: sigma(z)·(1 - sigma(z)), with the Greek letter); what the
    diagrams, derivation and steps show. Display only: the check uses the exact derivative
    of `sympy`. ``None``: SymPy's derivative, printed."""
    second_partials: Callable[..., tuple[tuple[float, ...], ...]] | None = None
    """``second_partials(*args, out) -> ((d2/da0 da0, d2/da0 da1), (d2/da1 da0, d2/da1 da1))``: the
    symmetric matrix of second local derivatives, IEEE-safe like `partials`. At a kink it holds the
    value next to PyTorch's convention (0 for relu and abs); the Hessian marks such entries as kinks."""
    second_kink: Callable[[int, tuple[float, ...]], bool] | None = None
    """``second_kink(slot, args)``: whether the second derivative along ``slot`` jumps here though
    the first is continuous (elu at 0); the Hessian marks such entries as kinks, as at `kink`."""


# --- IEEE-safe float helpers: Python raises where IEEE 754 returns inf or nan ---


def _div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or a != a:
            return NAN  # 0/0 and nan/0
        return math.copysign(INF, a) * math.copysign(1.0, b)


def _odd_integer(b: float) -> bool:
    return b % 2.0 == 1.0


def _pow(a: float, b: float) -> float:
    if -INF < a < 0 and math.isfinite(b) and b != math.floor(b):
        return NAN  # a negative base with a non-integer exponent has no real value
    try:
        result = a**b
    except ZeroDivisionError:  # 0 ** negative is a pole
        return math.copysign(INF, a) if _odd_integer(b) else INF
    except OverflowError:
        return -INF if a < 0 and _odd_integer(b) else INF
    return result


def _exp(a: float) -> float:
    try:
        return math.exp(a)
    except OverflowError:
        return INF


def _log(a: float) -> float:
    if a > 0:
        return math.log(a)
    return -INF if a == 0 else NAN


def _sqrt(a: float) -> float:
    return math.sqrt(a) if a >= 0 else NAN


def _sin(a: float) -> float:
    return math.sin(a) if math.isfinite(a) else NAN


def _cos(a: float) -> float:
    return math.cos(a) if math.isfinite(a) else NAN


def _sigmoid(a: float) -> float:
    # Two branches so that exp never overflows: stable at +-1000 and beyond.
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = _exp(a)
    return e / (1.0 + e)


def _relu(a: float) -> float:
    return 0.0 if a <= 0 else a  # nan stays nan


def _step(a: float) -> float:
    """Derivative of relu: 1 right of 0, 0 at and left of 0, nan for nan."""
    return 1.0 if a > 0 else 0.0 if a <= 0 else NAN


def _sign(a: float) -> float:
    """Derivative of abs, 0 at 0."""
    return 1.0 if a > 0 else -1.0 if a < 0 else 0.0 if a == 0 else NAN


def _max(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return a if a >= b else b


def _min(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return a if a <= b else b


def _pick(first: bool, second: bool) -> tuple[float, float]:
    """Partials of max/min: the chosen argument gets 1, a tie splits 0.5/0.5."""
    if first:
        return 1.0, 0.0
    if second:
        return 0.0, 1.0
    return 0.5, 0.5


def _max_partials(a: float, b: float, out: float) -> tuple[float, float]:
    if a != a or b != b:
        return NAN, NAN
    return _pick(a > b, b > a)


def _min_partials(a: float, b: float, out: float) -> tuple[float, float]:
    if a != a or b != b:
        return NAN, NAN
    return _pick(a < b, b < a)


def _pow_partials(a: float, b: float, out: float) -> tuple[float, float]:
    # d/da a**b = b*a**(b-1), taken as 0 when b == 0 (so x**0 and 0**0 are flat), and 2*a
    # for a square (exactly, without a power: what compiled code writes too);
    # d/db a**b = a**b*log(a), taken as 0 when a == 0 and b >= 0 (PyTorch's choice).
    d_base = 0.0 if b == 0 else 2.0 * a if b == 2.0 else b * _pow(a, b - 1.0)
    d_exponent = 0.0 if a == 0 and b >= 0 else out * _log(a)
    return d_base, d_exponent


def _sqrt_partials(a: float, out: float) -> tuple[float]:
    return (INF if out == 0 else _div(0.5, out),)


_FLAT1 = ((0.0,),)
_FLAT2 = ((0.0, 0.0), (0.0, 0.0))


def _flat(*args: float) -> tuple[tuple[float, ...], ...]:
    """Second partials of a piecewise-linear operation: 0 everywhere (nan for a nan argument)."""
    nan = any(arg != arg for arg in args[:-1])
    if nan:
        return tuple((NAN,) * (len(args) - 1) for _ in args[:-1])
    return _FLAT1 if len(args) == 2 else _FLAT2


def _div_second(a: float, b: float, out: float) -> tuple[tuple[float, float], tuple[float, float]]:
    cross = -_div(1.0, b * b)  # d2/da db (a/b) = -1/b**2
    return (0.0, cross), (cross, _div(2.0 * a, b * b * b))


def _pow_second(a: float, b: float, out: float) -> tuple[tuple[float, float], tuple[float, float]]:
    # d2/da2 = b*(b-1)*a**(b-2), exactly 0 for b in {0, 1} (x**0 and x**1 are flat / linear);
    # d2/da db = a**(b-1)*(1 + b*log(a)); d2/db2 = a**b*log(a)**2; both 0 at a = 0, b >= 0, where
    # the first derivative along b is taken as 0 (the engine's convention).
    base = 0.0 if b in (0.0, 1.0) else b * (b - 1.0) * _pow(a, b - 2.0)
    if a == 0 and b >= 0:
        return (base, 0.0), (0.0, 0.0)
    log_a = _log(a)
    cross = _pow(a, b - 1.0) * (1.0 + b * log_a) if b != 0 else _div(1.0, a)
    return (base, cross), (cross, out * log_a * log_a)


def _at_zero(slot: int, args: tuple[float, ...]) -> bool:
    return args[0] == 0


def _tie(slot: int, args: tuple[float, ...]) -> bool:
    return args[0] == args[1]


def _pow_kink(slot: int, args: tuple[float, ...]) -> bool:
    """Base 0: d/db = a**b*log(a) has no value; d/da = b*a**(b-1) is smooth only for b = 0 or b >= 1."""
    a, b = args
    return a == 0 and (slot == 1 or not (b == 0 or b >= 1))


def _sigmoid_sympy(sp: Any, a: Any) -> Any:
    return 1 / (1 + sp.exp(-a))


def _leaky_relu(a: float) -> float:
    return a if a > 0 else LEAKY_SLOPE * a  # nan stays nan


def _leaky_step(a: float) -> float:
    """Derivative of leaky_relu: 1 right of 0, the slope at and left of 0 (PyTorch), nan for nan."""
    return 1.0 if a > 0 else LEAKY_SLOPE if a <= 0 else NAN


def _softplus(a: float) -> float:
    # log(1 + exp(a)) = max(a, 0) + log1p(exp(-|a|)): exp never overflows, stable at +-1000
    if a != a:
        return a
    return (a if a > 0 else 0.0) + math.log1p(math.exp(-math.fabs(a)))


def _elu(a: float) -> float:
    return a if a > 0 else math.expm1(a)  # alpha 1; expm1: exact near 0, -1 at -inf


def _silu(a: float) -> float:
    return a * _sigmoid(a)


def _silu_partials(a: float, out: float) -> tuple[float]:
    if math.isinf(a):
        return (1.0 if a > 0 else 0.0,)
    s = _sigmoid(a)
    return (s * (1.0 + a * (1.0 - s)),)


_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _gelu(a: float) -> float:
    # a*Phi(a) with Phi(a) = erfc(-a/sqrt(2))/2: accurate in the far left tail too
    return 0.5 * a * math.erfc(-a / _SQRT2)


def _gelu_partials(a: float, out: float) -> tuple[float]:
    if math.isinf(a):
        return (1.0 if a > 0 else 0.0,)
    return (0.5 * math.erfc(-a / _SQRT2) + a * math.exp(-0.5 * a * a) * _INV_SQRT_2PI,)


def _sign_side(args: tuple[float, ...], varies: tuple[bool, ...]) -> tuple[int, ...]:
    a = args[0]
    return ((a > 0) - (a < 0),)


def _tie_side(args: tuple[float, ...], varies: tuple[bool, ...]) -> tuple[int, ...]:
    a, b = args
    return ((a > b) - (a < b),)


def _divisor_side(args: tuple[float, ...], varies: tuple[bool, ...]) -> tuple[int, ...]:
    b = args[1]
    return ((b > 0) - (b < 0),)


def _whole(b: float) -> bool:
    return math.isfinite(b) and b == math.floor(b)


def _pow_side(args: tuple[float, ...], varies: tuple[bool, ...]) -> tuple[int, ...]:
    a, b = args
    if not varies[1] and _whole(b) and b >= 0:
        return ()  # a**2: smooth through base 0, on either side
    return ((a > 0) - (a < 0), int(a < 0 and _whole(b)))  # a negative base: real at whole b only


def _pow_growth(sp: Any, a: Any, b: Any) -> Any:
    return b * sp.log(abs(a), 2) if not a.is_zero and a.is_finite and b.is_finite else 0


def _pow_edge(slot: int, args: tuple[float, ...]) -> bool:
    return slot == 1 and args[0] < 0


def _at_zero_partials(value: Any) -> Callable[..., tuple[Any, ...] | None]:
    """The convention at a kink at 0: ``value(sympy)`` there, only when the exact argument is 0."""
    return lambda sp, a: (value(sp),) if a.is_zero else None  # Float(0) == 0 is False in SymPy


def _tie_partials(sp: Any, a: Any, b: Any) -> tuple[Any, ...] | None:
    return (sp.Rational(1, 2), sp.Rational(1, 2)) if (a - b).is_zero else None


def _pow_kink_partials(sp: Any, a: Any, b: Any) -> tuple[Any, ...] | None:
    """At base 0: d/da = b*0**(b-1) (0 when b = 0); d/db = 0**b*log(0), taken as 0 for b >= 0."""
    if not (a.is_zero and b.is_finite):
        return None
    power = sp.Integer(0) if b > 1 else (sp.Integer(1) if (b - 1).is_zero else sp.oo)
    d_base = sp.Integer(0) if b.is_zero else b * power
    return d_base, (sp.Integer(0) if b >= 0 else -sp.oo)


def _bits(value: Any) -> int:
    """Bits of a SymPy Rational's numerator and denominator."""
    return int(value.p).bit_length() + int(value.q).bit_length()


def _sum_bits(a: Any, b: Any) -> float:
    return _bits(a) + _bits(b)


def _quotient_bits(a: Any, b: Any) -> float:
    return INF if b == 0 else _bits(a) + _bits(b)


def _power_bits(a: Any, b: Any) -> float:
    return _bits(a) * abs(int(b)) if b.is_Integer and a != 0 else INF


LEAKY_SLOPE = 0.01
"""leaky_relu's slope left of 0 (PyTorch's default ``negative_slope``)."""


_SIGMA = ("\N{GREEK SMALL LETTER SIGMA}({0})", r"\sigma\left({0}\right)")  # sigmoid, as people write it
_SIGMOID_TEXT = (_SIGMA[0] + "·(1 - " + _SIGMA[0] + ")",
                 _SIGMA[1] + r" \cdot \left(1 - " + _SIGMA[1] + r"\right)")
_SILU_TEXT = (_SIGMA[0] + "·(1 + {0}·(1 - " + _SIGMA[0] + "))",
              _SIGMA[1] + r" \cdot \left(1 + {0} \cdot \left(1 - " + _SIGMA[1] + r"\right)\right)")
def _softplus_second(a: float, out: float) -> tuple[tuple[float]]:
    s = _sigmoid(a)
    return ((s * (1.0 - s),),)


def _elu_second(a: float, out: float) -> tuple[tuple[float]]:
    return ((0.0 if a > 0 else math.exp(a) if a <= 0 else NAN,),)  # jumps from 1 to 0 at 0


def _silu_second(a: float, out: float) -> tuple[tuple[float]]:
    if math.isinf(a):
        return ((0.0,),)
    s = _sigmoid(a)
    return ((s * (1.0 - s) * (2.0 + a * (1.0 - 2.0 * s)),),)


def _gelu_second(a: float, out: float) -> tuple[tuple[float]]:
    if math.isinf(a):
        return ((0.0,),)
    return ((math.exp(-0.5 * a * a) * _INV_SQRT_2PI * (2.0 - a * a),),)


_TIE = "{op} of a tie (node {node}: {0} = {1} = {v})"
_FLAT_FAR = (INF, 0.0, 1.0, 0.0)  # x-like to the right, 0 to the left: softplus, silu, gelu

_TABLE = (
    Op("add", 2, operator.add, lambda a, b, out: (1.0, 1.0),
       lambda sp, a, b: a + b, "{0} + {1}", "+", "+", (1.0, 1.0), exact_bits=_sum_bits,
       mpmath=lambda mp, a, b: a + b,
       second_partials=_flat),
    Op("sub", 2, operator.sub, lambda a, b, out: (1.0, -1.0),
       lambda sp, a, b: a - b, "{0} - {1}", "-", "-", (1.0, -1.0), exact_bits=_sum_bits,
       mpmath=lambda mp, a, b: a - b,
       second_partials=_flat),
    Op("mul", 2, operator.mul, lambda a, b, out: (b, a),
       lambda sp, a, b: a * b, "{0}*{1}", "*", "*", swapped_partials=True, exact_bits=_sum_bits,
       mpmath=lambda mp, a, b: a * b,
       second_partials=lambda a, b, out: ((0.0, 1.0), (1.0, 0.0))),
    Op("div", 2, _div, lambda a, b, out: (_div(1.0, b), _div(_div(-a, b), b)),
       lambda sp, a, b: a / b, "{0}/{1}", "/", "/", side=_divisor_side, exact_bits=_quotient_bits,
       mpmath=lambda mp, a, b: a / b,
       second_partials=_div_second),
    Op("pow", 2, _pow, _pow_partials,
       lambda sp, a, b: a**b, "{0}**{1}", "**", "**", kink=_pow_kink,
       convention="d/da a**b = b*a**(b-1) and d/db a**b = 0 at a = 0 (0**0 = 1, both derivatives 0)",
       kink_place="pow with base 0 (node {node}: {0} = 0)", kink_partials=_pow_kink_partials,
       edge=_pow_edge, edge_note="pow with a negative base and a variable exponent (node {node}: {0} = {v}), "
       "real only at integer exponents; the engine uses d/db a**b = a**b*log(a), which is nan for a < 0",
       side=_pow_side, growth=_pow_growth, exact_bits=_power_bits, mpmath=lambda mp, a, b: a**b,
       second_partials=_pow_second),
    Op("neg", 1, operator.neg, lambda a, out: (-1.0,),
       lambda sp, a: -a, "-{0}", "-", "-", (-1.0,), exact_bits=_bits,
       mpmath=lambda mp, a: -a,
       second_partials=_flat),
    Op("exp", 1, _exp, lambda a, out: (out,),
       lambda sp, a: sp.exp(a), "exp({0})", "exp", far=(INF, 0.0, INF, 0.0),
       mpmath=lambda mp, a: mp.exp(a),
       second_partials=lambda a, out: ((out,),)),
    Op("log", 1, _log, lambda a, out: (_div(1.0, a),),
       lambda sp, a: sp.log(a), "log({0})", "log", side=_sign_side,
       second_partials=lambda a, out: ((-_div(1.0, a * a),),)),
    Op("sqrt", 1, _sqrt, _sqrt_partials,
       lambda sp, a: sp.sqrt(a), "sqrt({0})", "sqrt", kink=_at_zero, convention="sqrt'(0) = +inf",
       kink_partials=_at_zero_partials(lambda sp: sp.oo), side=_sign_side,
       second_partials=lambda a, out: ((_div(-0.25, out * out * out),),)),
    Op("sin", 1, _sin, lambda a, out: (_cos(a),),
       lambda sp, a: sp.sin(a), "sin({0})", "sin", far=(NAN, NAN, NAN, NAN),
       second_partials=lambda a, out: ((-out,),)),
    Op("cos", 1, _cos, lambda a, out: (-_sin(a),),
       lambda sp, a: sp.cos(a), "cos({0})", "cos", far=(NAN, NAN, NAN, NAN),
       second_partials=lambda a, out: ((-out,),)),
    Op("tanh", 1, math.tanh, lambda a, out: (1.0 - out * out,),
       lambda sp, a: sp.tanh(a), "tanh({0})", "tanh", far=(1.0, -1.0, 0.0, 0.0),
       mpmath=lambda mp, a: mp.tanh(a),
       derivative_text=("1 - tanh({0})**2", r"1 - \tanh^{2}\left({0}\right)"),
       second_partials=lambda a, out: ((-2.0 * out * (1.0 - out * out),),)),
    Op("sigmoid", 1, _sigmoid, lambda a, out: (out * (1.0 - out),),
       _sigmoid_sympy, "sigmoid({0})", "sigmoid", far=(1.0, 0.0, 0.0, 0.0),
       mpmath=lambda mp, a: 1 / (1 + mp.exp(-a)),
       derivative_text=_SIGMOID_TEXT,
       second_partials=lambda a, out: ((out * (1.0 - out) * (1.0 - 2.0 * out),),)),
    Op("relu", 1, _relu, lambda a, out: (_step(a),),
       lambda sp, a: sp.Max(0, a), "relu({0})", "relu", kink=_at_zero, convention="relu'(0) = 0",
       kink_partials=_at_zero_partials(lambda sp: sp.Integer(0)), side=_sign_side,
       second_partials=_flat),
    Op("abs", 1, math.fabs, lambda a, out: (_sign(a),),
       lambda sp, a: sp.Abs(a), "abs({0})", "abs", kink=_at_zero, convention="abs'(0) = 0",
       kink_partials=_at_zero_partials(lambda sp: sp.Integer(0)), side=_sign_side,
       second_partials=_flat),
    Op("max", 2, _max, _max_partials,
       lambda sp, a, b: sp.Max(a, b), "max({0}, {1})", "max", kink=_tie,
       convention="a tie splits the gradient 0.5/0.5", kink_place=_TIE, kink_partials=_tie_partials,
       side=_tie_side,
       second_partials=_flat),
    Op("min", 2, _min, _min_partials,
       lambda sp, a, b: sp.Min(a, b), "min({0}, {1})", "min", kink=_tie,
       convention="a tie splits the gradient 0.5/0.5", kink_place=_TIE, kink_partials=_tie_partials,
       side=_tie_side,
       second_partials=_flat),
    Op("softplus", 1, _softplus, lambda a, out: (_sigmoid(a),),
       lambda sp, a: sp.log(1 + sp.exp(a)), "softplus({0})", "softplus", far=_FLAT_FAR,
       derivative_text=_SIGMA,
       second_partials=_softplus_second),
    Op("leaky_relu", 1, _leaky_relu, lambda a, out: (_leaky_step(a),),
       lambda sp, a: sp.Piecewise((a, a > 0), (a / 100, True)), "leaky_relu({0})", "leaky_relu",
       kink=_at_zero, convention="leaky_relu'(0) = 0.01",
       kink_partials=_at_zero_partials(lambda sp: sp.Rational(1, 100)), side=_sign_side,
       second_partials=_flat),
    Op("elu", 1, _elu, lambda a, out: (1.0 if a > 0 else math.exp(a),),
       lambda sp, a: sp.Piecewise((a, a > 0), (sp.exp(a) - 1, True)), "elu({0})", "elu",
       far=(INF, -1.0, 1.0, 0.0),
       second_partials=_elu_second, second_kink=_at_zero),
    Op("silu", 1, _silu, _silu_partials,
       lambda sp, a: a / (1 + sp.exp(-a)), "silu({0})", "silu", far=_FLAT_FAR,
       derivative_text=_SILU_TEXT,
       second_partials=_silu_second),
    Op("gelu", 1, _gelu, _gelu_partials,
       lambda sp, a: a * sp.erfc(-a / sp.sqrt(2)) / 2, "gelu({0})", "gelu", far=_FLAT_FAR,
       second_partials=_gelu_second),
)

OPS: Mapping[str, Op] = MappingProxyType({op.name: op for op in _TABLE})
"""Every operation by name, in table order."""

FUNCTIONS: Mapping[str, Op] = MappingProxyType(
    {op.name: op for op in _TABLE if op.operator is None}
)
"""The operations written as calls, ``exp(x)`` or ``max(a, b)``; their names are reserved."""

INFIX: Mapping[str, Op] = MappingProxyType(
    {op.operator: op for op in _TABLE if op.operator and op.arity == 2}
)
"""Binary operators by token: ``"+"``, ``"-"``, ``"*"``, ``"/"``, ``"**"``."""

PREFIX: Mapping[str, Op] = MappingProxyType(
    {op.operator: op for op in _TABLE if op.operator and op.arity == 1}
)
"""Unary operators by token: ``"-"``."""
