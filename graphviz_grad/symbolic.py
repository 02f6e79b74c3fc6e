"""The SymPy cross-check: closed-form derivatives, per-node symbolic adjoints, finite differences.

>>> report = check("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> report.ok, report["W1"].symbolic, report["W1"].engine
(True, '2*x*(-B + W1*x + W2*y)', 20.0)

Every node of the `Graph` becomes a SymPy expression through the op table's ``sympy``
constructor (no text round-trip). SymPy differentiates the output with respect to every
input, and, for every intermediate node ``z``, with respect to a fresh symbol put in place of
``z`` (then ``z``'s expression is substituted back): the symbolic adjoint dL/dz. Each closed
form is evaluated at the point with 30 significant digits and compared with the engine's
gradient and with a central finite difference. Large graphs switch to the *node form*
(the chain rule written with node symbols, evaluated node by node) so the check stays
linear in the graph's size. This is the only module that imports SymPy at load time.
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Any

import mpmath
import sympy as sp

from .engine import Trace
from .errors import GraphvizGradError, InputValueError
from .formula import parse
from .graph import CONST, INPUT, Expr, Graph, build
from .ops import OPS
from .serialize import json_number
from .text import product_dots, table

DIGITS = 30
"""Significant digits of the high-precision evaluation."""
RTOL = 1e-7
"""Default relative tolerance of engine vs SymPy."""
ATOL = 1e-10
"""Default absolute tolerance of engine vs SymPy."""
FULL_NODES = 60
"""Graphs with at most this many operation nodes get full closed forms; larger ones the node form."""
SIMPLIFY_OPS = 30
"""`sympy.simplify` runs only on a closed form with at most this many operations (`count_ops`) ..."""
SIMPLIFY_ROWS = 8
"""... and on at most this many rows of one check (it takes up to ~0.5 s a row); later rows are
factored only. A count, not a time, so the same check always prints the same forms."""
FULL_TREE = 400
"""... and whose output expression, written out as a tree, has at most this many nodes."""
FACTOR_OPS = 400
"""`sympy.factor_terms` runs on closed forms up to this size; larger ones are shown as derived."""
FD_BUDGET = 4_000_000
"""Finite differences re-evaluate the graph downstream of a row's node four times; once the check
has spent this many node evaluations, the remaining rows get no finite difference."""
EXACT_BITS = 4096
"""A constant subexpression is folded exactly (as a SymPy Rational) up to this many bits;
beyond, or for transcendental results, its high-precision value is used (``9**9**9`` never hangs)."""

_STATUSES = ("agree", "disagree", "kink", "undefined", "infinite", "overflow")
_EPS = 2.0**-52
_FLOAT_MAX = sp.Float(1.7976931348623157e308, DIGITS)


class CheckError(GraphvizGradError, ValueError):
    """Arguments to `check` that cannot be checked (bad tolerances, a subject of the wrong kind)."""


# --- numbers ----------------------------------------------------------------------


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
    if value.is_Rational:
        return sp.Float(value, DIGITS)
    return value


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
    if all(arg.is_Rational for arg in args):
        if op in ("add", "sub", "mul", "neg") or (op == "div" and args[1] != 0):
            result = _construct(op, args)
            if result.is_Rational and _bits(result) <= EXACT_BITS:
                return result
        elif (op == "pow" and args[1].is_Integer and args[0] != 0
              and _bits(args[0]) * abs(int(args[1])) <= EXACT_BITS):
            return args[0] ** args[1]
    return _at_point(op, [_number(a) for a in numeric])


def _construct(op: str, args: Sequence[sp.Expr]) -> sp.Expr:
    """The op table's SymPy constructor; where SymPy refuses (``Min(x, nan)`` raises "not
    comparable"), the value is undefined: nan."""
    try:
        return OPS[op].sympy(sp, *args)
    except (ArithmeticError, TypeError, ValueError):
        return sp.nan


_TRANSCENDENTAL = frozenset({"exp", "sigmoid", "tanh", "sin", "cos"})


def _huge(value: sp.Expr) -> bool:
    """A finite number beyond float64's range: exp/sin/... of it must not be evaluated (SymPy's
    ``exp(Float(1e500000))`` never returns; its argument reduction needs that many digits)."""
    return bool(value.is_Number) and value is not sp.nan and value.is_finite is not False \
        and abs(value) > _FLOAT_MAX


def _far_limit(op: str, argument: sp.Expr, derivative: bool = False) -> sp.Expr:
    """exp/sigmoid/tanh/sin/cos (or their derivative) at an argument beyond float64, as float64
    sees it: exp -> oo or 0, sigmoid -> 1 or 0, tanh -> +-1 (derivatives oo or 0, 0, 0); sin and
    cos of such an argument have no checkable value (nan: ``undefined``)."""
    positive = argument > 0
    if op == "exp":
        return sp.oo if positive else sp.Integer(0)
    if op in ("sin", "cos"):
        return sp.nan
    if derivative:
        return sp.Integer(0)
    if op == "sigmoid":
        return sp.Integer(1 if positive else 0)
    return sp.Integer(1 if positive else -1)  # tanh


def _at_point(op: str, args: Sequence[sp.Expr]) -> sp.Expr:
    """The op's SymPy constructor applied to numbers, reduced by `_real_or_nan`. SymPy's
    number classes raise where an expression would give nan (``Float(0)/Float(0)``); then
    the op is applied to symbols and the numbers substituted, which gives SymPy's value.
    exp/sigmoid/tanh/sin/cos of a number beyond float64 take their float64 limit (`_far_limit`)."""
    if op in _TRANSCENDENTAL and _huge(args[0]):
        return _far_limit(op, args[0])
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


@dataclass
class Row:
    """One derivative dL/d``wrt`` at the point: SymPy's closed form and value, the engine's
    value, a central finite difference, and whether they agree.

    ``status`` is ``agree``, ``disagree``, ``kink`` (not differentiable here: not a failure),
    ``undefined`` (no real value here: not a failure) or ``infinite`` / ``overflow``
    (both sides infinite, or the exact value is beyond float64 and the engine gives inf).
    """

    wrt: str
    kind: str
    """``input`` or ``node``."""
    expr: sp.Expr = field(repr=False)
    form: str
    """``simplified``, ``factored``, ``derived`` (as `sympy.diff` gave it) or ``nodes``
    (the chain rule over node symbols: large graphs)."""
    symbolic_value: float
    engine: float
    finite_difference: float | None
    step: float | None
    fd_tolerance: float | None
    abs_error: float | None
    rel_error: float | None
    ok: bool
    status: str
    note: str = ""
    output: str = "L"
    exact: sp.Expr = field(default=sp.nan, repr=False)
    """The high-precision SymPy value (a SymPy number, ``zoo`` or ``nan``)."""
    in_nodes: sp.Expr | None = field(default=None, repr=False)
    """The closed form with intermediate nodes' expressions written as their names
    (``2*x*z4`` for the seed's dL/dW1), where they appear whole."""

    @property
    def symbolic_nodes(self) -> str:
        """`in_nodes` as plain text (the closed form itself when no node appears whole)."""
        return _print(sp.sstr, self.expr if self.in_nodes is None else self.in_nodes)

    @property
    def symbolic(self) -> str:
        """The closed form as plain text."""
        return _print(sp.sstr, self.expr)

    @cached_property
    def pretty(self) -> str:
        """The closed form as SymPy's Unicode pretty text."""
        return _print(lambda expr: sp.pretty(expr, use_unicode=True), self.expr)

    @cached_property
    def latex(self) -> str:
        """The closed form in LaTeX (names that are not plain identifiers as escaped text)."""
        names = {symbol: latex_name(symbol.name) for symbol in self.expr.free_symbols
                 if isinstance(symbol, sp.Symbol) and not _IDENTIFIER.fullmatch(symbol.name)}
        return _print(lambda expr: sp.latex(expr, symbol_names=names), self.expr)

    @property
    def label(self) -> str:
        return f"d{self.output}/d{self.wrt}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "wrt": self.wrt, "kind": self.kind, "symbolic": self.symbolic, "pretty": self.pretty,
            "latex": self.latex, "symbolic_nodes": self.symbolic_nodes, "form": self.form,
            "symbolic_value": json_number(self.symbolic_value),
            "symbolic_digits": _digits_text(self.exact), "engine": json_number(self.engine),
            "finite_difference": json_number(self.finite_difference), "step": json_number(self.step),
            "fd_tolerance": json_number(self.fd_tolerance), "abs_error": json_number(self.abs_error),
            "rel_error": json_number(self.rel_error), "ok": self.ok, "status": self.status,
            "note": self.note,
        }


def _print(printer: Any, expr: sp.Expr) -> str:
    """A SymPy printer's text; SymPy's printers can raise on odd forms (LaTeX of
    ``Max(2, zoo**b)`` does), then the plain ``str``."""
    try:
        return printer(expr)
    except Exception:  # any printer bug: fall back to the plainest form
        return str(expr)


def _digits_text(value: sp.Expr) -> str:
    if value.is_Float:
        return sp.sstr(value.evalf(DIGITS), full_prec=False)
    return sp.sstr(value)


def _fmt(value: float | None, digits: int = 10) -> str:
    return "" if value is None else f"{value:.{digits}g}"


class CheckReport:
    """The result of `check`: one `Row` per input and per operation node, ``ok`` when none
    disagrees, the worst errors, and renderings as text, Markdown, LaTeX, HTML and JSON.

    >>> report = check("y = x**2", x=3)
    >>> report.ok, [row.wrt for row in report.rows], report.worst_abs_error
    (True, ['x', 'y'], 0.0)
    """

    def __init__(self, graph: Graph, point: Mapping[str, float], rows: Sequence[Row], *,
                 rtol: float, atol: float, full: bool):
        self.graph = graph
        self.point = dict(point)
        self.rows = tuple(rows)
        self.rtol = rtol
        self.atol = atol
        self.full = full
        """True when the rows carry full closed forms, False for the node form (large graphs)."""
        self.ok = all(row.ok for row in self.rows)
        compared = [row for row in self.rows if row.abs_error is not None]
        self.worst_abs_error: float = max((row.abs_error for row in compared), default=0.0)  # type: ignore
        self.worst_rel_error: float = max((row.rel_error for row in compared  # type: ignore[misc]
                                           if row.rel_error is not None), default=0.0)

    def __getitem__(self, wrt: str) -> Row:
        for row in self.rows:
            if row.wrt == wrt:
                return row
        raise KeyError(f"no row for {wrt!r}")

    @property
    def failures(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if not row.ok)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def counts(self) -> dict[str, int]:
        """How many rows have each status (agree, disagree, kink, undefined, infinite, overflow)."""
        return {status: sum(1 for row in self.rows if row.status == status) for status in _STATUSES}

    def summary(self) -> str:
        """One line: the point, the verdict with a count per status, the tolerances, the worst errors.

        >>> check("L = relu(x)*y", x=0, y=2).summary()  # doctest: +ELLIPSIS
        'check of L at x=0, y=2: ok (3 agree, 1 kink) ...'
        """
        point = ", ".join(f"{name}={_fmt(value)}" for name, value in self.point.items())
        listed = ", ".join(f"{count} {status}" for status, count in self.counts.items() if count)
        failed = "".join(f" {row.wrt}" for row in self.failures[:8])
        failed += " ..." if len(self.failures) > 8 else ""
        verdict = f"ok ({listed or 'no rows'})" if self.ok else f"FAILED ({listed}; failing:{failed})"
        return (f"check of {self.graph.output} at {point or 'no inputs'}: {verdict} "
                f"(rtol {self.rtol:g}, atol {self.atol:g}; worst abs error {self.worst_abs_error:.3g}, "
                f"worst rel error {self.worst_rel_error:.3g})")

    def _cells(self, digits: int) -> list[list[str]]:
        header = ["wrt", "kind", "SymPy", "engine", "finite diff", "step", "abs error", "rel error", "status"]
        body = [[row.wrt, row.kind, _fmt(row.symbolic_value, digits), _fmt(row.engine, digits),
                 _fmt(row.finite_difference, digits), _fmt(row.step, 3), _fmt(row.abs_error, 3),
                 _fmt(row.rel_error, 3), row.status] for row in self.rows]
        return [header, *body]

    def _notes(self) -> list[str]:
        return [f"{row.label}: {row.note}" for row in self.rows if row.note]

    def to_text(self, digits: int = 10) -> str:
        """The report as a plain-text table (deterministic: same graph and point, same text)."""
        forms = [f"{row.label} = {row.symbolic}"
                 + (f" = {row.symbolic_nodes}" if row.symbolic_nodes != row.symbolic else "")
                 for row in self.rows]
        heading = ("closed forms (SymPy)" if self.full
                   else "chain rule over node symbols (SymPy; the graph is too large for closed forms)")
        lines = [self.summary(), "", heading, *forms, "", table(self._cells(digits))]
        notes = self._notes()
        if notes:
            lines += ["", "notes", *notes]
        return "\n".join(lines)

    __str__ = to_text

    def __repr__(self) -> str:
        return (f"<CheckReport {'ok' if self.ok else 'FAILED'}: {len(self.rows)} rows, "
                f"{len(self.failures)} disagree, worst rel error {self.worst_rel_error:.3g}>")

    def to_markdown(self, digits: int = 10) -> str:
        """The report as a Markdown table (closed forms in backticks, user text escaped for tables;
        outside the code spans ``<``, ``>`` and ``&`` as HTML entities, so no raw HTML gets through)."""
        def cell(text: str) -> str:
            return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'").replace("\n", " ")

        def prose(text: str) -> str:  # outside code spans Markdown passes raw HTML: entities
            return cell(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))

        header = ["derivative", "closed form", "SymPy", "engine", "finite diff", "step", "abs error",
                  "rel error", "status"]
        lines = [f"**{prose(self.summary())}**", "", "| " + " | ".join(header) + " |",
                 "|" + "---|" * len(header)]
        for row, values in zip(self.rows, self._cells(digits)[1:], strict=True):
            lines.append("| " + " | ".join([prose(row.label), f"`{cell(row.symbolic)}`", *values[2:]]) + " |")
        notes = self._notes()
        if notes:
            lines += ["", *(f"- {prose(note)}" for note in notes)]
        return "\n".join(lines)

    def to_latex(self, digits: int = 10) -> str:
        """The closed forms as a LaTeX ``align*`` environment, with values and status as text."""
        def text(value: str) -> str:
            return _latex_text(value)

        lines = [r"\begin{align*}"]
        for row in self.rows:
            lines.append(
                rf"\frac{{\partial {latex_name(self.graph.output)}}}{{\partial {latex_name(row.wrt)}}} "
                rf"&= {row.latex} && \text{{{text(_fmt(row.symbolic_value, digits))}; engine "
                rf"{text(_fmt(row.engine, digits))}; {text(row.status)}}} \\")
        lines.append(r"\end{align*}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """HTML for Jupyter: a table, every piece of user text escaped."""
        header = ["derivative", "closed form", "SymPy", "engine", "finite diff", "step", "abs error",
                  "rel error", "status", "note"]
        rows = []
        for row, values in zip(self.rows, self._cells(10)[1:], strict=True):
            colour = "" if row.ok else ' style="background:#fdd"'
            cells = [row.label, row.symbolic, *values[2:], row.note]
            rows.append(f"<tr{colour}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
        return (f"<div><p><b>{html.escape(self.summary())}</b></p><table>{head}{''.join(rows)}"
                "</table></div>")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: ``ok``, ``rows`` and the settings; non-finite numbers as strings."""
        return {
            "ok": self.ok, "output": self.graph.output,
            "point": {name: json_number(value) for name, value in self.point.items()},
            "rtol": self.rtol, "atol": self.atol, "full": self.full,
            "worst_abs_error": json_number(self.worst_abs_error),
            "worst_rel_error": json_number(self.worst_rel_error),
            "rows": [row.to_dict() for row in self.rows],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)?")


@functools.lru_cache(maxsize=65536)
def latex_name(name: str) -> str:
    """A name in LaTeX: SymPy's rendering for plain identifiers (``W_{1}``), otherwise upright
    text with LaTeX's special characters escaped (``50%``, ``a&b``, ``{y}``)."""
    if _IDENTIFIER.fullmatch(name):
        return sp.latex(sp.Symbol(name))
    return rf"\text{{{_latex_text(name)}}}"


def _latex_text(text: str) -> str:
    special = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
               "%": r"\%", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}
    return "".join(special.get(char, char) for char in text)


# --- the check ---------------------------------------------------------------------------


def check(subject: str | Graph | Expr | Trace, values: Any = None, /, *, rtol: float = RTOL,
          atol: float = ATOL, simplify: bool = True, **named: float) -> CheckReport:
    """Check the engine's gradients of a formula, graph or trace against SymPy and finite
    differences; like autograd's ``check_grads``, but returning a report.

    ``subject`` is formula text, a `Graph`, a builder `Expr` or a `Trace` (which brings its
    values). Values come as keywords, a mapping or a sequence in input order, as for `grad`
    (an input named like an option, ``rtol``, must be in the mapping). ``simplify=False``
    skips `sympy.simplify` (the forms are then only factored: faster, same numbers).

    >>> report = check("L = relu(x) * y", x=0, y=2)
    >>> report.ok, report["x"].status
    (True, 'kink')
    >>> print(report["x"].note.partition(";")[0])
    not differentiable here: relu at 0 (node z1's argument x)
    """
    for name, tolerance in (("rtol", rtol), ("atol", atol)):
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not (
                math.isfinite(tolerance) and tolerance >= 0):
            raise CheckError(f"{name} must be a finite number >= 0, not {tolerance!r}")
    if isinstance(subject, Trace):
        if values is not None or named:
            raise InputValueError("a Trace carries its own values: give no others")
        trace = subject
    else:
        if isinstance(subject, str):
            graph = parse(subject)
        elif isinstance(subject, Expr):
            graph = build(subject)
        elif isinstance(subject, Graph):
            graph = subject
        else:
            raise CheckError("check takes a formula, a Graph, an Expr or a Trace, "
                             f"not {type(subject).__name__}")
        from . import grad
        trace = grad(graph, values, **named)
    return _Checker(trace, float(rtol), float(atol), simplify=bool(simplify)).run()


class _Checker:
    """One check: the graph's structure, the high-precision point and the rows."""

    def __init__(self, trace: Trace, rtol: float, atol: float, *, simplify: bool = True):
        self.trace = trace
        self.graph = graph = trace.graph
        self.rtol, self.atol = rtol, atol
        self.simplify = simplify
        self.n = len(graph)
        self.args = graph.arg_indices
        self.depends = _depends(graph)
        reaches = [False] * self.n
        self.out = graph.index(graph.output)
        reaches[self.out] = True
        for i in range(self.n - 1, -1, -1):
            if reaches[i]:
                for a in self.args[i]:
                    reaches[a] = True
        self.live = [r and d for r, d in zip(reaches, self.depends, strict=True)]
        self.point = {name: trace.values[graph.index(name)] for name in graph.inputs}
        operations = sum(1 for node in graph.nodes if node.op not in (INPUT, CONST))
        self.full = operations <= FULL_NODES and _tree_size(graph) <= FULL_TREE
        self.simplified = 0
        self.fd_spent = 0
        self.steps = [(i, OPS[node.op].forward, *(self.args[i] if len(self.args[i]) == 2
                                                  else (self.args[i][0], -1)))
                      for i, node in enumerate(graph.nodes) if node.op not in (INPUT, CONST)]
        self.step_positions = [step[0] for step in self.steps]
        self.branches = [(i, "pow_constant" if node.op == "pow" and not self.depends[self.args[i][1]]
                          else node.op, self.args[i][0], self.args[i][-1])
                         for i, node in enumerate(graph.nodes) if node.op in _BRANCHING]
        self.branch_positions = [branch[0] for branch in self.branches]

    def reference_values(self) -> list[sp.Expr]:
        """Every node's value at the point with `DIGITS` digits, node by node through the op
        table (faithful: SymPy never sees the whole expression, so x/x at 0 stays 0/0 = nan)."""
        values: list[sp.Expr] = []
        for i, node in enumerate(self.graph.nodes):
            if node.op == INPUT:
                values.append(_number(exact(self.trace.values[i])))
            elif node.op == CONST:
                values.append(_number(exact(node.value)))  # type: ignore[arg-type]
            else:
                values.append(_at_point(node.op, [values[a] for a in self.args[i]]))
        return values

    def run(self) -> CheckReport:
        graph = self.graph
        self.ref = self.reference_values()
        self.conventions: dict[int, tuple[sp.Expr, ...]] = {}
        self.uncompared: set[int] = set()
        # arguments SymPy found constant (v*0 -> 0): a kink fed only by them is no kink for any row
        self.flat = [False] * self.n
        if self.full:
            for i, expr in enumerate(to_sympy(graph).values()):
                self.flat[i] = self.depends[i] and _is_number(expr)
        self.kinks = self._kinks()
        # at a kink the engine is compared with its documented convention there and SymPy's
        # local derivatives elsewhere, through the chain rule node by node
        self._expected: list[sp.Expr] | None = None
        self.forms: dict[int, sp.Expr] = {}
        self.binary_point: dict[sp.Expr, sp.Expr] | None = None
        self.undefined = self._undefined()
        self.infinite = self._undefined(infinite=True)
        wrts = [i for i, node in enumerate(graph.nodes)
                if node.op == INPUT or (node.op != CONST and self.depends[i])]
        if self.full:
            exprs = to_sympy(graph)
            output = exprs[graph.output]
            point = {exprs[name]: _number(exact(value)) for name, value in self.point.items()}
            names: dict[sp.Expr, sp.Expr] = {}
            for i, node in enumerate(graph.nodes):
                expr = exprs[node.name]
                if node.op not in (INPUT, CONST) and i != self.out and self.depends[i] and expr.args:
                    names.setdefault(expr, sp.Symbol(node.name, real=True))
                    names.setdefault(-expr, -sp.Symbol(node.name, real=True))
            # exp(x**x) at x = 100000: substituting the point into a closed form would build
            # exp(Float(1e500000)), which never returns; the node form's values are guarded
            far = self._far_nodes()
            chain_values = self._chain()[1] if far else None
            if not far and all(map(math.isfinite, self.point.values())):
                # the inputs as the engine holds them, exactly (53 bits fit in 30 digits)
                self.binary_point = {exprs[name]: sp.Float(exact_binary(value), DIGITS)
                                     for name, value in self.point.items()}
            rows = []
            for i in wrts:
                node = graph.nodes[i]
                form = sp.diff(output, exprs[node.name]) if node.op == INPUT else _adjoint(graph, exprs, i)
                self.forms[i] = form
                value = (chain_values[i] if chain_values is not None
                         else _real_or_nan(_substitute(form, point)))
                row = self._row(i, *self._shape(form), value)
                row.in_nodes = row.expr.xreplace(names)
                rows.append(row)
        else:
            expressions, values = self._chain()
            rows = [self._row(i, expressions[i], "nodes", values[i]) for i in wrts]
        return CheckReport(graph, self.point, rows, rtol=self.rtol, atol=self.atol, full=self.full)

    def _far_nodes(self) -> list[int]:
        """The live exp/sigmoid/tanh/sin/cos nodes whose argument is beyond float64 (`_huge`)."""
        return [i for i, node in enumerate(self.graph.nodes)
                if self.live[i] and node.op in _TRANSCENDENTAL and _huge(self.ref[self.args[i][0]])]

    def _shape(self, expr: sp.Expr) -> tuple[sp.Expr, str]:
        """The closed form to show: simplified within the budget, else factored, else as derived."""
        size = sp.count_ops(expr) if expr.args else 0
        if size == 0:
            return expr, "simplified"
        if (size <= SIMPLIFY_OPS and self.simplify and self.simplified < SIMPLIFY_ROWS
                and _worth_simplifying(expr)):
            self.simplified += 1
            simpler = sp.simplify(expr)
            if sp.count_ops(simpler) <= size:
                return simpler, "simplified"
        if size <= FACTOR_OPS:
            return sp.factor_terms(expr), "factored"
        return expr, "derived"

    def _chain(self, conventions: Mapping[int, tuple[sp.Expr, ...]] | None = None
               ) -> tuple[dict[int, sp.Expr], list[sp.Expr]]:
        """Node form for large graphs: dL/dz = sum over z's consumers c of dL/dc * dc/dz, each
        local derivative by `sympy.diff` of the node's own expression, written with node symbols
        and evaluated at high precision node by node (linear in the graph's size). With
        ``conventions``, those nodes' local derivatives take the given values (kinks)."""
        conventions = conventions or {}
        graph, ref = self.graph, self.ref
        symbols = [sp.Symbol(node.name, real=True) if self.depends[i] else ref[i]
                   for i, node in enumerate(graph.nodes)]
        adjoint = [sp.Symbol(f"d{graph.output}/d{node.name}", real=True) for node in graph.nodes]
        terms: list[list[sp.Expr]] = [[] for _ in graph.nodes]
        values: list[sp.Expr] = [sp.Integer(0)] * self.n
        values[self.out] = sp.Integer(1)
        for i in range(self.n - 1, -1, -1):
            node = graph.nodes[i]
            if not self.live[i] or node.op in (INPUT, CONST):
                continue
            upstream = values[i]
            args = self.args[i]
            locals_ = _local_partials(node.op, tuple(None if self.depends[a] else ref[a] for a in args))
            for slot, a in enumerate(args):
                partial = locals_[slot]
                if partial is None or not self.live[a]:
                    continue
                dummies = _slot_symbols(len(args))
                if i in conventions:
                    at_point = conventions[i][slot]
                elif node.op in _TRANSCENDENTAL and _huge(ref[args[0]]):
                    at_point = _far_limit(node.op, ref[args[0]], derivative=True)
                else:
                    at_point = _substitute(partial, {d: ref[b] for d, b in zip(dummies, args, strict=True)})
                values[a] = values[a] + upstream * _real_or_nan(at_point)
                terms[a].append(adjoint[i] * partial.xreplace(
                    {d: symbols[b] for d, b in zip(dummies, args, strict=True)}))
        expressions = {i: sp.Integer(1) if i == self.out else sp.Add(*terms[i]) for i in range(self.n)}
        return expressions, [_real_or_nan(value) for value in values]

    def _kinks(self) -> dict[int, str]:
        """For each node whose gradient passes a non-differentiable point, the first such note."""
        notes: dict[int, str] = {}
        values, ref = self.trace.values, self.ref
        for k, node in enumerate(self.graph.nodes):
            if not self.live[k] or node.op in (INPUT, CONST):
                continue
            args = [values[a] for a in self.args[k]]
            exact_args = [ref[a] for a in self.args[k]]
            names = [self.graph.nodes[a].name for a in self.args[k]]
            where = None
            if node.op in ("relu", "abs", "sqrt") and (args[0] == 0 or exact_args[0] == 0):
                where = f"{node.op} at 0 (node {node.name}'s argument {names[0]})"
            elif node.op in ("max", "min") and (args[0] == args[1] or exact_args[0] == exact_args[1]):
                where = f"{node.op} of a tie (node {node.name}: {names[0]} = {names[1]} = {_fmt(args[0])})"
            elif node.op == "pow" and (args[0] == 0 or exact_args[0] == 0) and self._pow_kink(k, args[1]):
                where = f"pow with base 0 (node {node.name}: {names[0]} = 0)"
            elif node.op == "pow" and args[0] < 0 and self.depends[self.args[k][1]]:
                where = (f"pow with a negative base and a variable exponent (node {node.name}: "
                         f"{names[0]} = {_fmt(args[0])}), real only at integer exponents")
            if where is None:
                continue
            convention = (f"the engine follows PyTorch: {OPS[node.op].convention}"
                          if node.op != "pow" or args[0] == 0
                          else "the engine uses d/db a**b = a**b*log(a), which is nan for a < 0")
            note = f"not differentiable here: {where}; {convention}"
            local = self._convention(node.op, args, exact_args)
            upstream = self._upstream(k)
            if all(self.flat[a] or not self.depends[a] for a in self.args[k]):
                # relu(v*0): the kink's argument does not move with any input, so no input's
                # derivative meets it (intermediate nodes, varied alone, still do)
                upstream = {a for a in upstream if self.graph.nodes[a].op != INPUT}
            if local is None:
                self.uncompared.update(upstream)
            else:
                self.conventions[k] = local
            for a in upstream:
                notes.setdefault(a, note)
        return notes

    def _upstream(self, k: int) -> set[int]:
        """The live nodes node k's gradient flows to (its arguments, theirs, ...)."""
        seen: set[int] = set()
        stack = list(self.args[k])
        while stack:
            a = stack.pop()
            if a in seen or not self.live[a]:
                continue
            seen.add(a)
            stack.extend(self.args[a])
        return seen

    @staticmethod
    def _convention(op: str, args: Sequence[float],
                    exact_args: Sequence[sp.Expr]) -> tuple[sp.Expr, ...] | None:
        """The engine's documented local derivatives at a kink (the op table's ``convention``), when both
        the engine's arguments and the exact ones are at the kink; else ``None`` (not compared:
        the engine took a side of the kink that the exact point does not, or the convention is
        nan, as for a negative base with a variable exponent)."""
        if op in ("relu", "abs", "sqrt"):
            if args[0] != 0 or not exact_args[0].is_zero:  # Float(0) == 0 is False in SymPy
                return None
            return (sp.oo,) if op == "sqrt" else (sp.Integer(0),)
        if op in ("max", "min"):
            if args[0] != args[1] or not (exact_args[0] - exact_args[1]).is_zero:
                return None
            return sp.Rational(1, 2), sp.Rational(1, 2)
        if op == "pow" and args[0] == 0 and exact_args[0].is_zero and exact_args[1].is_finite:
            b = exact_args[1]  # d/da = b*0**(b-1) (0 when b = 0); d/db = 0**b*log(0): 0 for b >= 0
            power = sp.Integer(0) if b > 1 else (sp.Integer(1) if (b - 1).is_zero else sp.oo)
            d_base = sp.Integer(0) if b.is_zero else b * power
            return d_base, (sp.Integer(0) if b >= 0 else -sp.oo)
        return None

    def _pow_kink(self, k: int, exponent: float) -> bool:
        """Base 0 is smooth for a constant exponent that is 0 or at least 1, a kink otherwise."""
        return self.depends[self.args[k][1]] or not (exponent == 0 or exponent >= 1)

    def _undefined(self, infinite: bool = False) -> dict[int, str]:
        """Rows whose derivative is taken where the function has no real value: the node itself
        or a node downstream of it has none (0/0, log(-1), or a nan from a constant
        subexpression). SymPy may have simplified such a value away (x/x -> 1, d(nan)/dx = 0),
        so its closed form is no reference there. With ``infinite``, the same for nodes whose
        value is infinite (log(0*x): SymPy's 0*x -> 0 hides the pole). The reason names the
        most upstream such node; one sweep from the output back."""
        reasons: dict[int, str] = {}
        for j in range(self.n - 1, -1, -1):
            if not self.live[j]:
                continue
            reason = reasons.get(j)
            value = self.ref[j]
            if value is sp.nan or (infinite and (value is sp.zoo or value in (sp.oo, -sp.oo))):
                node = self.graph.nodes[j]  # the most upstream one wins: it is met last
                statement = f" ({self.graph.statement(node.name)})" if node.inputs else ""
                reason = (f"node {node.name} is {value} here{statement}" if infinite and value is not sp.nan
                          else f"node {node.name} has no real value here{statement}")
                if node.op in ("sin", "cos") and _huge(self.ref[self.args[j][0]]):
                    reason = (f"node {node.name} is {node.op} of an argument beyond float64{statement}: "
                              "no checkable value")
            if reason is not None:  # the gradient of j and of every node upstream passes here
                reasons[j] = reason
                for a in self.args[j]:
                    if self.live[a]:
                        reasons[a] = reason
        return reasons

    def _row(self, i: int, expr: sp.Expr, form: str, value: sp.Expr) -> Row:
        node = self.graph.nodes[i]
        engine = self.trace.grads[i]
        fd, step, fd_tol, fd_note = self._finite_difference(i, value)
        reference = _to_float(value)
        notes: list[str] = []
        abs_error: float | None = None
        rel_error: float | None = None
        if i in self.kinks:
            status, ok = "kink", True
            notes.append(self.kinks[i])
            if any(isinstance(sub, sp.Heaviside) for sub in sp.preorder_traversal(expr)) or form == "nodes":
                notes.append("SymPy's value is not a reference here (it takes Heaviside(0) = 1/2)")
            if i not in self.uncompared:
                ok, abs_error, rel_error, note = self._kink_compare(engine, self.expected[i])
                status = "kink" if ok else "disagree"
                notes.append(note)
        elif value is sp.nan or i in self.undefined:
            status, ok = "undefined", True
            notes.append("no real derivative here: " + self.undefined.get(i, "SymPy's value is not real"))
        elif value is sp.zoo or value in (sp.oo, -sp.oo):
            agree = math.isinf(engine) and (value is sp.zoo or (engine > 0) == (value is sp.oo))
            status, ok = ("infinite", True) if agree else ("disagree", False)
            if agree:
                abs_error = rel_error = 0.0
            notes.append(f"SymPy's value is {value}" + ("" if agree else f" but the engine gives {engine!r}"))
            signed = self._signed_pole(i) if value is sp.zoo else None
            if signed is not None:  # shown with its sign; IEEE's signed zeros may give the other one
                value, reference = signed, _to_float(signed)
                notes.append(f"its limit approaching the point along every input at once, from both sides, "
                             f"is {signed}" + ("" if (engine > 0) == (signed is sp.oo) or not agree
                                               else f" (the engine's {engine!r} has the other sign)"))
        elif abs(value) > _FLOAT_MAX:
            agree = math.isinf(engine) and (engine > 0) == (value > 0)
            status, ok = ("overflow", True) if agree else ("disagree", False)
            if agree:
                abs_error = rel_error = 0.0
            notes.append(f"the exact value {_digits_text(sp.Float(value, 6))} is beyond float64"
                         + ("; the engine overflows to inf, as IEEE arithmetic does" if agree else ""))
        else:
            abs_error, rel_error, ok = self._compare(engine, value)
            binary = self._at_binary_point(i) if not ok else None
            if binary is not None and self._compare(engine, binary)[2]:
                ok = True
                abs_error, rel_error, _ = self._compare(engine, binary)
                notes.append(f"agrees with SymPy at the inputs' exact binary values "
                             f"({_digits_text(binary)}): the decimal point differs from them by under "
                             "an ulp, which this derivative amplifies")
            status = "agree" if ok else "disagree"
            if not ok:
                notes.append(f"the engine gives {engine!r}, SymPy {_digits_text(value)}")
                if not math.isfinite(engine) and any(map(math.isinf, self.trace.values + self.trace.grads)):
                    notes.append("the engine's float64 arithmetic met an infinity on the way "
                                 "(inf*0 and inf - inf give nan)")
            if fd is not None and fd_tol is not None and abs(fd - reference) > fd_tol:
                # SymPy is the oracle: a finite difference off it says nothing against an engine
                # that agrees with it (sin(x/y) at y = 0.001 is too curved for the step)
                notes.append(f"finite difference unreliable here: it is off SymPy's value by more than "
                             f"its error estimate {fd_tol:.3g}" + ("" if ok else ", like the engine"))
        if not ok and i in self.infinite and not self._finite_by_nodes(i):
            # a pole on the way that the derivative itself passes: SymPy may have simplified it away
            status, ok, abs_error, rel_error = "undefined", True, None, None
            notes[:] = ["no finite derivative here: " + self.infinite[i]]
        forward = self._forward_mismatch(i)
        if forward:
            ok, status = False, "disagree"
            notes.append(forward)
        if fd_note:
            notes.append(fd_note)
        return Row(node.name, "input" if node.op == INPUT else "node", expr, form, reference, engine, fd,
                   step, fd_tol, abs_error, rel_error, ok, status, "; ".join(notes), self.graph.output,
                   value)

    def _signed_pole(self, i: int) -> sp.Expr | None:
        """The sign of a ``zoo`` (SymPy's unsigned infinity, ``-1/y**2`` at 0): the limit of
        row i's closed form as every input approaches the point together from above and from
        below (inputs + t and - t, t -> 0+), when both give the same signed infinity. Only small
        forms without Max/Min/Abs/Heaviside/sign (`sympy.limit` is slow on large ones)."""
        form = self.forms.get(i)
        if form is None or self.binary_point is None or sp.count_ops(form) > SIMPLIFY_OPS or any(
                isinstance(sub, _PIECEWISE) or sub.is_Float for sub in sp.preorder_traversal(form)):
            return None
        t = sp.Dummy("t", positive=True)
        limits = set()
        for direction in (1, -1):
            shifted = _substitute(form, {symbol: exact(value) + direction * t
                                         for symbol, value in zip(self.binary_point, self.point.values(),
                                                                  strict=True)})
            try:
                limits.add(sp.limit(shifted, t, 0, "+"))
            except Exception:  # SymPy's limit raises NotImplementedError and worse on odd forms
                return None
        (limit,) = limits if len(limits) == 1 else (None,)
        return limit if limit in (sp.oo, -sp.oo) else None

    def _at_binary_point(self, i: int) -> sp.Expr | None:
        """Row i's closed form at the float inputs' exact binary values (full closed forms only)."""
        if self.binary_point is None or i not in self.forms:
            return None
        value = _real_or_nan(_substitute(self.forms[i], self.binary_point))
        return value if value.is_Number and value.is_finite and abs(value) <= _FLOAT_MAX else None

    @property
    def expected(self) -> list[sp.Expr]:
        """Every node's dL/dz by the chain rule node by node at 30 digits, with the documented
        conventions at kinks (computed once, when first needed)."""
        if self._expected is None:
            self._expected = self._chain(self.conventions)[1]
        return self._expected

    def _finite_by_nodes(self, i: int) -> bool:
        """Whether dL/d(node i), node by node (where SymPy merges nothing), is a finite real:
        a pole or nan in another summand (sin(x) + 1/y at y = 0) leaves dL/dx defined."""
        value = self.expected[i]
        return bool(value.is_Number) and value is not sp.nan and bool(value.is_finite)

    def _kink_compare(self, engine: float, expected: sp.Expr) -> tuple[bool, float | None, float | None, str]:
        """A kink row against the convention's value: ok, errors and a note."""
        text = _digits_text(expected)
        where = "the convention at the kink and SymPy's local derivatives elsewhere"
        if expected is sp.nan:
            return True, None, None, f"not compared: {where} give no real value"
        if expected is sp.zoo or expected in (sp.oo, -sp.oo) or abs(expected) > _FLOAT_MAX:
            ok = math.isinf(engine) and (expected is sp.zoo or (engine > 0) == (expected > 0))
            errors = (0.0, 0.0) if ok else (None, None)
        else:
            abs_error, rel_error, ok = self._compare(engine, expected)
            errors = (abs_error, rel_error)
        if ok:
            return True, *errors, f"the engine agrees with {where} ({text})"
        return False, *errors, f"the engine gives {engine!r}, but {where} give {text}"

    def _compare(self, engine: float, value: sp.Expr, rtol: float | None = None) -> tuple[float, float, bool]:
        """Absolute and relative error of a float against a finite SymPy number, and whether
        ``|engine - value| <= atol + rtol*|value|`` (mpmath at `DIGITS` digits: SymPy's own
        arithmetic is a hundred times slower)."""
        if not math.isfinite(engine):
            return math.inf, math.inf, False
        with mpmath.workdps(DIGITS):
            exact_value = value._to_mpmath(mpmath.mp.prec)
            difference = abs(mpmath.mpf(engine) - exact_value)
            magnitude = abs(exact_value)
            abs_error = float(difference)
            rel_error = float(difference / magnitude) if magnitude else (0.0 if not difference else math.inf)
            rtol = self.rtol if rtol is None else rtol
            return abs_error, rel_error, bool(difference <= self.atol + rtol * magnitude)

    def _forward_mismatch(self, i: int) -> str:
        """The node's forward rule on the engine's own argument values, against the same op at
        high precision: catches a wrong forward rule (which finite differences would follow)."""
        node = self.graph.nodes[i]
        if node.op in (INPUT, CONST):
            return ""
        engine = self.trace.values[i]
        args = [self.trace.values[a] for a in self.args[i]]
        if not all(math.isfinite(a) for a in args):
            return ""  # IEEE arithmetic on inf and nan: nothing for SymPy to say
        value = _at_point(node.op, [sp.Float(a, DIGITS) for a in args])
        if value is sp.nan:
            agree = math.isnan(engine)
        elif value is sp.zoo or value in (sp.oo, -sp.oo) or abs(value) > _FLOAT_MAX:
            agree = math.isinf(engine) and (value is sp.zoo or (engine > 0) == (value > 0))
        else:
            agree = self._compare(engine, value, rtol=max(self.rtol, 4 * _EPS))[2]
        if agree:
            return ""
        return (f"forward value differs: the engine computes {self.graph.statement(node.name)} = {engine!r} "
                f"from its arguments, SymPy {_digits_text(value)}")

    def _evaluate(self, k: int, value: float, base: list[float]) -> tuple[float, int | None]:
        """The output with node k set to ``value`` and every later node recomputed, and the
        first later node whose side of a kink or domain edge (`_side`) differs from the unperturbed pass."""
        vals = list(base)
        vals[k] = value
        for i, rule, a, b in self.steps[bisect_right(self.step_positions, k):]:
            vals[i] = rule(vals[a]) if b < 0 else rule(vals[a], vals[b])
        for i, op, a, b in self.branches[bisect_right(self.branch_positions, k):]:
            if _side(op, vals[a], vals[b]) != _side(op, base[a], base[b]):
                return vals[self.out], i
        return vals[self.out], None

    def _finite_difference(self, k: int, value: sp.Expr) -> tuple[float | None, float | None,
                                                                   float | None, str]:
        """Central difference with step h = eps**(1/3)*max(1, |v|) and its error estimate
        (the gap to the 2h difference plus the rounding bound). A step that moves a later
        non-smooth node to another branch (relu's argument across 0, ...) gives no estimate."""
        base = list(self.trace.values)
        v = base[k]
        if not math.isfinite(v):
            return None, None, None, "no finite difference: the value is not finite"
        cost = 4 * (len(self.steps) - bisect_right(self.step_positions, k))
        if self.fd_spent + cost > FD_BUDGET:
            return None, None, None, f"no finite difference: over the budget of {FD_BUDGET:,} evaluations"
        self.fd_spent += cost
        h = _EPS ** (1 / 3) * max(1.0, abs(v))
        estimates, scale = [], abs(base[self.out])
        for step in (h, 2 * h):
            up, down = v + step, v - step
            (f_up, crossed_up), (f_down, crossed_down) = (self._evaluate(k, up, base),
                                                          self._evaluate(k, down, base))
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


def _side(op: str, a: float, b: float) -> tuple[int, ...]:
    """Which side of its kinks and domain edges an op's arguments are on (`_BRANCHING` ops)."""
    if op in ("max", "min"):
        return ((a > b) - (a < b),)
    if op == "div":
        return ((b > 0) - (b < 0),)
    if op == "pow_constant" and math.isfinite(b) and b == math.floor(b) and b >= 0:
        return ()  # a**2: smooth through base 0, on either side
    if op in ("pow", "pow_constant"):  # a negative base is real only at integer exponents
        return ((a > 0) - (a < 0), int(a < 0 and math.isfinite(b) and b == math.floor(b)))
    return ((a > 0) - (a < 0),)  # relu, abs, sqrt, log


_BRANCHING = frozenset({"relu", "abs", "sqrt", "log", "max", "min", "div", "pow"})

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


_PIECEWISE = (sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign)


SIMPLIFY_FUNCTIONS = 2
"""... and only on forms with at most this many distinct function applications (measured: 0.5-1 s
a form with four, ``exp(-x)``, ``exp(-cos(y))``, ``sin(z)``, ``cos(y)``)."""
SIMPLIFY_ARGUMENT_OPS = 4
"""... and only on forms whose functions' arguments have at most this many operations (measured:
``sin((z + 2 + x)*(z - x))``'s derivative 0.5 s, ``sin((z + 2 + x)*(z + 1/2 - x))``'s 1.2 s,
``sin((z + 2 + x)*(z + 1/2 - x**2))``'s minutes: trigsimp's product-to-sum rules multiply out).
``sin(x*w + y*b - c)`` has four."""
SIMPLIFY_NUMBER = 1000
"""... and only on forms whose numbers are integers or fractions with numerator and denominator
at most this big (``cos(1000000*x)`` sends trigsimp into a search that grows with the number),
and no Floats (folded transcendental constants)."""


def _worth_simplifying(expr: sp.Expr) -> bool:
    """`sympy.simplify` is slow; polynomials and quotients of them gain nothing from it
    that `factor_terms` does not give, so it runs only on forms with functions in them, and
    not on forms with Max/Min/Abs/Heaviside/sign (measured: seconds per form, spent
    comparing their arguments), with more than `SIMPLIFY_FUNCTIONS` distinct functions, with
    a function of a long argument (`SIMPLIFY_ARGUMENT_OPS`), or with large or inexact numbers
    (`SIMPLIFY_NUMBER`). Structural rules, not a timer: the same form
    is always shown the same way."""
    worth = False
    functions: set[sp.Expr] = set()
    for sub in sp.preorder_traversal(expr):
        if isinstance(sub, _PIECEWISE) or sub.is_Float:
            return False
        if sub.is_Rational and (abs(sub.p) > SIMPLIFY_NUMBER or sub.q > SIMPLIFY_NUMBER):
            return False
        if isinstance(sub, sp.Function):
            functions.add(sub)
            if len(functions) > SIMPLIFY_FUNCTIONS or any(sp.count_ops(argument) > SIMPLIFY_ARGUMENT_OPS
                                                           for argument in sub.args):
                return False
        worth = worth or isinstance(sub, sp.Function) or (isinstance(sub, sp.Pow) and not sub.exp.is_Integer)
    return worth


# --- local derivatives as text, for the diagrams' edge labels ----------------------


def local_derivative_texts(graph: Graph, *, latex: bool = False) -> dict[tuple[str, int], str]:
    """Each edge's local derivative as a formula in the names of its node's arguments,
    keyed by ``(node name, argument slot)``; an edge from a constant has none. Plain text
    writes a product with ``·``; ``latex=True`` gives LaTeX.

    >>> from graphviz_grad import parse
    >>> texts = local_derivative_texts(parse("L = (x*W1 + y*W2 - B)**2"))
    >>> texts["L", 0], texts["z1", 1], texts["z4", 1], texts["z3", 0]
    ('2·z4', 'x', '-1', '1')
    >>> local_derivative_texts(parse("y = x*x"))["y", 1]  # one slot at a time: d(a*b)/db = a
    'x'
    >>> local_derivative_texts(parse("y = exp(2*W1)"), latex=True)["y", 0]
    'e^{z_{1}}'
    """
    texts: dict[tuple[str, int], str] = {}
    for node in graph.nodes:
        if node.op in (INPUT, CONST):
            continue
        constants = tuple(graph[name].value if graph[name].op == CONST else None for name in node.inputs)
        templates = _local_templates(node.op, constants, latex)
        for slot, template in enumerate(templates):
            if template is not None:
                texts[node.name, slot] = _named(template, node.inputs, latex)
    return texts


def operation_latex(graph: Graph) -> dict[str, str]:
    """Each operation node's formula in LaTeX, in the names of its arguments (a constant as
    written, so ``2*3`` stays ``2 \\cdot 3``).

    >>> from graphviz_grad import parse
    >>> forms = operation_latex(parse("L = (x*W1 + y*W2 - B)**2"))
    >>> forms["z1"], forms["z4"], forms["L"]
    ('x \\\\cdot W_{1}', 'z_{3} - B', 'z_{4}^{2}')
    """
    forms = {}
    for node in graph.nodes:
        if node.op not in (INPUT, CONST):
            shown = [_latex_constant(graph[name].value) if graph[name].op == CONST else latex_name(name)
                     for name in node.inputs]
            forms[node.name] = _named(_operation_template(node.op), shown, latex=None)
    return forms


_MARKS = tuple(f"\x00{slot}\x00" for slot in range(2))


@functools.lru_cache(maxsize=1024)
def _local_templates(op: str, constants: tuple[float | None, ...], latex: bool) -> tuple[str | None, ...]:
    """The local derivatives of one operation (`_local_partials`), per slot, printed with marks
    for the argument names (None for a constant's slot)."""
    shown = tuple(None if value is None else _shown_constant(value) for value in constants)
    slots = _slot_symbols(len(constants))
    return tuple(None if local is None else _marked(local, slots, latex)
                 for local in _local_partials(op, shown))


@functools.lru_cache(maxsize=64)
def _operation_template(op: str) -> str:
    slots = _slot_symbols(OPS[op].arity)
    return _marked(_construct(op, slots), slots, latex=True)


def _shown_constant(value: float) -> sp.Expr:
    """A constant as a formula shows it: exact when it is a short decimal (0.1 as 1/10, so
    derivatives stay exact), otherwise a float (1e308 is not printed with 309 digits)."""
    if value == 0 or (len(repr(value)) <= 12 and 1e-6 <= abs(value) < 1e15):
        return exact(value)
    return sp.Float(value, 15)


def _latex_constant(value: float) -> str:
    text = sp.latex(_shown_constant(value))
    return f"\\left({text}\\right)" if text.startswith("-") else text


def _marked(expr: sp.Expr, slots: Sequence[sp.Expr], latex: bool) -> str:
    """``expr`` over the slot symbols, printed with a mark where each argument's name goes."""
    marks = dict(zip(slots, _MARKS, strict=False))
    if latex:
        return _print(lambda e: sp.latex(e, mul_symbol="dot", symbol_names=marks), expr)
    return product_dots(sp.sstr(expr.xreplace({slot: sp.Symbol(mark) for slot, mark in marks.items()})))


def _named(template: str, names: Sequence[str], latex: bool | None) -> str:
    """The template with each mark replaced by its argument's name (LaTeX names when ``latex``;
    ``None``: the names are given ready)."""
    shown = [latex_name(name) for name in names] if latex else names
    for mark, name in zip(_MARKS, shown, strict=False):
        template = template.replace(mark, name)
    return template
