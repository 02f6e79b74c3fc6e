"""What every notebook widget shares: ipywidgets imported only when a widget is built, a box's
text read as a number, and display bundles that carry a static picture and its alt text beside
the live view (`Picture` is such a picture on its own).

>>> parse_number("W1", "0.3")
0.3
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Sequence
from typing import Any

from .errors import InputValueError
from .text import parse_number as read_number

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
"""The MIME type of a live widget; only a running kernel can fill it in."""
_SVG_HEIGHT = re.compile(rb'<svg[^>]*?\sheight="([0-9.]+)(pt|px)?"')


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
