"""Notebook widgets: the gradient calculator as live input boxes, a step viewer for the frames,
the HTML player embedded in a cell, and a picture with a text form.

The logic lives in plain methods (`CalculatorPanel.update`, `StepViewer.show`), so it runs and
is tested without a browser or a kernel; ipywidgets is imported only when a widget is built
(``pip install 'graphviz-grad[notebook]'``).

>>> panel = CalculatorPanel()            # the seed page at Example 1
>>> panel.update(W1="0.3").loss          # text as typed in a box
9.0
>>> panel.update(W1="abc").loss          # bad input: a message, and the last good result kept
9.0
>>> panel.message
"W1: the value 'abc' is not a number"
>>> import graphviz_grad as gg
>>> viewer = StepViewer(gg.grad("e = (a+b)*(b+1)", a=2, b=1))
>>> print(viewer.show(7).caption)
de/db = de/dz1 · ∂z1/∂b + de/dz2 · ∂z2/∂b = de/dz1 · 1 + de/dz2 · 1 = 2 · 1 + 3 · 1 = 5

Displayed in a notebook, the panel and the viewer are widgets when a kernel runs; their bundles
also carry a static SVG and a deterministic text form, so a saved notebook read where no kernel
runs (on GitHub) still shows the picture. The player needs JavaScript instead (see `Player`).
"""

from __future__ import annotations

import base64
import html
import math
import operator
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .calculator import Calculation, Calculator
from .charts import ChartError
from .descent import LEARNING_RATE
from .display import Diagram
from .dot import format_number
from .engine import Trace
from .errors import GraphvizGradError, InputValueError
from .frames import Frame, frames, render_frames
from .graph import Graph
from .layout import LayoutError
from .seed import EXAMPLES, FIELDS, is_seed
from .text import parse_number as read_number
from .text import table

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
"""The MIME type of a live widget; only a running kernel can fill it in."""
_SVG_HEIGHT = re.compile(rb'<svg[^>]*?\sheight="([0-9.]+)(pt|px)?"')
_TABLE_STYLE = ("<style>.gg-panel-table{border-collapse:collapse}"
                ".gg-panel-table td,.gg-panel-table th{padding:2px 10px;text-align:right}</style>")
"""The panel table's look: room between the columns, numbers aligned (a class of its own)."""


def _picture_layout(w: Any, most: str = "100%") -> Any:
    """A picture at its own size (never stretched to the box's width, as a diagram is not),
    shrunk to fit when it is wider."""
    return w.Layout(max_width=most, width="auto", align_self="flex-start")


def _widgets() -> Any:
    try:
        import ipywidgets
    except ImportError:
        raise ImportError("the notebook widgets need ipywidgets: "
                          "pip install 'graphviz-grad[notebook]'") from None
    return ipywidgets


def parse_number(name: str, value: Any) -> float:
    """A finite number from a box's text (read as on the command line) or a number, else an
    `InputValueError` naming the box.

    >>> parse_number("x", " 2.5 "), parse_number("x", 3)
    (2.5, 3.0)
    >>> parse_number("x", "inf")
    Traceback (most recent call last):
    ...
    graphviz_grad.errors.InputValueError: x: the value 'inf' is not a number (values must be finite)
    """
    if isinstance(value, str):
        return read_number(value, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputValueError(f"{name}: {value!r} is not a number")
    if not math.isfinite(value):
        raise InputValueError(f"{name}: the value {value!r} is not a number (values must be finite)")
    return float(value)


def _live(build: Any) -> Any:
    """The live widget, or None where ipywidgets is not installed (the static parts still show)."""
    try:
        return build()
    except ImportError:
        return None


def _bundle(widget: Any, text: str, svg: bytes | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A widget's display data with a static picture and our text beside the live view, and
    the picture's alt text (its text form) in the metadata."""
    bundle: dict[str, Any] = {}
    if widget is not None:
        bundle.update(widget._repr_mimebundle_())
    metadata = {}
    if svg is not None:
        bundle["image/svg+xml"] = svg.decode("utf-8")
        metadata = alt_metadata("svg", text)
    bundle["text/plain"] = text
    return bundle, metadata


def alt_metadata(fmt: str, text: str) -> dict[str, Any]:
    """A picture's alt text as display metadata, ``{"image/png": {"alt": text}}``: IPython's own
    ``Image(alt=...)`` convention, which nbconvert's HTML export writes as the ``<img>``'s alt.
    It costs no second copy of the picture (an HTML ``<img>`` beside it would)."""
    return {PICTURE_TYPES[fmt]: {"alt": text}}


def fit_height(svgs: Sequence[bytes], chrome: int = 190) -> int:
    """Pixels for a player whose tallest frame is drawn at its own size: the tallest SVG's height
    (Graphviz writes points; 1 pt = 4/3 px) plus ``chrome`` for the title, the caption (two
    lines) and the button row, as measured in Chromium.

    >>> fit_height([b'<svg width="90pt" height="300pt">', b'<svg width="9pt" height="30pt">'])
    590
    """
    tallest = 0.0
    for svg in svgs:
        found = _SVG_HEIGHT.search(svg[:2000])
        if found:
            number, unit = float(found.group(1)), found.group(2)
            tallest = max(tallest, number * (4 / 3 if unit == b"pt" else 1))
    return math.ceil(tallest) + chrome


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


def _some_frames(trace: Trace, forward: bool, backward: bool, digits: int) -> list[Frame]:
    if not (forward or backward):
        raise ValueError("no frames to show: forward and backward are both False")
    return frames(trace, forward=forward, backward=backward, digits=digits)


class StepViewer:
    """The forward and backward passes frame by frame, with a slider to pick the step.

    Every frame is drawn on one layout (`graphviz_grad.frames.render_frames`), so nodes stay
    where they are while the slider moves; the pictures are made when first needed. ``start``
    and `show` take a list index (0 is the first frame, -1 the last); the text form and the
    slider's caption count from 1.
    """

    def __init__(self, trace: Trace, *, forward: bool = True, backward: bool = True, start: int = 0,
                 digits: int = 4):
        self.trace = trace
        self.digits = digits
        self.frames: list[Frame] = _some_frames(trace, forward, backward, digits)
        self.index = 0
        self._pictures: list[bytes] | None = None
        self._parts: dict[str, Any] | None = None
        self.show(start)

    @property
    def frame(self) -> Frame:
        return self.frames[self.index]

    def show(self, index: int) -> Frame:
        """Pick frame ``index``, counted as in a list: 0 is the first frame, -1 the last. Any
        whole number is taken (a NumPy integer too); past either end it stops at that end, as
        the player does.

        >>> import graphviz_grad as gg
        >>> viewer = StepViewer(gg.grad("y = x**2", x=3))   # 5 frames
        >>> [viewer.show(k).index for k in (1, -1, -2, 99, -99)]
        [1, 4, 3, 4, 0]
        """
        if isinstance(index, bool):
            raise TypeError(f"a frame index is a whole number, not {index!r}")
        try:
            index = operator.index(index)
        except TypeError:
            raise TypeError(f"a frame index is a whole number, not {index!r}") from None
        count = len(self.frames)
        self.index = max(0, min(count - 1, index + count if index < 0 else index))
        self._refresh()
        return self.frame

    def pictures(self) -> list[bytes]:
        """Every frame as SVG (laid out once)."""
        if self._pictures is None:
            self._pictures = render_frames(self.trace, "svg", sequence=self.frames, digits=self.digits)
        return self._pictures

    def to_text(self) -> str:
        """``frame 9 of 17 (backward): dL/dz3 = ...``"""
        return f"frame {self.index + 1} of {len(self.frames)} ({self.frame.phase}): {self.frame.caption}"

    __str__ = to_text

    def __repr__(self) -> str:
        return f"<StepViewer {self.to_text()}>"

    def widget(self) -> Any:
        """The ipywidgets viewer: a slider, the caption and the frame's picture."""
        if self._parts is None:
            w = _widgets()
            # the slider counts from 1, as the caption and the text form do
            slider = w.IntSlider(value=self.index + 1, min=1, max=len(self.frames), description="frame",
                                 continuous_update=True, layout=w.Layout(width="480px"))
            slider.observe(lambda change: self.show(change["new"] - 1), names="value")
            self._parts = {"slider": slider, "caption": w.HTML(),
                           "picture": w.Image(format="svg+xml", layout=_picture_layout(w))}
            self._parts["box"] = w.VBox([slider, self._parts["caption"], self._parts["picture"]])
            self._refresh()
        return self._parts["box"]

    def _refresh(self) -> None:
        parts = self._parts
        if parts is None:
            return
        parts["slider"].value = self.index + 1
        parts["caption"].value = (f"<b>{html.escape(self.frame.phase)}</b> "
                                  f"({self.index + 1}/{len(self.frames)}): {html.escape(self.frame.caption)}")
        try:
            parts["picture"].value = self.pictures()[self.index]
        except LayoutError:
            parts["picture"].value = b""
        parts["picture"].tooltip = self.to_text()  # the picture's accessible name

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            svg: bytes | None = self.pictures()[self.index]
        except LayoutError:
            svg = None
        return _bundle(_live(self.widget), self.to_text(), svg)


VIEWER_CHROME = 250
"""Pixels of a player's frame besides its drawing: the title, the search and zoom bar, the caption
(two lines) and the button row."""


class Player:
    """The interactive viewer (`graphviz_grad.player`) in a notebook cell: the step-by-step
    passes of a trace, or a gradient-descent run (`graphviz_grad.descent.descend`) played live.

    The page runs in a sandboxed ``<iframe>`` (its own styles and script cannot touch the
    notebook's). It needs JavaScript: where none runs (GitHub's notebook view) the frame is
    empty or left out, and the cell falls back to the annotated graph as a static SVG (the
    ``image/svg+xml`` of its bundle) and the line above it, saying what it is.
    """

    def __init__(self, subject: Any, *, forward: bool = True, backward: bool = True,
                 height: int | None = None, digits: int = 4, every: int | None = None):
        from .player import descent_parts, player_parts, viewer_page

        if isinstance(subject, Trace):
            self.trace = subject
            self.frames = _some_frames(subject, forward, backward, digits)
            data, self.svg = player_parts(subject, sequence=self.frames, digits=digits)
            program = str(subject.graph).replace("\n", "; ")
            self.what = f"Step-by-step player: {len(self.frames)} frames of {program}"
            title = f"{program} — backpropagation step by step"
        elif hasattr(subject, "history") and hasattr(subject, "trace_at"):
            self.trace = subject.trace_at(subject.history[-1])
            data, self.svg = descent_parts(subject, every=every, digits=digits)
            self.frames = []
            program = str(subject.graph).replace("\n", "; ")
            self.what = (f"Gradient descent played over the graph: {len(data['frames'])} frames of "
                         f"{len(subject.history) - 1} steps of {program}")
            title = f"{program} — gradient descent"
        else:
            raise TypeError("the player shows a Trace or a gradient-descent run, not "
                            f"{type(subject).__name__}")
        self.data = data
        self.height = fit_height([self.svg.encode()], VIEWER_CHROME) if height is None else height
        """The frame's height in pixels: by default the drawing at its own size plus the controls."""
        self.page = viewer_page(data, self.svg, title=title)

    def __str__(self) -> str:
        return (f"{self.what} — use its buttons, slider or arrow keys; click a node for its story. It needs "
                "JavaScript; where none runs (GitHub's notebook view) the annotated graph shows instead.")

    def __repr__(self) -> str:
        return f"<{self}>"

    def _repr_html_(self) -> str:
        # in a single-quoted attribute only & and ' need escaping (SVG quotes with "): small
        source = self.page.replace("&", "&amp;").replace("'", "&#39;")
        return (f"<p>{html.escape(str(self))}</p>"
                f"<iframe srcdoc='{source}' sandbox=\"allow-scripts\" "
                f'style="width:100%;height:{int(self.height)}px;border:0" title="step-by-step player">'
                "</iframe>")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> tuple[dict[str, Any], dict[str, Any]]:
        bundle = {"text/html": self._repr_html_(), "image/svg+xml": self.svg, "text/plain": str(self)}
        return bundle, alt_metadata("svg", str(self))


PICTURE_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
"""The MIME type of each picture format `Picture` takes."""


class Picture:
    """A picture (PNG or SVG bytes) with a text form that says what it shows, for a notebook
    cell: a saved notebook keeps the picture for GitHub and a deterministic ``text/plain``
    (IPython's ``Image`` would save ``<IPython.core.display.Image object>``).

    >>> svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>'
    >>> shown = Picture(svg, "svg", "an empty square")
    >>> shown
    an empty square
    >>> data, metadata = shown._repr_mimebundle_()
    >>> sorted(data), metadata
    (['image/svg+xml', 'text/plain'], {'image/svg+xml': {'alt': 'an empty square'}})
    >>> Picture(b"\\x89PNG...", "png", "a chart")._repr_mimebundle_()[0]["image/png"]
    'iVBORy4uLg=='
    """

    def __init__(self, data: bytes, fmt: str, text: str):
        if fmt not in PICTURE_TYPES:
            raise ValueError(f"a picture is png or svg, not {fmt!r}")
        if not isinstance(data, bytes):
            raise TypeError(f"a picture's data is bytes, not {type(data).__name__}")
        self.data, self.fmt, self.text = data, fmt, text

    def __repr__(self) -> str:
        return self.text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> tuple[dict[str, str], dict[str, Any]]:
        # a notebook stores PNG as base64 text and SVG as text; the metadata carries the alt text
        if self.fmt == "png":
            encoded = base64.b64encode(self.data).decode("ascii")
        else:
            encoded = self.data.decode("utf-8")
        return {PICTURE_TYPES[self.fmt]: encoded, "text/plain": self.text}, alt_metadata(self.fmt, self.text)

