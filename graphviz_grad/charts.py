"""Charts: gradient magnitudes as text bars (always) or as an SVG/PNG/PDF bar chart, and a loss
curve; the images use matplotlib, an optional extra (``pip install 'graphviz-grad[plot]'``).

>>> print(text_bars([("W1", 20.0), ("W2", 40.0), ("B", -4.0)], width=20))
W1  +20  ██████████
W2  +40  ████████████████████
B   -4   ██

The bar length is proportional to |value|; the sign is written in front. A value that is not
finite gets no bar:

>>> print(text_bars([("a", float("nan")), ("b", 0.0)], width=10))
a  nan  (not finite)
b  0
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence

from .dot import NEGATIVE, POSITIVE, format_number
from .errors import GraphvizGradError

FORMATS = ("svg", "png", "pdf")
"""Image formats of the matplotlib charts; ``txt`` (the text bars) needs nothing."""

_EIGHTHS = " ▏▎▍▌▋▊▉"
_SPARKS = "▁▂▃▄▅▆▇█"


class ChartError(GraphvizGradError):
    """A chart that cannot be drawn: matplotlib is missing, or the format is unknown."""


def text_bars(items: Sequence[tuple[str, float]], *, width: int = 40, digits: int = 4) -> str:
    """One line per ``(label, value)``: label, signed value, and a bar of ``|value|`` scaled so
    that the largest finite one is ``width`` characters (in eighths of a character); an
    infinite value gets a full bar and an arrow."""
    if not items:
        return ""
    largest = max((abs(value) for _, value in items if math.isfinite(value)), default=0.0)
    numbers = [_signed(value, digits) for _, value in items]
    label_width = max(len(label) for label, _ in items)
    number_width = max(len(number) for number in numbers)
    lines = []
    for (label, value), number in zip(items, numbers, strict=True):
        if value != value:
            bar = "(not finite)"
        elif math.isinf(value):
            bar = "█" * width + "▶ (infinite)"
        else:
            eighths = round(8 * width * (abs(value) / largest)) if largest else 0  # no overflow near 1e308
            bar = "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")
        lines.append(f"{label.ljust(label_width)}  {number.ljust(number_width)}  {bar}".rstrip())
    return "\n".join(lines)


def _signed(value: float, digits: int) -> str:
    text = format_number(value, digits)
    return text if text.startswith("-") or text in ("0", "nan") else "+" + text


def sparkline(values: Sequence[float], *, most: int = 60) -> str:
    """A one-line picture of a series (at most ``most`` characters, sampled evenly), on a
    log scale when every value is positive; a value that is not finite shows as ``!``.

    >>> sparkline([4.0, 2.0, 1.0, 0.5, 0.25])
    '█▇▅▃▁'
    """
    if len(values) > most:
        values = [values[round(k * (len(values) - 1) / (most - 1))] for k in range(most)]
    finite = [value for value in values if math.isfinite(value)]
    logarithmic = bool(finite) and min(finite) > 0
    scaled = [math.log10(value) if logarithmic else value for value in finite]
    low, high = (min(scaled), max(scaled)) if scaled else (0.0, 0.0)
    marks = []
    for value in values:
        if not math.isfinite(value):
            marks.append("!")
            continue
        level = math.log10(value) if logarithmic else value
        share = (level - low) / (high - low) if high > low else 0.0
        marks.append(_SPARKS[min(len(_SPARKS) - 1, int(share * len(_SPARKS)))])
    return "".join(marks)


def format_from_path(path: str) -> str:
    """The chart format from a file name's suffix: svg, png, pdf, or txt for the text bars.

    >>> format_from_path("out/gradients.SVG"), format_from_path("bars.txt")
    ('svg', 'txt')
    """
    suffix = path.rpartition(".")[2].lower() if "." in path.rpartition("/")[2] else ""
    if suffix not in (*FORMATS, "txt"):
        raise ChartError(f"cannot tell the chart format from {path!r}: use .svg, .png, .pdf or .txt")
    return suffix


def _pyplot_free_figure(width: float, height: float):  # type: ignore[no-untyped-def]
    """A matplotlib Figure that does not touch pyplot's global state or a display."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ChartError("image charts need matplotlib: pip install 'graphviz-grad[plot]' "
                         "(or write the text bars to a .txt file)") from None
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(figure, fmt: str) -> bytes:  # type: ignore[no-untyped-def]
    if fmt not in FORMATS:
        raise ChartError(f"unknown chart format {fmt!r}: use one of {', '.join(FORMATS)}")
    import matplotlib

    buffer = io.BytesIO()
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None},
                "png": {"Software": None}}[fmt]
    with matplotlib.rc_context({"svg.hashsalt": "graphviz-grad", "svg.fonttype": "path"}), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow notes for ticks near 1e308
        warnings.simplefilter("ignore", UserWarning)  # "constrained_layout not applied": still drawn
        figure.savefig(buffer, format=fmt, metadata=metadata)  # same data, same bytes
    return buffer.getvalue()


LABEL_CHARACTERS = 40
"""Longer labels are cut (with an ellipsis) so the chart keeps its shape."""


def _plain(text: str, most: int = LABEL_CHARACTERS) -> str:
    """Text for matplotlib with its mathtext switched off (a ``$`` in a name stays a ``$``),
    cut to ``most`` characters."""
    if len(text) > most:
        text = text[:most - 1] + "…"
    return text.replace("$", r"\$")


def bar_chart(items: Sequence[tuple[str, float]], fmt: str = "svg", *, title: str = "",
              digits: int = 4) -> bytes:
    """Horizontal bars of ``|value|`` per label, coloured by sign (the diagrams' red for
    positive, blue for negative), each labelled with its signed value."""
    figure = _pyplot_free_figure(6.4, 0.45 * max(len(items), 1) + 1.3)
    axes = figure.add_subplot()
    labels = [_plain(label) for label, _ in items][::-1]
    finite = [abs(value) if math.isfinite(value) else 0.0 for _, value in items][::-1]
    colours = [POSITIVE[-1] if value > 0 else NEGATIVE[-1] if value < 0 else "#999999"
               for _, value in items][::-1]
    positions = range(len(items))
    axes.set_yticks(list(positions), labels)
    largest = max(finite, default=0.0) or 1.0
    scale = largest if largest > 1e300 else 1.0  # keep 1.25 * the largest bar finite
    finite = [value / scale for value in finite]
    largest /= scale
    axes.barh(list(positions), finite, color=colours)
    for position, (_, value) in zip(positions, list(items)[::-1], strict=True):
        shown = _signed(value, digits) + ("" if math.isfinite(value) else " (no bar)")
        axes.text(abs(value) / scale if math.isfinite(value) else 0.0, position, " " + shown,
                  va="center", fontsize=9)
    axes.set_xlim(0, largest * 1.25)
    axes.set_xlabel("|gradient|" + (f" / {format_number(scale, digits)}" if scale != 1.0 else "")
                    + " (red: positive, blue: negative)")
    axes.spines[["top", "right"]].set_visible(False)
    if title:
        axes.set_title(_plain(title, 3 * LABEL_CHARACTERS // 2 + 30), fontsize=10)
    return _save(figure, fmt)


def line_chart(values: Sequence[float], fmt: str = "svg", *, title: str = "", xlabel: str = "step",
               ylabel: str = "loss") -> bytes:
    """A curve of ``values`` against their index, on a log scale when all are positive; values
    that are not finite are left out (the curve stops there)."""
    figure = _pyplot_free_figure(6.4, 3.6)
    axes = figure.add_subplot()
    points = [(k, value) for k, value in enumerate(values) if math.isfinite(value)]
    positive = bool(points) and min(value for _, value in points) > 0
    extreme = positive and not 1e-300 < min(v for _, v in points) <= max(v for _, v in points) < 1e300
    if extreme:  # matplotlib's log axis overflows near float64's ends: plot the exponent itself
        points = [(k, math.log10(value)) for k, value in points]
        ylabel = f"log10 {ylabel}"
    axes.plot([k for k, _ in points], [value for _, value in points], color=NEGATIVE[-1], marker="."
              if len(points) <= 50 else None)
    if positive and not extreme:
        axes.set_yscale("log")
    axes.set_xlabel(_plain(xlabel))
    axes.set_ylabel(_plain(ylabel))
    axes.grid(True, alpha=0.3)
    if title:
        axes.set_title(_plain(title, 3 * LABEL_CHARACTERS // 2 + 30), fontsize=10)
    return _save(figure, fmt)
