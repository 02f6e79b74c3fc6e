"""The gradient calculator: the seed page's results for L = (x·W1 + y·W2 - B)², or for any formula.

>>> result = calculate()  # the seed page's defaults, Example 1
>>> result.loss, result.gradients["W1"], result.gradients["W2"], result.gradients["B"]
(4.0, 20.0, 40.0, -4.0)
>>> print(result.copy_text())
Loss: L = 4
Gradients: dL/dW1 = 20, dL/dW2 = 40, dL/dB = -4
Inputs: x = 5, y = 10, W1 = 0.1, W2 = 0.2, B = 0.5
>>> from graphviz_grad.seed import EXAMPLE_2
>>> calculate(**EXAMPLE_2).loss  # Example 2: the model fits exactly
0.0

Any formula works the same way; its parameters (``wrt``) default to all its inputs:

>>> calculate("y = sin(a)*b", a=0, b=2).gradients
{'a': 2.0, 'b': 0.0}

A `Calculation` has the table, the chart, the formulas (SymPy), the worked derivation, what the
gradients' signs mean and one gradient-descent step, as text, Markdown, LaTeX or JSON.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any

from .charts import bar_chart, text_bars
from .derivation import DIGITS, Derivation, derive
from .descent import LEARNING_RATE, parameter_names, positive_number
from .dot import format_number
from .engine import Trace, backward, forward
from .errors import InputValueError
from .formula import parse
from .graph import Graph
from .seed import DEFAULTS, FIELDS, SEED_FORMULA, default_parameters, is_seed, seed_graph
from .serialize import json_number
from .text import code_block, code_span, product_dots, table


@dataclass(frozen=True)
class Row:
    """One line of the table: an input, whether it is a trained parameter, its value and dL/d it."""

    name: str
    role: str
    """``parameter`` (updated by gradient descent) or ``input`` (data, held fixed)."""
    value: float
    gradient: float


@dataclass(frozen=True)
class Update:
    """One gradient-descent step ``p ← p - lr·dL/dp`` on the parameters, and the loss after it."""

    lr: float
    before: Mapping[str, float]
    gradients: Mapping[str, float]
    after: Mapping[str, float]
    loss_before: float
    loss_after: float

    @property
    def verdict(self) -> str:
        """``lower``, ``higher``, ``unchanged`` or ``not finite`` (the loss before or after, or a
        new parameter value, is inf or nan: the step means nothing)."""
        numbers = [self.loss_before, self.loss_after, *self.after.values()]
        if not all(math.isfinite(number) for number in numbers):
            return "not finite"
        if self.loss_after < self.loss_before:
            return "lower"
        return "higher" if self.loss_after > self.loss_before else "unchanged"


class Calculation:
    """The calculator's result for one formula at one point (see `calculate`)."""

    def __init__(self, trace: Trace, formula: str, parameters: Sequence[str], order: Sequence[str],
                 lr: float, digits: int):
        self.trace = trace
        self.graph = trace.graph
        self.formula = formula
        """The formula as the user wrote it (or the graph as a program)."""
        self.parameters = tuple(parameters)
        self.order = tuple(order)
        """The inputs in display order (the seed page's x, y, W1, W2, B for the seed)."""
        self.lr = lr
        self.digits = digits
        self.output = self.graph.output
        self.loss = trace.output_value
        gradients = trace.gradients
        self.gradients = {name: gradients[name] for name in self.order}
        self.values = {name: trace.value(name) for name in self.order}
        self.update = self._update()
        self.check_skipped: str | None = None
        """Why the SymPy check was not run (the web page gives it a time budget); None: it was."""

    def number(self, value: float | None) -> str:
        return format_number(value, self.digits)

    def _update(self) -> Update:
        after = {name: self.values[name] - self.lr * self.gradients[name] for name in self.parameters}
        new_values = {**self.values, **after}
        loss_after = forward(self.graph, new_values)[self.graph.index(self.output)]
        return Update(self.lr, MappingProxyType({name: self.values[name] for name in self.parameters}),
                      MappingProxyType({name: self.gradients[name] for name in self.parameters}),
                      MappingProxyType(after), self.loss, loss_after)

    # --- the parts of the page -----------------------------------------------------------

    @property
    def rows(self) -> tuple[Row, ...]:
        """The table: every input with its role, value and gradient, in display order."""
        return tuple(Row(name, "parameter" if name in self.parameters else "input", self.values[name],
                         self.gradients[name]) for name in self.order)

    @cached_property
    def curvature(self) -> Curvature:
        """The Hessian's largest eigenvalue in the parameters and the stable step lr < 2/λmax."""
        return curvature_of(self.trace, self.parameters)

    def curvature_lines(self) -> list[str]:
        """The curvature section: λmax of the Hessian in the parameters, and the stable learning rate."""
        found = self.curvature
        if found.max_eigenvalue is None:
            return [f"Curvature: {found.note}"]
        names = ", ".join(self.parameters)
        lines = [f"largest eigenvalue of the Hessian in {names}: λmax = {self.number(found.max_eigenvalue)}"]
        if found.stable_lr_below is None:
            lines.append("λmax <= 0: no step size overshoots along a direction of positive curvature here")
        else:
            lines.append(f"gradient descent is stable for lr < 2/λmax = {self.number(found.stable_lr_below)} "
                         f"(here lr = {self.number(self.lr)}: "
                         + ("stable)" if self.lr < found.stable_lr_below else "too large: it overshoots)"))
        return lines

    @cached_property
    def derivation(self) -> Derivation:
        return derive(self.trace, digits=self.digits)

    @cached_property
    def report(self) -> Any:
        """The SymPy cross-check (`graphviz_grad.symbolic.CheckReport`); SymPy loads on first use."""
        from .symbolic import check

        return check(self.trace)

    @property
    def formulas(self) -> list[tuple[str, str, str]]:
        """``(label, closed form, form in node names)`` for dL/dinput, from SymPy.

        >>> calculate().formulas[1]
        ('dL/dW1', '2·x·(-B + W1·x + W2·y)', '2·x·z4')
        """
        if self.check_skipped:
            return []
        return [(row.label, _dotted(row.symbolic, row.expr), _dotted(row.symbolic_nodes, row.expr))
                for row in self.report.rows if row.kind == "input"]

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

    def update_lines(self) -> list[str]:
        """``W1 ← W1 - lr·dL/dW1 = 0.1 - 0.001·20 = 0.08`` per parameter, then the new loss."""
        update = self.update
        out = self.output
        lines = []
        for name in self.parameters:
            old, g, new = update.before[name], update.gradients[name], update.after[name]
            lines.append(f"{name} ← {name} - lr·d{out}/d{name} = {self.number(old)} - "
                         f"{self.number(self.lr)}·{_paren(self.number(g))} = {self.number(new)}")
        verdict = update.verdict
        before, after = self.number(update.loss_before), self.number(update.loss_after)
        if before == after and update.loss_before != update.loss_after:  # too few digits to see it
            before, after = format_number(update.loss_before, 17), format_number(update.loss_after, 17)
        stable = self.curvature.stable_lr_below
        smaller = "try a smaller learning rate" + (f", lr < 2/λmax = {self.number(stable)}"
                                                   if stable is not None else "")
        advice = {"higher": f": the step overshoots; {smaller}",
                  "not finite": ": the step is unusable here"}.get(verdict, "")
        if verdict == "lower" and stable is not None and self.lr >= stable:
            advice = f"; but lr >= 2/λmax = {self.number(stable)}: repeated steps overshoot"
        lines.append(f"{out}: {before} → {after} ({verdict}{advice})")
        return lines

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

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready data; numbers that are not finite as ``"inf"``, ``"nan"``."""
        update = self.update
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
            "formulas": [{"label": label, "closed_form": closed, "in_nodes": nodes}
                         for label, closed, nodes in self.formulas],
            "check": ({"ok": None, "summary": f"not done: {self.check_skipped}", "text": self.check_line()}
                      if self.check_skipped else
                      {"ok": self.report.ok, "summary": self.report.summary(), "text": self.check_line()}),
            "derivation": self.derivation.to_dict(),
            "interpretation": self.interpretation(),
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


CURVATURE_PARAMETERS = 100
"""The calculator computes the Hessian for at most this many parameters."""


@dataclass(frozen=True)
class Curvature:
    """The Hessian's largest eigenvalue in the parameters, and the learning rate below which gradient
    descent does not overshoot on the local quadratic model: 2/λmax."""

    max_eigenvalue: float | None
    stable_lr_below: float | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The ``curvature`` object of ``calc --json``: ``max_eigenvalue`` and ``stable_lr_below`` (null
        where there is none; the text's curvature section says why)."""
        return {"max_eigenvalue": json_number(self.max_eigenvalue),
                "stable_lr_below": json_number(self.stable_lr_below)}


def curvature_of(trace: Trace, parameters: Sequence[str]) -> Curvature:
    """λmax and 2/λmax for the parameters at the trace's point.

    >>> curvature_of(backward(seed_graph(), DEFAULTS), ["W1", "W2", "B"])
    Curvature(max_eigenvalue=252.0, stable_lr_below=0.007936507936507936, note='')
    """
    from .hessian import hessian

    if not parameters:
        return Curvature(None, None, "no parameters")
    if len(parameters) > CURVATURE_PARAMETERS:
        return Curvature(None, None, f"not computed for more than {CURVATURE_PARAMETERS} parameters")
    found = hessian(trace, wrt=list(parameters))
    top = found.max_eigenvalue
    if top is None:
        statuses = sorted({status for row in found.statuses for status in row} - {"ok"})
        return Curvature(None, None, "the Hessian has no ordinary value here (" + ", ".join(statuses) + ")")
    return Curvature(top, 2.0 / top if top > 0 else None)


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


def _paren(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


def _sign(value: float) -> str:
    return "+" if value > 0 else "-" if value < 0 else "0" if value == 0 else "nan"


@functools.lru_cache(maxsize=4096)
def _dotted(text: str, expr: Any) -> str:
    """SymPy's text with ``·`` for a product, unless a name itself holds a ``*`` (once per form:
    the forms are derived once per graph)."""
    if any("*" in getattr(symbol, "name", "") for symbol in expr.free_symbols):
        return text
    return product_dots(text)


def calculate(formula: str | Graph | None = None, values: Mapping[str, float] | None = None, /, *,
              wrt: Sequence[str] | str | None = None, lr: float = LEARNING_RATE, digits: int = DIGITS,
              **named: float) -> Calculation:
    """The calculator's result for ``formula`` (default: the seed) at ``values``.

    For the seed formula, values that are not given take the defaults (Example 1) and ``wrt``
    defaults to W1, W2, B; any other formula needs a value for every input, and ``wrt`` (the
    parameters that the interpretation and the update are about) defaults to all inputs.
    """
    graph = seed_graph() if formula is None else formula if isinstance(formula, Graph) else parse(formula)
    text = SEED_FORMULA if formula is None else formula if isinstance(formula, str) else str(graph)
    seed = is_seed(graph)
    given = dict(values or {})
    twice = set(given) & set(named)
    if twice:
        raise InputValueError(f"{sorted(twice)[0]!r} is given both in values and as a keyword")
    point = {**(dict(DEFAULTS) if seed else {}), **given, **named}
    order = list(FIELDS) if seed else list(graph.inputs)
    parameters = (parameter_names(graph, wrt if wrt is not None else default_parameters(graph))
                  if graph.inputs or wrt is not None else ())
    lr = positive_number("the learning rate", lr)
    if isinstance(digits, bool) or not (isinstance(digits, int) and 1 <= digits <= 17):
        raise InputValueError(f"digits must be an integer from 1 to 17, not {digits!r}")
    trace = backward(graph, point)
    return Calculation(trace, text.strip(), [name for name in order if name in parameters], order,
                       lr, digits)


class Calculator:
    """The seed page as an object: its inputs, changed one at a time, and a way back to the defaults.

    >>> page = Calculator()
    >>> page.set(W1=0.3).loss
    9.0
    >>> page.values["W1"], page.reset().loss, page.values["W1"]
    (0.3, 4.0, 0.1)
    """

    def __init__(self, formula: str | Graph | None = None, defaults: Mapping[str, float] | None = None, *,
                 wrt: Sequence[str] | str | None = None, lr: float = LEARNING_RATE, digits: int = DIGITS):
        self.formula = formula
        self.wrt = wrt
        self.lr = lr
        self.digits = digits
        self.result = calculate(formula, defaults or {}, wrt=wrt, lr=lr, digits=digits)
        self.defaults = dict(self.result.values)
        self.values = dict(self.defaults)

    def set(self, /, **values: float) -> Calculation:
        """Change some inputs and recalculate; on bad input nothing changes and the error says why."""
        unknown = [name for name in values if name not in self.values]
        if unknown:
            raise InputValueError(f"{unknown[0]!r} is not an input (inputs: {', '.join(self.values)})")
        result = calculate(self.result.graph, {**self.values, **values}, wrt=self.result.parameters,
                           lr=self.lr, digits=self.digits)
        result.formula = self.result.formula
        self.values, self.result = dict(result.values), result
        return result

    def reset(self) -> Calculation:
        """Back to the defaults (for the seed: Example 1)."""
        return self.set(**self.defaults)

    def __repr__(self) -> str:
        """The formula, the current inputs and results, as one line.

        >>> Calculator("y = (a - 3)**2", {"a": 1})
        <Calculator y = (a - 3)**2 at a = 1: y = 4, dy/da = -4>
        """
        return f"<Calculator {self.result.summary()}>"
