"""The gradient calculator as a notebook widget: one text box per input, and the loss, table,
chart, annotated graph and update following every change (`CalculatorPanel`).

>>> CalculatorPanel().update(W1="0.3").loss
9.0
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from .calculator import Calculation, Calculator
from .charts import ChartError
from .descent import LEARNING_RATE
from .display import Diagram
from .dot import format_number
from .errors import GraphvizGradError
from .graph import Graph
from .layout import LayoutError
from .seed import EXAMPLES, FIELDS, is_seed
from .text import table
from .widget_tools import _bundle, _live, _picture_layout, _widgets, parse_number

_TABLE_STYLE = ("<style>.gg-panel-table{border-collapse:collapse}"
                ".gg-panel-table td,.gg-panel-table th{padding:2px 10px;text-align:right}</style>")
"""The panel table's look: room between the columns, numbers aligned (a class of its own)."""


class CalculatorPanel:
    """The gradient calculator with one text box per input: the loss, the table, the bar chart,
    the annotated graph and one gradient-descent update follow every change.

    Typing a value that is not a finite number shows a message and keeps the last good result.
    For the seed, buttons load its two worked examples.
    """

    def __init__(self, formula: str | Graph | None = None, defaults: Mapping[str, float] | None = None, *,
                 wrt: Sequence[str] | str | None = None, lr: float = LEARNING_RATE, digits: int = 4):
        self.calculator = Calculator(formula, defaults, wrt=wrt, lr=lr, digits=digits)
        self.message = ""
        """Why the last change was refused (empty when it was taken)."""
        self._parts: dict[str, Any] | None = None
        self._quiet = False

    @property
    def result(self) -> Calculation:
        """The last good calculation."""
        return self.calculator.result

    @property
    def loss(self) -> float:
        return self.result.loss

    def update(self, /, **values: Any) -> Calculation:
        """Recalculate with some inputs changed (numbers, or text as typed in a box). Each box
        counts on its own: the good values are taken, and `message` names every bad one (whose
        input keeps its last good value), so one bad box never hides the other edits.

        >>> panel = CalculatorPanel()
        >>> panel.update(x="abc", W1="0.3").values["W1"], panel.message
        (0.3, "x: the value 'abc' is not a number")
        """
        numbers, refused = {}, []
        for name, value in values.items():
            try:
                numbers[name] = parse_number(name, value)
            except GraphvizGradError as error:
                refused.append(str(error))
        try:
            self.calculator.set(**numbers)
        except GraphvizGradError as error:
            refused.append(str(error))
        self.message = "; ".join(refused)
        self._refresh()
        return self.result

    def load(self, values: Mapping[str, float]) -> Calculation:
        """Recalculate once with ``values`` and put them into the boxes (the example buttons do
        this). Refused as a whole, as `update` refuses: a name that is not an input or a value
        that is not a number sets `message`, and the boxes and the result stay as they were."""
        try:
            numbers = {name: parse_number(name, value) for name, value in values.items()}
        except GraphvizGradError as error:
            self.message = str(error)
            self._refresh()
            return self.result
        result = self.update(**numbers)
        if self._parts is not None and not self.message:
            self._quiet = True
            try:
                for name in values:
                    self._parts["boxes"][name].value = format_number(result.values[name], 17)
            finally:
                self._quiet = False
        return result

    def reset(self) -> Calculation:
        """Back to the defaults (for the seed: Example 1)."""
        return self.load(self.calculator.defaults)

    # --- what is shown -------------------------------------------------------------------

    def table_rows(self) -> list[list[str]]:
        """The table: a header, then name, role, value and dL/dname for every input."""
        return self.result.table_rows()

    def no_inputs(self) -> str:
        """What the panel says instead of a table when the formula has no inputs, else ``""``."""
        result = self.result
        return "" if result.order else f"({result.output} has no inputs: it is a constant)"

    def to_text(self) -> str:
        """The panel as plain text: the loss, the table, the update, and the message if any."""
        result = self.result
        lines = [f"{result.output} = {result.number(result.loss)}", "",
                 self.no_inputs() or table(self.table_rows()), "",
                 f"gradient-descent update (lr = {result.number(result.lr)}):", *result.update_lines()]
        if self.message:
            lines += ["", f"not updated: {self.message}"]
        return "\n".join(lines)

    __str__ = to_text

    def __repr__(self) -> str:
        return f"<CalculatorPanel {self.result.output} = {self.result.number(self.loss)}>"

    def table_html(self) -> str:
        """The table as HTML, every piece of user text escaped."""
        if self.no_inputs():
            return f"<p>{html.escape(self.no_inputs())}</p>"
        rows = self.table_rows()
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                       for row in rows[1:])
        return f"{_TABLE_STYLE}<table class='gg-panel-table'><tr>{head}</tr>{body}</table>"

    def status_html(self) -> str:
        """The loss in large type, and the refusal message under it when there is one."""
        result = self.result
        loss = f"<b style='font-size:1.3em'>{html.escape(result.output)} = {result.number(result.loss)}</b>"
        if not self.message:
            return loss
        return f"{loss}<br><span style='color:#b00'>not updated: {html.escape(self.message)}</span>"

    def diagram(self) -> Diagram:
        """The annotated graph of the current result."""
        return Diagram(self.result.trace, digits=self.result.digits)

    def chart_png(self) -> bytes | None:
        """The bar chart of |dL/dinput| as PNG, or None without matplotlib or without inputs."""
        if not self.result.order:
            return None
        try:
            return self.result.chart("png")
        except ChartError:
            return None

    # --- the widget ------------------------------------------------------------------------

    def widget(self) -> Any:
        """The ipywidgets panel (built once; every later `update` refreshes it)."""
        if self._parts is None:
            self._parts = self._build()
            self._refresh()
        return self._parts["box"]

    def _build(self) -> dict[str, Any]:
        w = _widgets()
        result = self.result
        seed = is_seed(result.graph)
        boxes = {}
        for name in result.order:
            box = w.Text(value=format_number(result.values[name], 17), description=name,
                         tooltip=FIELDS.get(name, "") if seed else "", continuous_update=False,
                         layout=w.Layout(width="220px"))
            box.observe(self._typed, names="value")
            boxes[name] = box
        buttons = []
        if seed:
            for number, values in EXAMPLES.items():
                button = w.Button(description=f"Example {number}")
                button.on_click(lambda _, values=values: self.load(values))
                buttons.append(button)
        reset = w.Button(description="Reset")
        reset.on_click(lambda _: self.reset())
        status, grid, update = w.HTML(), w.HTML(), w.HTML()
        chart = w.Image(format="png", layout=_picture_layout(w, "560px"))
        graph = w.Image(format="svg+xml", layout=_picture_layout(w))
        box = w.VBox([w.HBox([w.VBox(list(boxes.values())), w.VBox([status, grid, update])]),
                      w.HBox([*buttons, reset]), chart, graph])
        return {"boxes": boxes, "status": status, "table": grid, "update": update, "chart": chart,
                "graph": graph, "box": box}

    def _typed(self, change: Any) -> None:
        if not self._quiet and self._parts is not None:
            self.update(**{name: box.value for name, box in self._parts["boxes"].items()})

    def _refresh(self) -> None:
        parts = self._parts
        if parts is None:
            return
        parts["status"].value = self.status_html()
        parts["table"].value = self.table_html()
        parts["update"].value = "<br>".join(html.escape(line) for line in self.result.update_lines())
        chart = self.chart_png()
        parts["chart"].value = chart or b""
        parts["chart"].layout.display = None if chart else "none"
        # the tooltip is the picture's title attribute: its accessible name, as alt would be
        parts["chart"].tooltip = "bar chart of |dL/dinput|:\n" + self.result.chart_text() if chart else ""
        diagram = self.diagram()
        parts["graph"].tooltip = str(diagram)
        try:
            parts["graph"].value = diagram.svg()
        except LayoutError:
            parts["graph"].value = b""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            svg: bytes | None = self.diagram().svg()
        except LayoutError:
            svg = None
        return _bundle(_live(self.widget), self.to_text(), svg)
