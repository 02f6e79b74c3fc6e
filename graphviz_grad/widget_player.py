"""The passes frame by frame in a notebook: `StepViewer` (a slider over the frames' pictures) and
`Player` (the HTML player, or a gradient-descent run, in a sandboxed frame).

>>> import graphviz_grad as gg
>>> StepViewer(gg.grad("y = x**2", x=3)).to_text()
'frame 1 of 5 (forward): Forward pass: the inputs x = 3'
"""

from __future__ import annotations

import html
import operator
from typing import Any

from .engine import Trace
from .frames import Frame, frames, render_frames
from .layout import LayoutError
from .widget_tools import _bundle, _live, _picture_layout, _widgets, alt_metadata, fit_height


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


def _overview_class() -> type:
    from .overview import Overview

    return Overview


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
        elif isinstance(subject, _overview_class()):  # a big graph: groups open and close by a click
            from .display import describe
            from .overview_player import overview_page, overview_parts

            self.trace, self.frames = subject.trace, []
            data, self.svg = overview_parts(subject)
            self.what = (f"Overview of {len(subject.graph):,} nodes ({len(data['views'])} views laid out "
                         "beforehand: click a group to open it, an open group's title to close it)")
            title = f"{describe(subject.graph)} — overview"
        else:
            raise TypeError("the player shows a Trace, a gradient-descent run or an Overview, not "
                            f"{type(subject).__name__}")
        self.data = data
        self.height = fit_height([self.svg.encode()], VIEWER_CHROME) if height is None else height
        """The frame's height in pixels: by default the drawing at its own size plus the controls."""
        page = overview_page if data.get("kind") == "overview" else viewer_page
        self.page = page(data, self.svg, title=title)

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
