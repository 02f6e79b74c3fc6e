"""The SymPy check of a Hessian: every entry against SymPy's second derivative at the point.

>>> from graphviz_grad.hessian import hessian
>>> report = check_hessian(hessian("L = (x*W1 + y*W2 - B)**2", wrt="W1,B", x=5, y=10, W1=0.1, W2=0.2, B=0.5))
>>> report.ok, report.complete, [row.status for row in report.rows]
(True, True, ['agree', 'agree', 'agree', 'agree'])
>>> report.rows[1].symbolic, report.rows[1].sympy
('-2*x', -10.0)

The output's expression comes from the same translation as the gradient check
(`graphviz_grad.symbolic.to_sympy`: the op table's SymPy constructors, no text); SymPy
differentiates it twice and evaluates the result at the exact decimal point with 30 digits.
SymPy is imported on the first call. The check is bounded: graphs over `FULL_NODES` operations
are not differentiated symbolically, and entries left when `TIME_BUDGET` seconds have passed
are ``not checked``. An entry that is infinite for both only because a power on the way is past
the size SymPy computes (``a**a**a**a`` at a = 10: its exponent alone would be gigabytes) is
``too large``, as in the gradient check: SymPy took it as infinite without computing it, so it is
not checked either. Either makes the command line exit with 3.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..hessian import KINK, UNDEFINED, Hessian
from ..serialize import json_number

RTOL = 1e-7
ATOL = 1e-10
TIME_BUDGET = 20.0
"""Seconds for the symbolic second derivatives of one check; entries after it are not checked."""
SYMBOLIC_TEXT = 200
"""A second derivative longer than this many characters is shown cut, with an ellipsis."""
STATUSES = ("agree", "disagree", "kink", "infinite", "undefined", "too large", "not checked")
UNCHECKED = ("too large", "not checked")
"""The statuses that leave the check incomplete (exit code 3)."""


@dataclass(frozen=True)
class HessianRow:
    """One entry: the engine's number, SymPy's, and the verdict."""

    row: str
    column: str
    engine: float
    sympy: float | None
    status: str
    note: str = ""
    symbolic: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column,
                "engine": self.status if self.status in (KINK, UNDEFINED) else json_number(self.engine),
                "sympy": json_number(self.sympy), "status": self.status, "symbolic": self.symbolic,
                "note": self.note}


@dataclass(frozen=True)
class HessianReport:
    """Every entry's row; ``ok`` is False when any disagrees, ``complete`` when every entry was checked."""

    rows: tuple[HessianRow, ...]

    @property
    def ok(self) -> bool:
        return all(row.status != "disagree" for row in self.rows)

    @property
    def complete(self) -> bool:
        return all(row.status not in UNCHECKED for row in self.rows)

    @property
    def exit_code(self) -> int:
        """0 all agree (or are kinks, infinite, undefined alike), 1 a disagreement, 3 some not checked
        (over the time budget, too large for SymPy) and none disagrees: the codes of ``check``."""
        return 1 if not self.ok else 0 if self.complete else 3

    def summary(self) -> str:
        counts = {status: sum(row.status == status for row in self.rows) for status in STATUSES}
        listed = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
        return f"SymPy check of {len(self.rows)} entries: {listed or 'nothing to compare'}"

    def to_dict(self) -> dict[str, Any]:
        """``ok`` and ``rows``, as the ``check`` object of ``hessian --json`` (completeness is in the
        rows' statuses and the exit code)."""
        return {"ok": self.ok, "rows": [row.to_dict() for row in self.rows]}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def check_hessian(hessian: Hessian, *, rtol: float = RTOL, atol: float = ATOL,
                  time_budget: float = TIME_BUDGET) -> HessianReport:
    """Compare every entry of ``hessian`` with SymPy's second derivative (see the module doc)."""
    import sympy as sp

    from ..graph import CONST, INPUT
    from .derive import FULL_NODES, FULL_TREE
    from .translate import MAX_BITS, _number, _real_or_nan, _tree_size, bounded_substitute, exact, to_sympy

    graph, wrt = hessian.graph, hessian.wrt
    operations = sum(node.op not in (INPUT, CONST) for node in graph.nodes)
    too_big = operations > FULL_NODES or _tree_size(graph) > FULL_TREE
    exprs = {} if too_big else to_sympy(graph)
    output = exprs.get(graph.output)
    if output is not None:  # |u| of a u not known to be real (log(a)) differentiates through re and im;
        output = output.replace(sp.Abs, lambda u: sp.sqrt(u**2))  # sqrt(u**2) does not, and is |u|
    # at `DIGITS`-digit Floats, as the gradient check: exact rationals would let 10**10**10 run
    point = {exprs[name]: _number(exact(value)) for name, value in hessian.point.items()} if exprs else {}
    capped = _past_cap(hessian) if exprs else set()
    deadline = time.monotonic() + time_budget
    faults = any(hessian.trace.status(node.name) != "ok" for node in graph.nodes)
    done: dict[tuple[int, int], tuple[float | None, str, str, str]] = {}
    rows = []
    for i, first in enumerate(wrt):
        for j, second in enumerate(wrt):
            engine, status = hessian.matrix[i][j], hessian.statuses[i][j]
            key = (min(i, j), max(i, j))
            if status in (KINK, UNDEFINED):
                note = ("not twice differentiable here: a kink at " + ", ".join(hessian.kinks)
                        if status == KINK else "a node on the way is outside its operation's domain")
                rows.append(HessianRow(first, second, engine, None, status, note))
                continue
            if key not in done:
                if too_big:
                    done[key] = (None, "not checked", f"over the size SymPy differentiates in closed form "
                                 f"({operations} operations; the limit is {FULL_NODES})", "")
                elif time.monotonic() > deadline:
                    done[key] = (None, "not checked", f"over the time budget of {time_budget:g} s", "")
                else:
                    expr = sp.diff(output, exprs[first], exprs[second])
                    try:  # an unevaluated Derivative (of re(log(a)), ...) needs subs
                        at = (expr.subs(point).doit() if expr.has(sp.Derivative)
                              else bounded_substitute(expr, point))
                        value = _real_or_nan(at)
                    except (ArithmeticError, TypeError, ValueError, RecursionError) as error:
                        done[key] = (None, "not checked", f"SymPy could not evaluate it here ({error})"[:200],
                                     _short(str(expr)))
                    else:
                        number, verdict, note = _verdict(engine, value, rtol, atol, faults)
                        if verdict == "infinite" and {first, second} & capped:
                            verdict, note = "too large", (
                                f"too large to check: a power on the way needs an exponent of more than "
                                f"2**{MAX_BITS.bit_length() - 1} bits, so SymPy took it as infinite "
                                "instead of computing it")
                        done[key] = (number, verdict, note, _short(str(expr)))
            number, verdict, note, symbolic = done[key]
            rows.append(HessianRow(first, second, engine, number, verdict, note, symbolic))
    return HessianReport(tuple(rows))


def _past_cap(hessian: Hessian) -> set[str]:
    """The inputs upstream of a node whose value at the point is a power past `MAX_BITS` (node by
    node at `DIGITS` digits, as the gradient check's reference values): SymPy's second derivatives
    through it are taken as infinite, never computed."""
    from ..graph import CONST, INPUT
    from ..hessian import _upstream_inputs
    from .translate import _at_point, _number, _too_large, exact

    graph, values = hessian.graph, hessian.trace.values
    reference: list[Any] = []
    capped = []
    for i, node in enumerate(graph.nodes):
        if node.op in (INPUT, CONST):
            reference.append(_number(exact(values[i] if node.op == INPUT else node.value)))  # type: ignore[arg-type]
            continue
        args = [reference[a] for a in graph.arg_indices[i]]
        if _too_large(node.op, args):
            capped.append(node.name)
        reference.append(_at_point(node.op, args))
    return _upstream_inputs(graph, capped)


def _verdict(engine: float, value: Any, rtol: float, atol: float, faults: bool
             ) -> tuple[float | None, str, str]:
    """SymPy's number (a float), the status and a note for one entry."""
    import sympy as sp

    from .translate import _to_float

    number = _to_float(value)
    if value is sp.nan or value is sp.zoo or value in (sp.oo, -sp.oo):
        if engine != engine and value in (sp.nan, sp.zoo):
            return number, "undefined", "no real value here, for SymPy as for the engine"
        if math.isinf(engine) and (value is sp.zoo or number == engine):
            return number, "infinite", "infinite here, for SymPy as for the engine"
        if faults:
            return number, "undefined", "SymPy's closed form has no value here; the engine's trace has " \
                                        "non-finite nodes"
        return number, "disagree", f"the engine gives {engine!r}, SymPy's closed form has no finite value"
    if not math.isfinite(engine):
        if math.isinf(engine) and number == engine:  # a real number beyond float64's range
            return number, "infinite", f"beyond float64: SymPy {sp.Float(value, 6)}, the engine {engine!r}"
        return number, "disagree", f"the engine gives {engine!r}, SymPy {number!r}"
    difference = abs(sp.Float(engine, 30) - value)
    if difference <= atol + rtol * abs(value):
        return number, "agree", ""
    return number, "disagree", f"the engine gives {engine!r}, SymPy {number!r}"


def _short(text: str) -> str:
    return text if len(text) <= SYMBOLIC_TEXT else text[:SYMBOLIC_TEXT - 1] + "…"


def rows_table(rows: Sequence[HessianRow], digits: int = 10) -> list[list[str]]:
    """The report as text cells: a header, then one line per entry."""
    from ..text import format_number

    cells = [["entry", "engine", "SymPy", "status", "second derivative"]]
    for row in rows:
        engine = row.status if row.status in (KINK, UNDEFINED) else format_number(row.engine, digits)
        cells.append([f"d2/d{row.row}d{row.column}", engine,
                      "" if row.sympy is None else format_number(row.sympy, digits),
                      row.status + (f" ({row.note})" if row.note and row.status != "agree" else ""),
                      row.symbolic])
    return cells
