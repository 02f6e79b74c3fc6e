"""How the diagrams look: the font, the gradient palette and the fill of a gradient, the quoting
and escaping of names and text for DOT, and the caption and colour legend under a drawing.

>>> fill(-40.0, 40.0) == NEGATIVE[-1], quote("z1")
(True, '"z1"')
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from html import escape

from .text import format_number

FONT = "Helvetica"
"""One PostScript font name: both backends measure it right and write SVG with a fallback
(``font-family="Helvetica,sans-Serif"``); graphviz-pure measures a list of names wrongly."""

POSITIVE = ("#fde0d2", "#fbb499", "#f07457", "#c9252b")
"""Fills for dL/dnode > 0, from a small share of the largest gradient to the largest."""
NEGATIVE = ("#dfeaf6", "#b0cde6", "#6aa3d2", "#2666a8")
"""Fills for dL/dnode < 0."""
SHARES = (0.01, 0.1, 0.5)
"""Thresholds of |grad| / max |grad| between the four shades."""
ZERO_FILL = "#ffffff"
UNKNOWN_FILL = "#eeeeee"
FAULT_FILL = "#ffe08a"
FAULT_BORDER = "#b30000"
CURRENT_COLOR = "#ff7f0e"
EDGE_COLOR = "#555555"
WORD_JOINER = "\u2060"
"""An invisible character: put before a name that starts with ``%`` (which Graphviz would
not keep) and after a backslash that Graphviz would expand (``\\N``)."""
_GRAPHVIZ_ESCAPE = re.compile(r"\\(?=[GNEHTL])")


def quote(name: str) -> str:
    """A DOT id for a node name that cannot change the DOT structure.

    Names without a backslash become quoted strings; a backslash cannot be written in one
    (``\\"`` would end the string early), so such names become HTML-like strings. ``&`` is
    written as ``&amp;``, which the SVG output shows as ``&``. Graphviz treats an id that
    starts with ``%`` as its own anonymous name, so such a name gets an invisible word joiner
    (U+2060) in front.

    >>> print(quote('z1'), quote('say "hi"'), quote('a\\\\'), quote('<b>'))
    "z1" "say \\"hi\\"" <a\\> "<b>"
    """
    text = name.replace("&", "&amp;")
    if text.startswith("%"):  # Graphviz reserves ids that start with % for anonymous objects
        text = WORD_JOINER + text
    if "\\" in name:
        return "<" + text.replace("<", "&lt;").replace(">", "&gt;") + ">"
    return '"' + text.replace('"', '\\"') + '"'


def fill(grad: float, largest: float) -> str:
    """The fill colour for gradient ``grad`` when the largest finite |gradient| is ``largest``.

    >>> fill(4.0, 40.0), fill(-40.0, 40.0), fill(0.0, 40.0)
    ('#f07457', '#2666a8', '#ffffff')
    """
    if grad == 0 or grad != grad:
        return ZERO_FILL
    palette = POSITIVE if grad > 0 else NEGATIVE
    share = 1.0 if math.isinf(grad) or largest == 0 else abs(grad) / largest
    return palette[sum(share >= threshold for threshold in SHARES)]


def _html(text: str) -> str:
    r"""Text for an HTML-like label: every markup character escaped. Graphviz replaces
    ``\G``, ``\N``, ``\E``, ``\H``, ``\T`` and ``\L`` with names even inside such labels
    (after decoding entities), so an invisible word joiner goes between the two characters.

    >>> _html('<b> & "x"'), _html("\\N") == "\\" + WORD_JOINER + "N"
    ('&lt;b&gt; &amp; &quot;x&quot;', True)
    """
    return _GRAPHVIZ_ESCAPE.sub("\\\\" + WORD_JOINER, escape(text, quote=True))


def _points(attributes: Mapping[str, str], width: str, height: str) -> str:
    """``FIXEDSIZE`` table attributes for a size given in inches, or nothing."""
    if width not in attributes or height not in attributes:
        return ""
    wide, high = (round(float(attributes[key]) * 72) for key in (width, height))
    return f' FIXEDSIZE="TRUE" WIDTH="{wide}" HEIGHT="{high}"'


CAPTION_POINTS = 14
CAPTION_LINE = 100
"""Captions wrap at about this many characters."""
_NARROW, _WIDE = set(" .,:;'|!ijlIft()[]-"), set("mwMW@%")



def wrap(caption: str, width: int = CAPTION_LINE) -> list[str]:
    """A caption's lines: broken at spaces, before ``width`` characters where possible.

    >>> wrap("dL/db = dL/dc · ∂c/db + dL/dd · ∂d/db = 1 · 2 + 1 · 3 = 5", 30)
    ['dL/db = dL/dc · ∂c/db + dL/dd', '· ∂d/db = 1 · 2 + 1 · 3 = 5']
    """
    lines: list[str] = []
    for word in caption.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def text_width(text: str, points: float = CAPTION_POINTS) -> float:
    """A generous estimate of the width of ``text`` in points (sans-serif: DejaVu Sans is
    wider than Helvetica); only used to reserve room, never to place anything."""
    units = sum(0.34 if char in _NARROW else 0.95 if char in _WIDE else
                0.72 if char.isupper() else 0.64 if char.isascii() else 1.0 for char in text)
    return units * points


def _footer(caption: str, output: str | None, compact: bool, size: str = "", room: Sequence[str] = (),
            scale: float | None = None, forward: bool = False) -> str:
    """The graph's label under the drawing: the frame's caption, then the colour legend.
    ``size`` fixes its box (pinned frames), so a shorter caption moves nothing; ``room``
    lists captions the box must be wide and tall enough for (the layout before pinning)."""
    rows = []
    lines = wrap(caption)
    if room:
        reserved = [wrap(other) for other in room]
        width = max(text_width(line) for other in reserved for line in other) + 8
        height = max(map(len, reserved)) * (CAPTION_POINTS + 3) + 4
        size = f' WIDTH="{round(width)}"'
        cell = f' HEIGHT="{round(height)}"'
    else:
        cell = ""
    if caption:
        text = '<BR ALIGN="LEFT"/>'.join(map(_html, lines))
        rows.append(f'<TR><TD ALIGN="LEFT"{cell}><FONT POINT-SIZE="{CAPTION_POINTS}">{text}</FONT></TD></TR>')
    elif room:
        rows.append(f'<TR><TD ALIGN="LEFT"{cell}> </TD></TR>')
    if output is not None:
        rows.append(f'<TR><TD ALIGN="LEFT">{_legend(output, compact, scale, forward)}</TD></TR>')
    if not rows:
        return ""
    return f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2"{size}>{"".join(rows)}</TABLE>'


def _legend(output: str, compact: bool, scale: float | None = None, forward: bool = False) -> str:
    """One line: what the fill colours mean, with swatches."""
    size = 8 if compact else 10

    def text(words: str) -> str:
        return f'<TD><FONT POINT-SIZE="{size}">{words}</FONT></TD>'

    def swatch(colour: str) -> str:
        return f'<TD BGCOLOR="{colour}" FIXEDSIZE="TRUE" WIDTH="12" HEIGHT="12" BORDER="1"></TD>'

    cells = [text("fill = tangent ż of the node:" if forward else f"fill = d{_html(output)}/dnode:")]
    for colour, meaning in ((POSITIVE[-1], "&gt; 0"), (NEGATIVE[-1], "&lt; 0"), (ZERO_FILL, "= 0"),
                            (UNKNOWN_FILL, "not yet known"), (FAULT_FILL, "inf or nan")):
        cells += [swatch(colour), text(meaning)]
    # the words after the swatches: a browser's font is wider than the one Graphviz measures, and
    # text that overflows its cell must run into empty space, not into a swatch
    size_of = "|ż|" if forward else "|grad|"
    of = f"the largest {size_of}" if scale is None or forward else f"{size_of} = {format_number(scale)}"
    shades = []
    for colour, share in zip(POSITIVE, ("&lt;1%", "1-10%", "10-50%", "≥50%"), strict=True):
        shades += [swatch(colour), text(share)]
    shades.append(text(f"darker = a larger share of {of}"))
    rows = "".join(f'<TR><TD ALIGN="LEFT"><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">'
                   f'<TR>{"".join(line)}</TR></TABLE></TD></TR>' for line in (cells, shades))
    return f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">{rows}</TABLE>'
