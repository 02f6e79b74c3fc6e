"""The calculator's result in words and in formats: what the gradients' signs mean, the SymPy
verdict, the table, the chart, the copy block, and the whole page as text, Markdown, LaTeX or JSON
(the renderings of a `graphviz_grad.calculator.Calculation`).

>>> _explain_statuses([])
'.'
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from .calculator_step import DescentStep
from .charts import bar_chart, text_bars
from .derivation import Derivation
from .dot import format_number
from .graph import Graph
from .serialize import json_number
from .text import code_block, code_span, table


class CalculationText(DescentStep):
    """The renderings of a `graphviz_grad.calculator.Calculation` (a part of that class); they
    show the update and curvature sections of `graphviz_grad.calculator_step.DescentStep`."""

    formula: str
    order: tuple[str, ...]
    digits: int
    check_skipped: str | None
    derivation: Derivation
    report: Any
    formulas: list[tuple[str, str, str]]
    rows: tuple[Any, ...]

    def interpretation(self) -> list[str]:
        """What the sign of each parameter's gradient means, and which parameter matters most.

        Where SymPy finds dL/dparameter is not differentiable at this point (a relu at 0, a max
        tie), the line says so instead of reading a direction into the engine's convention.
        """
        out = self.output
        if not math.isfinite(self.loss):
            return [f"{out} = {self.number(self.loss)} here, so the gradients describe no slope of a "
                    f"finite loss: change the inputs first."]
        kinks = self._kink_notes()
        lines = []
        for name in self.parameters:
            g = self.gradients[name]
            label = f"d{out}/d{name} = {self.number(g)}"
            if name in kinks:
                lines.append(f"{label}, but {out} is not differentiable in {name} here: {kinks[name]}. "
                             f"The value is the engine's convention; its sign says little about "
                             f"either side.")
            elif g != g:
                lines.append(f"{label}: no slope here, so no direction; gradient descent cannot use it.")
            elif math.isinf(g):
                more = "increases" if g > 0 else "decreases"
                lines.append(f"{label}: the slope is infinite or beyond float64; increasing {name} "
                             f"{more} {out}, but a gradient-descent step would be infinite.")
            elif g > 0:
                lines.append(f"{label} > 0: increasing {name} increases {out}, so gradient descent "
                             f"lowers {name}.")
            elif g < 0:
                lines.append(f"{label} < 0: increasing {name} decreases {out}, so gradient descent "
                             f"raises {name}.")
            else:
                lines.append(f"{label}: a small change of {name} leaves {out} unchanged (to first "
                             f"order), so gradient descent keeps {name}.")
        finite = [(abs(self.gradients[name]), name) for name in self.parameters
                  if math.isfinite(self.gradients[name]) and self.gradients[name] != 0 and name not in kinks]
        if len(finite) > 1:
            size = max(pair[0] for pair in finite)
            top = [name for magnitude, name in finite if magnitude == size]
            if len(top) == 1:
                lines.append(f"{out} is most sensitive to {top[0]} (|d{out}/d{top[0]}| = "
                             f"{self.number(size)} is the largest).")
            else:
                lines.append(f"{out} is equally sensitive to {_and(top)} (each |gradient| = "
                             f"{self.number(size)}).")
        elif (self.parameters and not kinks and all(self.gradients[n] == 0 for n in self.parameters)):
            lines.append("Every parameter's gradient is 0: gradient descent stays here (a stationary "
                         "point in the parameters" + (")." if len(self.parameters) == len(self.order)
                                                      else "; the other inputs are held fixed)."))
        return lines

    def _kink_notes(self) -> dict[str, str]:
        """Parameter name → where the check found L not differentiable in it (its kink rows);
        without the check, where the engine's backward pass took a kink's convention upstream of it."""
        notes: dict[str, str] = {}
        if self.check_skipped:
            from .derivation import kinks

            for node, convention in kinks(self.trace):
                for name in self.parameters:
                    if name not in notes and name in _upstream(self.graph, node):
                        notes[name] = (f"{self.graph[node].op} at node {node} (the engine follows PyTorch: "
                                       f"{convention})")
            return notes
        for row in self.report.rows:
            if row.kind == "input" and row.wrt in self.parameters and row.status == "kink":
                notes[row.wrt] = row.note.removeprefix("not differentiable here: ").split(";")[0]
        return notes

    def chart_items(self) -> list[tuple[str, float]]:
        return [(f"d{self.output}/d{name}", self.gradients[name]) for name in self.order]

    def chart_text(self, width: int = 40) -> str:
        """|dL/dinput| as text bars, sign in front."""
        return text_bars(self.chart_items(), width=width, digits=min(self.digits, 6))

    def chart(self, fmt: str = "svg") -> bytes:
        """|dL/dinput| as an image (svg, png or pdf; needs matplotlib)."""
        point = ", ".join(f"{name} = {self.number(self.values[name])}" for name in self.order[:6])
        more = ", ..." if len(self.order) > 6 else ""
        return bar_chart(self.chart_items(), fmt, title=f"gradients of {self.output} at {point}{more}",
                         digits=min(self.digits, 6))

    def copy_text(self) -> str:
        """The "Copy results" block: the loss, the parameters' gradients, the input values."""
        def exact(value: float) -> str:  # pasted numbers keep every digit (shortest exact text)
            return format_number(value, 17)

        gradients = ", ".join(f"d{self.output}/d{name} = {exact(self.gradients[name])}"
                              for name in self.parameters)
        inputs = ", ".join(f"{name} = {exact(self.values[name])}" for name in self.order)
        return "\n".join([f"Loss: {self.output} = {exact(self.loss)}",
                          f"Gradients: {gradients}" if gradients else "Gradients: none",
                          f"Inputs: {inputs}" if inputs else "Inputs: none"])

    # --- renderings --------------------------------------------------------------------

    # --- renderings --------------------------------------------------------------------

    def table_rows(self) -> list[list[str]]:
        """The table as text cells: a header, then name, role, value and dL/dname per input."""
        header = ["name", "role", "value", f"d{self.output}/dname"]
        return [header, *([row.name, row.role, self.number(row.value), self.number(row.gradient)]
                          for row in self.rows)]

    def check_line(self) -> str:
        """The SymPy verdict in one line: agreement, or the count of each status."""
        if self.check_skipped:
            return f"SymPy check not done: {self.check_skipped}."
        report = self.report
        counts = report.counts
        if not report.ok:
            failing = ", ".join(f"{row.label} (engine {self.number(row.engine)}, SymPy "
                                f"{self.number(row.symbolic_value)})" for row in report.failures[:4])
            more = f" and {len(report.failures) - 4} more" if len(report.failures) > 4 else ""
            return f"SymPy DISAGREES on {len(report.failures)} derivative(s): {failing}{more}."
        if not report.rows:
            return f"SymPy check: nothing to compare ({self.output} has no inputs to differentiate by)."
        if counts["agree"] == len(report.rows):
            return (f"SymPy agrees: all {len(report.rows)} derivatives match (worst errors: absolute "
                    f"{report.worst_abs_error:.2g}, relative {report.worst_rel_error:.2g}).")
        listed = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
        return (f"SymPy check ok, but not every derivative is an ordinary number here ({listed}). "
                + _explain_statuses(report.rows))

    def to_text(self) -> str:
        """The whole page as plain text."""
        loss = f"{self.output} = {self.number(self.loss)}"
        key = [f"d{self.output}/d{name} = {self.number(self.gradients[name])}" for name in self.parameters]
        held = ", ".join(f"d{self.output}/d{name} = {self.number(self.gradients[name])}"
                         for name in self.order if name not in self.parameters)
        formulas = [f"{label} = {closed}" + (f" = {nodes}" if nodes != closed else "")
                    for label, closed, nodes in self.formulas]
        sections = [
            [f"Gradient calculator: {self.formula}",
             "at " + (", ".join(f"{name} = {self.number(v)}" for name, v in self.values.items())
                      or "no inputs")],
            ["╔" + "═" * (len(loss) + 4) + "╗", f"║  {loss}  ║", "╚" + "═" * (len(loss) + 4) + "╝",
             *key, *([f"(inputs held fixed: {held})"] if held else [])],
            ["Table", table(self.table_rows())],
            [f"Gradient magnitudes |d{self.output}/dname| (sign in front)", self.chart_text()],
            ["Formulas (SymPy)", f"{self.formula}", *formulas, self.check_line()],
            ["Derivation", self.derivation.to_text()],
            ["What the signs mean", *self.interpretation()],
            [f"Gradient-descent update (lr = {self.number(self.lr)})", *self.update_lines()],
            ["Curvature", *self.curvature_lines()],
            ["Copy", self.copy_text()],
        ]
        return "\n\n".join("\n".join(section) for section in sections)

    __str__ = to_text

    def to_markdown(self) -> str:
        """The whole page as Markdown; names and formulas sit in code spans, so no user text
        becomes Markdown or HTML."""
        def row(cells: Sequence[str]) -> str:  # a | splits a table cell even inside code: escaped
            return "| " + " | ".join(code_span(cell).replace("|", "\\|") if cell else ""
                                     for cell in cells) + " |"

        cells = self.table_rows()
        grid = ["| " + " | ".join(cells[0][:3]) + f" | {row(cells[0][3:])[2:-2]} |",
                "|---|---|---:|---:|", *(row(line) for line in cells[1:])]
        formulas = [f"- {code_span(f'{label} = {closed}')}"
                    + (f" = {code_span(nodes)}" if nodes != closed else "")
                    for label, closed, nodes in self.formulas]
        parts = [
            "## Gradient calculator", code_block(self.formula),
            f"**Loss: {code_span(f'{self.output} = {self.number(self.loss)}')}**",
            "### Table", "\n".join(grid),
            "### Gradient magnitudes", code_block(self.chart_text()),
            "### Formulas (SymPy)", "\n".join(formulas) if formulas else "(no inputs)",
            code_span(self.check_line()),
            "### Derivation", self.derivation.to_markdown(),
            "### What the signs mean", "\n".join(f"- {code_span(line)}" for line in self.interpretation()),
            f"### Gradient-descent update (lr = {self.number(self.lr)})",
            "\n".join(f"- {code_span(line)}" for line in self.update_lines()),
            "### Curvature", "\n".join(f"- {code_span(line)}" for line in self.curvature_lines()),
            "### Copy", code_block(self.copy_text()),
        ]
        return "\n\n".join(parts)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def to_latex(self) -> str:
        """The formulas and the derivation as LaTeX ``align*`` environments."""
        from .symbolic.notation import latex_name

        out = latex_name(self.output)
        rows = [f"\\frac{{\\partial {out}}}{{\\partial {latex_name(row.wrt)}}} &= {row.latex}"
                for row in ([] if self.check_skipped else self.report.rows) if row.kind == "input"]
        body = " \\\\\n".join(rows)
        return ("\\begin{align*}\n" + body + ("\n" if body else "") + "\\end{align*}\n\n"
                + self.derivation.to_latex())

    def checked_dict(self) -> dict[str, Any]:
        """The parts of `to_dict` that come from the SymPy check: ``check`` (``ok``, ``summary``,
        ``text``), ``formulas`` and ``interpretation`` (which reads the check's kinks).

        >>> from graphviz_grad.calculator import calculate
        >>> calculate().checked_dict()["check"]["ok"]
        True
        """
        check = ({"ok": None, "summary": f"not done: {self.check_skipped}", "text": self.check_line()}
                 if self.check_skipped else
                 {"ok": self.report.ok, "summary": self.report.summary(), "text": self.check_line()})
        return {"check": check,
                "formulas": [{"label": label, "closed_form": closed, "in_nodes": nodes}
                             for label, closed, nodes in self.formulas],
                "interpretation": self.interpretation()}

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready data; numbers that are not finite as ``"inf"``, ``"nan"``."""
        update = self.update
        checked = self.checked_dict()
        return {
            "formula": self.formula,
            "output": self.output,
            "loss": json_number(self.loss),
            "inputs": {name: json_number(value) for name, value in self.values.items()},
            "parameters": list(self.parameters),
            "gradients": {name: json_number(g) for name, g in self.gradients.items()},
            "table": [{"name": r.name, "role": r.role, "value": json_number(r.value),
                       "gradient": json_number(r.gradient)} for r in self.rows],
            "chart": [{"name": name, "label": label, "gradient": json_number(g),
                       "magnitude": json_number(abs(g)), "sign": _sign(g)}
                      for name, (label, g) in zip(self.order, self.chart_items(), strict=True)],
            "formulas": checked["formulas"],
            "check": checked["check"],
            "derivation": self.derivation.to_dict(),
            "interpretation": checked["interpretation"],
            "update": {"lr": update.lr, "verdict": update.verdict,
                       "parameters": [{"name": name, "value": json_number(update.before[name]),
                                       "gradient": json_number(update.gradients[name]),
                                       "new_value": json_number(update.after[name])}
                                      for name in self.parameters],
                       "loss": json_number(update.loss_before), "new_loss": json_number(update.loss_after),
                       "lines": self.update_lines()},
            "curvature": self.curvature.to_dict(),
            "copy": self.copy_text(),
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def summary(self) -> str:
        """One line: the formula, the point and the results (the repr of this and of `Calculator`).

        >>> from graphviz_grad.calculator import calculate
        >>> calculate("y = a*b", {"a": 2, "b": 3}).summary()
        'y = a*b at a = 2, b = 3: y = 6, dy/da = 3, dy/db = 2'
        """
        formula = "; ".join(line.strip() for line in self.formula.strip().splitlines() if line.strip())
        if len(formula) > 80:
            formula = formula[:79] + "…"
        point = ", ".join(f"{name} = {self.number(value)}" for name, value in self.values.items())
        results = [f"{self.output} = {self.number(self.loss)}"] + [
            f"d{self.output}/d{name} = {self.number(self.gradients[name])}" for name in self.parameters]
        return f"{formula} at {point}: {', '.join(results)}"

    def __repr__(self) -> str:
        return f"<Calculation {self.summary()}>"


_STATUS_MEANING = {
    "infinite": "infinite here (the function has a pole: no finite slope)",
    "overflow": "too large for float64, so the engine gives inf, as IEEE arithmetic does",
}


def _explain_statuses(rows: Sequence[Any], most: int = 3) -> str:
    """What the rows that are not ordinary numbers mean, in words, grouped by explanation (inputs first).

    A kink's explanation keeps the engine's convention: ``dL/dx: not differentiable here: relu at 0
    (node z1's argument x); the engine follows PyTorch: relu'(0) = 0``.
    """
    groups: dict[str, list[str]] = {}
    for row in sorted((r for r in rows if r.status != "agree"), key=lambda r: r.kind != "input"):
        clauses = row.note.split("; ")
        if row.status in _STATUS_MEANING:
            meaning = _STATUS_MEANING[row.status]
        else:
            meaning = "; ".join(clauses[:2] if row.status == "kink" else clauses[:1])
        groups.setdefault(meaning, []).append(row.label)
    parts = [f"{', '.join(labels)}: {meaning}" for meaning, labels in list(groups.items())[:most]]
    more = f" ({len(groups) - most} more in the check's notes)" if len(groups) > most else ""
    return ". ".join(parts) + more + "."


def _upstream(graph: Graph, name: str) -> set[str]:
    """The nodes that ``name`` is computed from."""
    found: set[str] = set()
    todo = [name]
    while todo:
        for argument in graph[todo.pop()].inputs:
            if argument not in found:
                found.add(argument)
                todo.append(argument)
    return found


def _and(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]


def _sign(value: float) -> str:
    return "+" if value > 0 else "-" if value < 0 else "0" if value == 0 else "nan"
