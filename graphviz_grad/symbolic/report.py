"""The check's report: one `Row` per derivative and the `CheckReport` in text, Markdown,
LaTeX, HTML and JSON.

>>> from graphviz_grad import check
>>> print(check("y = x**2", x=3).to_markdown().splitlines()[2])
| derivative | closed form | SymPy | engine | finite diff | step | abs error | rel error | status |
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from ..graph import Graph
from ..serialize import json_number
from ..text import table
from .notation import _IDENTIFIER, _latex_text, _print, latex_name
from .translate import DIGITS

_STATUSES = ("agree", "disagree", "kink", "undefined", "infinite", "overflow", "not checked")


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
        return _printed("text", self.expr if self.in_nodes is None else self.in_nodes)

    @property
    def symbolic(self) -> str:
        """The closed form as plain text."""
        return _printed("text", self.expr)

    @property
    def pretty(self) -> str:
        """The closed form as SymPy's Unicode pretty text."""
        return _printed("pretty", self.expr)

    @property
    def latex(self) -> str:
        """The closed form in LaTeX (names that are not plain identifiers as escaped text)."""
        return _printed("latex", self.expr)

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


@functools.lru_cache(maxsize=4096)
def _printed(kind: str, expr: sp.Expr) -> str:
    """A form printed once (the forms are derived once per graph, so a check at a new point
    prints nothing again): ``text``, ``pretty`` (Unicode) or ``latex``."""
    if kind == "text":
        return _print(sp.sstr, expr)
    if kind == "pretty":
        return _print(lambda e: sp.pretty(e, use_unicode=True), expr)
    names = {symbol: latex_name(symbol.name) for symbol in expr.free_symbols
             if isinstance(symbol, sp.Symbol) and not _IDENTIFIER.fullmatch(symbol.name)}
    return _print(lambda e: sp.latex(e, symbol_names=names), expr)


def _digits_text(value: sp.Expr) -> str:
    if value.is_Float:
        return sp.sstr(value.evalf(DIGITS), full_prec=False)
    return sp.sstr(value)


def _fmt(value: float | None, digits: int = 10) -> str:
    return "" if value is None else f"{value:.{digits}g}"


class CheckReport:
    """The result of `check`: one `Row` per input and per operation node, ``ok`` when none
    disagrees, the worst errors, and renderings as text, Markdown, LaTeX, HTML and JSON.

    >>> from graphviz_grad import check
    >>> report = check("y = x**2", x=3)
    >>> report.ok, [row.wrt for row in report.rows], report.worst_abs_error
    (True, ['x', 'y'], 0.0)
    """

    def __init__(self, graph: Graph, point: Mapping[str, float], rows: Sequence[Row], *,
                 rtol: float, atol: float, full: bool, timeout: float | None = None):
        self.graph = graph
        self.point = dict(point)
        self.rows = tuple(rows)
        self.rtol = rtol
        self.atol = atol
        self.full = full
        """True when the rows carry full closed forms, False for the node form (large graphs)."""
        self.ok = all(row.ok for row in self.rows)
        self.timeout = timeout
        self.complete = not any(row.status == "not checked" for row in self.rows)
        """False when the time budget left rows ``not checked`` (the command line exits 3)."""
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

        >>> from graphviz_grad import check
        >>> check("L = relu(x)*y", x=0, y=2).summary()  # doctest: +ELLIPSIS
        'check of L at x=0, y=2: ok (3 agree, 1 kink) ...'
        """
        point = ", ".join(f"{name}={_fmt(value)}" for name, value in self.point.items())
        listed = ", ".join(f"{count} {status}" for status, count in self.counts.items() if count)
        failed = "".join(f" {row.wrt}" for row in self.failures[:8])
        failed += " ..." if len(self.failures) > 8 else ""
        verdict = f"ok ({listed or 'no rows'})" if self.ok else f"FAILED ({listed}; failing:{failed})"
        if self.ok and not self.complete:
            verdict = f"INCOMPLETE ({listed}: out of the {self.timeout:g} s budget)"
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
            "ok": self.ok, "complete": self.complete, "output": self.graph.output,
            "point": {name: json_number(value) for name, value in self.point.items()},
            "rtol": self.rtol, "atol": self.atol, "full": self.full,
            "worst_abs_error": json_number(self.worst_abs_error),
            "worst_rel_error": json_number(self.worst_rel_error),
            "rows": [row.to_dict() for row in self.rows],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


