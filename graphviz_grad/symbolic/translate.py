"""Translation: a `Graph` as SymPy expressions, exact numbers, and each op's value at a point.

>>> from graphviz_grad import parse
>>> to_sympy(parse("L = (x*W1 + y*W2 - B)**2"))["L"]
(-B + W1*x + W2*y)**2

Every node becomes a SymPy expression through the op table's ``sympy`` constructor (no text
round-trip, never `sympify`); subexpressions without inputs are folded into numbers, exactly
where the op table's ``exact_bits`` says that is cheap, else at `DIGITS` digits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import sympy as sp

from ..graph import CONST, INPUT, Graph
from ..ops import OPS

DIGITS = 30
"""Significant digits of the high-precision evaluation."""
EXACT_BITS = 4096
"""A constant subexpression is folded exactly (as a SymPy Rational) up to this many bits;
beyond, or for transcendental results, its high-precision value is used (``9**9**9`` never hangs)."""
_EPS = 2.0**-52
_FLOAT_MAX = sp.Float(1.7976931348623157e308, DIGITS)




def exact(value: float) -> sp.Expr:
    """The number as SymPy sees the user's decimal: the shortest decimal text of the float,
    exactly (``0.1`` is 1/10, not the binary double), via `fractions.Fraction`.

    >>> exact(0.1), exact(2.0), exact(float("-inf"))
    (1/10, 2, -oo)
    """
    if math.isnan(value):
        return sp.nan
    if math.isinf(value):
        return sp.oo if value > 0 else -sp.oo
    fraction = Fraction(repr(float(value)))
    return sp.Rational(fraction.numerator, fraction.denominator)


def exact_binary(value: float) -> sp.Rational:
    """The float's exact binary value (``0.1`` is 3602879701896397/36028797018963968).

    >>> exact_binary(0.5), exact_binary(0.1) == exact(0.1)
    (1/2, False)
    """
    numerator, denominator = float(value).as_integer_ratio()
    return sp.Rational(numerator, denominator)


def _number(value: sp.Expr) -> sp.Expr:
    """A SymPy number at `DIGITS` digits (Rationals become Floats: exact powers never run)."""
    if value.is_Rational:  # rounded straight from the fraction (Float(Rational) goes through text)
        if not value:
            return sp.Float(0, DIGITS)  # Float._new would give the exact Integer 0
        return sp.Float._new(mpmath.libmp.from_rational(int(value.p), int(value.q), _PREC, "n"), _PREC)
    return value


_PREC = mpmath.libmp.dps_to_prec(DIGITS)


def _real_or_nan(value: Any) -> sp.Expr:
    """Reduce an evaluated expression to a real number, ``oo``/``-oo``, ``zoo`` or ``nan``."""
    if not isinstance(value, sp.Basic):
        return sp.nan
    if value is sp.zoo or value is sp.nan or value in (sp.oo, -sp.oo):
        return value
    if not value.is_Number:
        try:
            value = value.evalf(DIGITS)
        except (ArithmeticError, TypeError, ValueError, RecursionError):
            return sp.nan
        if value.is_Number or value in (sp.oo, -sp.oo, sp.zoo, sp.nan):
            return value
        real, imaginary = value.as_real_imag()
        if imaginary != 0 or not real.is_Number:
            return sp.nan  # complex (log(-1) = i*pi) or not a number at all: no real value
        return real
    return value


def _to_float(value: sp.Expr) -> float:
    """The float nearest a SymPy number; beyond float64's range it is +-inf."""
    if value is sp.nan or value is sp.zoo:
        return math.nan if value is sp.nan else math.inf
    if value is sp.oo:
        return math.inf
    if value is -sp.oo:
        return -math.inf
    if value.is_Float:  # SymPy's float(), without its detour through a 53-bit Float
        return mpmath.libmp.to_float(value._mpf_, rnd=mpmath.libmp.round_nearest)
    try:
        return float(value)
    except (OverflowError, TypeError, ValueError):
        return math.nan


# --- translation --------------------------------------------------------------------


@dataclass(frozen=True)
class _Generic:
    """An op applied to fresh symbols: substituting numbers gives SymPy's value of the op."""

    expr: sp.Expr
    symbols: tuple[sp.Symbol, ...]

    def at(self, expr: sp.Expr, args: Sequence[sp.Expr]) -> sp.Expr:
        return _substitute(expr, dict(zip(self.symbols, args, strict=True)))


_GENERIC: dict[str, _Generic] = {}


def _generic(op: str) -> _Generic:
    rule = _GENERIC.get(op)
    if rule is None:
        symbols = tuple(sp.Dummy(f"a{k}", real=True) for k in range(OPS[op].arity))
        expr = OPS[op].sympy(sp, *symbols)
        rule = _GENERIC[op] = _Generic(expr, symbols)
    return rule


def _substitute(expr: sp.Expr, mapping: Mapping[sp.Basic, sp.Expr]) -> sp.Expr:
    """Simultaneous substitution (`xreplace`), never sequential ``subs``; a SymPy exception
    (``Float(0)/Float(0)`` raises) means the value is undefined."""
    try:
        return expr.xreplace(mapping)
    except (ArithmeticError, TypeError, ValueError):
        return sp.nan


def _depends(graph: Graph) -> list[bool]:
    depends = [False] * len(graph)
    for i, node in enumerate(graph.nodes):
        depends[i] = node.op == INPUT or any(depends[a] for a in graph.arg_indices[i])
    return depends


def _fold(op: str, args: Sequence[sp.Expr], numeric: Sequence[sp.Expr]) -> sp.Expr:
    """A node whose arguments are numbers: exact when that is cheap rational arithmetic,
    otherwise its high-precision value (so ``9**9**9`` or ``exp(exp(9))`` never hang)."""
    exact_bits = OPS[op].exact_bits  # the op table: which ops fold exactly, and how big
    if exact_bits is not None and all(arg.is_Rational for arg in args) and exact_bits(*args) <= EXACT_BITS:
        result = _construct(op, args)
        if result.is_Rational and _bits(result) <= EXACT_BITS:
            return result
    return _at_point(op, [_number(a) for a in numeric])


def _construct(op: str, args: Sequence[sp.Expr]) -> sp.Expr:
    """The op table's SymPy constructor; where SymPy refuses (``Min(x, nan)`` raises "not
    comparable"), the value is undefined: nan."""
    try:
        return OPS[op].sympy(sp, *args)
    except (ArithmeticError, TypeError, ValueError):
        return sp.nan


def _huge(value: sp.Expr) -> bool:
    """A finite number beyond float64's range: exp/sin/... of it must not be evaluated (SymPy's
    ``exp(Float(1e500000))`` never returns; its argument reduction needs that many digits)."""
    return bool(value.is_Number) and value is not sp.nan and value.is_finite is not False \
        and abs(value) > _FLOAT_MAX


def _far_limit(op: str, argument: sp.Expr, derivative: bool = False) -> sp.Expr:
    """An op (or its derivative) at an argument beyond float64, as float64 sees it: the op
    table's ``far`` limits (exp -> oo or 0, tanh -> +-1, sin -> nan: no checkable value)."""
    value_up, value_down, slope_up, slope_down = OPS[op].far  # type: ignore[misc]
    positive = bool(argument > 0)
    limit = (slope_up if positive else slope_down) if derivative else (value_up if positive else value_down)
    if math.isnan(limit):
        return sp.nan
    if math.isinf(limit):
        return sp.oo if limit > 0 else -sp.oo
    return sp.Integer(int(limit)) if limit == int(limit) else sp.Float(limit, DIGITS)


def _far(op: str, argument: sp.Expr) -> bool:
    """Whether the op has ``far`` limits in the table and the argument is beyond float64."""
    return OPS[op].far is not None and _huge(argument)


MAX_BITS = 1 << 60
"""A result whose magnitude needs an exponent of more than this many bits is taken as infinite,
never computed. Up to it a high-precision number is cheap (its exponent is a small integer:
``9**9**9`` is fine); beyond it the exponent itself would be a gigantic integer
(``10**10**10**10`` exactly needs gigabytes), and float64 overflowed at 2**1024 long before."""


def _too_large(op: str, args: Sequence[sp.Expr]) -> bool:
    """Whether the op's result at these numbers is beyond `MAX_BITS` (the op table's ``growth``)."""
    growth = OPS[op].growth if op in OPS else None
    if growth is None or not all(arg.is_Number and arg.is_finite for arg in args):
        return False
    estimate = [abs(_to_float(arg)) for arg in args]  # a float first: SymPy's log only for large ones
    if (all(value == 0 or 1e-300 < value < 1e300 for value in estimate)
            and estimate[-1] * math.log2(max(estimate[0], 2.0)) < MAX_BITS):
        return False
    try:
        return bool(abs(sp.S(growth(sp, *args)).evalf(15)) > MAX_BITS)
    except (ArithmeticError, TypeError, ValueError):
        return False


def _beyond(op: str, args: Sequence[sp.Expr]) -> sp.Expr:
    """The op's value past `MAX_BITS`: 0 for a huge negative power, else an infinity with the
    sign of a power of a negative base (nan at a non-whole exponent), never computed."""
    if sp.S(OPS[op].growth(sp, *args)).evalf(15) < 0:  # type: ignore[misc]
        return sp.Integer(0)
    base, exponent = (args[0], args[1]) if len(args) == 2 else (args[0], sp.Integer(1))
    if base > 0:
        return sp.oo
    if abs(exponent) > 2**60:  # a float this large is a whole, even number
        return sp.oo
    if not exponent.is_Integer and int(exponent) != exponent:
        return sp.nan
    return -sp.oo if int(exponent) % 2 else sp.oo


def bounded_substitute(expr: sp.Expr, mapping: dict[sp.Basic, sp.Expr]) -> sp.Expr:
    """`_substitute`, but every power of numbers is checked against `MAX_BITS` before SymPy
    computes it (``s1*s0**(s1 - 1)`` at s0 = 10, s1 = 1e10000000000 is infinite, not 8 GB)."""
    stack: list[tuple[sp.Basic, bool]] = [(expr, False)]
    done: dict[sp.Basic, sp.Expr] = {}
    while stack:
        node, expanded = stack.pop()
        if node in done:
            continue
        if node in mapping or not node.args:
            done[node] = mapping.get(node, node)
        elif not expanded:
            stack.append((node, True))
            stack.extend((arg, False) for arg in node.args)
        else:
            args = [done[arg] for arg in node.args]
            if isinstance(node, sp.Pow) and all(arg.is_Number for arg in args):
                done[node] = _at_point("pow", args)
                continue
            try:
                done[node] = node.func(*args)
            except (ArithmeticError, TypeError, ValueError):
                done[node] = sp.nan
    return done[expr]


def _at_point(op: str, args: Sequence[sp.Expr]) -> sp.Expr:
    """The op's SymPy constructor applied to numbers, reduced by `_real_or_nan`. SymPy's
    number classes raise where an expression would give nan (``Float(0)/Float(0)``); then
    the op is applied to symbols and the numbers substituted, which gives SymPy's value.
    exp/sigmoid/tanh/sin/cos/... of a number beyond float64 take their float64 limit (`_far_limit`)."""
    if _far(op, args[0]):
        return _far_limit(op, args[0])
    if _too_large(op, args):
        return _beyond(op, args)
    try:
        return _real_or_nan(OPS[op].sympy(sp, *args))
    except (ArithmeticError, TypeError, ValueError):
        generic = _generic(op)
        return _real_or_nan(generic.at(generic.expr, args))


def _is_number(expr: sp.Expr) -> bool:
    return bool(expr.is_Number) or expr in (sp.oo, -sp.oo, sp.zoo, sp.nan)


def _apply(op: str, args: Sequence[sp.Expr]) -> sp.Expr:
    """The op table's SymPy constructor, except that numbers are folded (`_fold`): SymPy's
    automatic simplification can turn ``(x*0 + 9)**(9**9)`` into an exact power of 9."""
    if all(_is_number(arg) for arg in args):
        return _fold(op, args, args)
    return _construct(op, args)


def _bits(value: sp.Rational) -> int:
    return int(value.p).bit_length() + int(value.q).bit_length()


def to_sympy(graph: Graph, replace: Mapping[str, sp.Symbol] | None = None) -> dict[str, sp.Expr]:
    """Every node as a SymPy expression, built from the op table (no text, no `sympify`).

    Inputs are real symbols named like the inputs; constants are their decimal value exactly;
    subexpressions that do not depend on an input are folded into a number (see `EXACT_BITS`).
    ``replace`` puts the given symbols in place of the named nodes.

    >>> from graphviz_grad import parse
    >>> to_sympy(parse("L = (x*W1 + y*W2 - B)**2"))["L"]
    (-B + W1*x + W2*y)**2
    """
    replace = replace or {}
    exprs: dict[str, sp.Expr] = {}
    values: dict[str, sp.Expr] = {}  # high-precision values of the folded nodes
    for node in graph.nodes:
        if node.name in replace:
            exprs[node.name] = replace[node.name]
        elif node.op == INPUT:
            exprs[node.name] = sp.Symbol(node.name, real=True)
        elif node.op == CONST:
            exprs[node.name] = values[node.name] = exact(node.value)  # type: ignore[arg-type]
        else:
            args = [exprs[name] for name in node.inputs]
            if all(_is_number(arg) for arg in args):
                numeric = [values.get(name, arg) for name, arg in zip(node.inputs, args, strict=True)]
                exprs[node.name] = values[node.name] = _fold(node.op, args, numeric)
            else:
                exprs[node.name] = _construct(node.op, args)
    return exprs


def closed_forms(graph: Graph) -> dict[str, sp.Expr]:
    """dL/dinput for every input, by `sympy.diff` of the output's expression (not simplified).

    >>> from graphviz_grad import parse
    >>> closed_forms(parse("L = (x*W1 + y*W2 - B)**2"))["W1"]
    2*x*(-B + W1*x + W2*y)
    """
    exprs = to_sympy(graph)
    output = exprs[graph.output]
    return {name: sp.diff(output, exprs[name]) for name in graph.inputs}


def adjoints(graph: Graph) -> dict[str, sp.Expr]:
    """dL/dz for every operation node z that depends on an input: L is differentiated with
    a fresh symbol in place of z, then z's expression is substituted back.

    >>> from graphviz_grad import parse
    >>> adjoints(parse("L = (x*W1 + y*W2 - B)**2"))["z4"]
    -2*B + 2*W1*x + 2*W2*y
    """
    base = to_sympy(graph)
    depends = _depends(graph)
    result: dict[str, sp.Expr] = {}
    for k, node in enumerate(graph.nodes):
        if node.op in (INPUT, CONST) or not depends[k]:
            continue
        result[node.name] = _adjoint(graph, base, k)
    return result


def _adjoint(graph: Graph, base: Mapping[str, sp.Expr], k: int) -> sp.Expr:
    """dL/d(node k): rebuild only the nodes downstream of k over a fresh symbol."""
    fresh = sp.Symbol(graph.nodes[k].name, real=True)  # node names are unique: no clash
    downstream = [False] * len(graph)
    downstream[k] = True
    exprs = dict(base)
    exprs[graph.nodes[k].name] = fresh
    args = graph.arg_indices
    for i in range(k + 1, len(graph)):
        if any(downstream[a] for a in args[i]):
            downstream[i] = True
            node = graph.nodes[i]
            exprs[node.name] = _apply(node.op, [exprs[name] for name in node.inputs])
    if not downstream[graph.index(graph.output)]:
        return sp.Integer(0)
    derivative = sp.diff(exprs[graph.output], fresh)
    back = base[graph.nodes[k].name]
    # a node SymPy turned into a number (x*0) goes back as a Float: 387420489*9**387420488 must
    # not be computed exactly
    return _substitute(derivative, {fresh: _number(back) if _is_number(back) else back})


# --- the report -------------------------------------------------------------------------



_SLOTS: dict[int, tuple[sp.Dummy, ...]] = {}
_LOCALS: dict[tuple[str, tuple[sp.Expr | None, ...]], tuple[sp.Expr | None, ...]] = {}


def _slot_symbols(arity: int) -> tuple[sp.Dummy, ...]:
    symbols = _SLOTS.get(arity)
    if symbols is None:
        symbols = _SLOTS[arity] = tuple(sp.Dummy(f"s{k}", real=True) for k in range(arity))
    return symbols


def _local_partials(op: str, constants: tuple[sp.Expr | None, ...]) -> tuple[sp.Expr | None, ...]:
    """d op / d argument for each argument that is not a constant (``None`` for constants),
    differentiated with the constants in place (so d/dx x**2 is 2*x, defined at 0)."""
    key = (op, constants)
    cached = _LOCALS.get(key)
    if cached is None:
        slots = _slot_symbols(len(constants))
        args = [slot if constant is None else constant
                for slot, constant in zip(slots, constants, strict=True)]
        expr = _apply(op, args)
        cached = tuple(None if constant is not None else sp.diff(expr, slot)
                       for slot, constant in zip(slots, constants, strict=True))
        if len(_LOCALS) < 10_000:
            _LOCALS[key] = cached
    return cached


def _tree_size(graph: Graph) -> int:
    """The size of the output's expression written out as a tree (shared nodes counted each
    time they are read), capped: a graph can describe an exponentially large expression."""
    sizes = [1] * len(graph)
    for i, args in enumerate(graph.arg_indices):
        if args:
            sizes[i] = min(1 + sum(sizes[a] for a in args), 1 << 40)
    return sizes[graph.index(graph.output)]

