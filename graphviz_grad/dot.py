"""DOT text for a graph or a trace: the annotated diagram as pure, deterministic text.

>>> import graphviz_grad as gg
>>> trace = gg.grad("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> source = to_dot(trace)
>>> source.splitlines()[0]
'digraph "L" {'
>>> print(next(line for line in source.splitlines() if line.startswith('  "z3" ->')))
  "z3" -> "z4" [id="e9_0" label=<∂z4/∂z3 = 1>];

Every node shows its name, what it computes, its value and its gradient dL/dnode;
every edge its local derivative. The fill colour encodes the gradient's sign (red
positive, blue negative) and its size relative to the largest gradient; a legend
says so. Node ids are the node names, quoted so that no name can change the DOT
structure; all label text is escaped. The same trace gives the same bytes every run.
No process is started here: `graphviz_grad.layout` turns the text into pictures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from .engine import Trace
from .forward import TangentTrace
from .graph import CONST, INPUT, Graph
from .ops import OPS
from .steps import WARNINGS
from .text import format_number

FONT = "Helvetica"
"""One PostScript font name: both backends measure it right and write SVG with a fallback
(``font-family="Helvetica,sans-Serif"``); graphviz-pure measures a list of names wrongly."""
COMPACT_AT = 60
"""Graphs with more nodes than this are drawn compactly unless told otherwise."""
RANKDIRS = ("LR", "TB", "RL", "BT")

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

REVERSE, FORWARD, BOTH = "reverse", "forward", "both"
MODES = (REVERSE, FORWARD, BOTH)
"""What a node shows: value and gradient, value and tangent, or all three."""

_WARNINGS = {status: f"⚠ {text}" for status, text in WARNINGS.items()}


@dataclass(frozen=True)
class View:
    """What one frame of a step-by-step picture shows.

    ``values`` and ``grads`` are the names whose value and gradient are known so far
    (``None``: all of them); ``current`` is the highlighted node, ``edges`` the
    highlighted edges as ``(target, slot)`` pairs, ``caption`` the text under the graph.
    """

    values: frozenset[str] | None = None
    grads: frozenset[str] | None = None
    current: str | None = None
    edges: frozenset[tuple[str, int]] = frozenset()
    caption: str = ""


@dataclass(frozen=True)
class Pins:
    """Fixed coordinates from an earlier layout, so that every frame keeps its nodes in place.

    ``objects`` maps the DOT ``id`` of a node (``n3``) or an edge (``e11_0``: into node 11,
    argument 0) to its layout attributes (``pos``, ``width``, ``height``, ``lp``);
    ``graph`` holds the graph's (``bb``, ``lp``). `graphviz_grad.layout.pin` makes them.
    """

    objects: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    graph: Mapping[str, str] = field(default_factory=dict)


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


def to_dot(
    subject: Trace | Graph,
    *,
    digits: int = 4,
    rankdir: str = "LR",
    compact: bool | None = None,
    edge_labels: bool = True,
    symbolic: bool = False,
    legend: bool = True,
    view: View | None = None,
    pins: Pins | None = None,
    scale: float | None = None,
    tangents: TangentTrace | None = None,
    mode: str | None = None,
) -> str:
    """DOT source for a trace (values and gradients shown) or a bare graph (structure only).

    ``digits`` significant digits; ``rankdir`` ``LR`` or ``TB`` (also ``RL``, ``BT``);
    ``compact`` small nodes and no edge labels (default: when the graph has more than
    `COMPACT_AT` nodes); ``symbolic`` writes each local derivative's formula too
    (``∂L/∂z4 = 2·z4 = 4``); ``view`` shows one frame of a step-by-step sequence and
    ``pins`` fixes every coordinate (both from `graphviz_grad.frames`). ``scale`` fixes the
    |gradient| that the shares are taken of (default: the largest in this picture), so that
    pictures of several steps compare: with ``scale=40`` a gradient of 0.4 is pale in every one.
    With ``tangents`` (a `graphviz_grad.forward.TangentTrace` of the same graph), ``mode="forward"``
    shows each node's value and tangent ż (filled by the tangent) and ``mode="both"`` its value,
    tangent and gradient.

    >>> import graphviz_grad as gg
    >>> for line in to_dot(gg.parse("y = -x")).splitlines():
    ...     print(line[:72])
    digraph "y" {
      graph [rankdir=LR fontname="Helvetica" bgcolor="white" nodesep=0.3 ran
      node [shape=plain fontname="Helvetica" fontsize=12]
      edge [fontname="Helvetica" fontsize=10 color="#555555" arrowsize=0.7]
      "x" [id="n0" label=<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" C
      "y" [id="n1" label=<<TABLE BORDER="2" CELLBORDER="0" CELLSPACING="0" C
      "x" -> "y" [id="e1_0"];
    }
    """
    return to_dot_frames(subject, [view or View()], digits=digits, rankdir=rankdir, compact=compact,
                         edge_labels=edge_labels, symbolic=symbolic, legend=legend, pins=pins,
                         scale=scale, tangents=tangents, mode=mode)[0]


def to_dot_frames(
    subject: Trace | Graph,
    views: Sequence[View],
    *,
    digits: int = 4,
    rankdir: str = "LR",
    compact: bool | None = None,
    edge_labels: bool = True,
    symbolic: bool = False,
    legend: bool = True,
    pins: Pins | None = None,
    room: Sequence[str] = (),
    scale: float | None = None,
    tangents: TangentTrace | None = None,
    mode: str | None = None,
) -> list[str]:
    """`to_dot` for many views of one subject at once (what is shared is computed once).
    ``room``: captions the caption box must fit, for the layout that frames are pinned to.

    >>> import graphviz_grad as gg
    >>> first, last = to_dot_frames(gg.grad("y = x*2", x=1), [View(grads=frozenset()), View()])
    >>> "grad = ?" in first, "grad = ?" in last
    (True, False)
    """
    trace = subject if isinstance(subject, Trace) else None
    graph = subject.graph if isinstance(subject, Trace) else subject
    if not isinstance(graph, Graph):
        raise TypeError(f"to_dot needs a Trace or a Graph, not {type(subject).__name__}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, not {rankdir!r}")
    if not 1 <= digits <= 17:
        raise ValueError(f"digits must be between 1 and 17, not {digits!r}")
    if compact is None:
        compact = len(graph) > COMPACT_AT
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int | float)
                              or not 0 < scale < math.inf):
        raise ValueError(f"scale must be a finite number > 0, not {scale!r}")
    mode = checked_mode(mode, tangents, trace)
    writer = _Writer(graph, trace, digits, compact, pins or Pins(), symbolic and trace is not None)
    if scale is not None:
        writer.largest = float(scale)
    writer.show(mode, tangents)
    spacing = "nodesep=0.15 ranksep=0.3" if compact else "nodesep=0.3 ranksep=0.5"
    fontsize = 9 if compact else 12
    head = [
        "",
        f'  node [shape=plain fontname="{FONT}" fontsize={fontsize}]',
        f'  edge [fontname="{FONT}" fontsize={fontsize - 2} color="{EDGE_COLOR}" arrowsize=0.7]',
    ]
    pinned_graph = _pinned({key: value for key, value in writer.pins.graph.items() if key in ("bb", "lp")})
    footer_size = _points(writer.pins.graph, "lwidth", "lheight")
    sources = []
    for view in views:
        writer.view = view
        graph_attributes = f'rankdir={rankdir} fontname="{FONT}" bgcolor="white" {spacing}'
        footer = _footer(view.caption, graph.output if legend and trace is not None else None, compact,
                         footer_size, room, scale, forward=mode == FORWARD)
        if footer:
            graph_attributes += f" label=<{footer}> labelloc=b labeljust=l"
        head[0] = f"digraph {writer.ids[graph.output]} {{\n  graph [{graph_attributes}{pinned_graph}]"
        lines = head + [f"  {writer.ids[node.name]} [{writer.node(i)}{writer.placed[f'n{i}']}];"
                        for i, node in enumerate(graph.nodes)]
        for target, node in enumerate(graph.nodes):
            for slot, source in enumerate(node.inputs):
                attributes = writer.edge(target, slot, edge_labels and not compact)
                lines.append(f"  {writer.ids[source]} -> {writer.ids[node.name]} "
                             f"[{attributes}{writer.placed[f'e{target}_{slot}']}];")
        lines.append("}")
        sources.append("\n".join(lines) + "\n")
    return sources


def _ids(graph: Graph) -> list[str]:
    """The DOT ``id`` of every node (``n3``) and edge (``e11_0``) of the graph."""
    return [f"n{i}" for i in range(len(graph))] + [
        f"e{target}_{slot}" for target, node in enumerate(graph.nodes) for slot in range(len(node.inputs))]


def _pinned(attributes: Mapping[str, str]) -> str:
    return "".join(f' {key}="{value}"' for key, value in sorted(attributes.items()))


def _html(text: str) -> str:
    r"""Text for an HTML-like label: every markup character escaped. Graphviz replaces
    ``\G``, ``\N``, ``\E``, ``\H``, ``\T`` and ``\L`` with names even inside such labels
    (after decoding entities), so an invisible word joiner goes between the two characters.

    >>> _html('<b> & "x"'), _html("\\N") == "\\" + WORD_JOINER + "N"
    ('&lt;b&gt; &amp; &quot;x&quot;', True)
    """
    return _GRAPHVIZ_ESCAPE.sub("\\\\" + WORD_JOINER, escape(text, quote=True))


def checked_mode(mode: str | None, tangents: TangentTrace | None, trace: Trace | None) -> str:
    """The drawing mode: ``mode`` if given (reverse, forward or both), else both with tangents and
    reverse without; a ValueError for an unknown mode or forward/both without the trace's tangents.

    >>> checked_mode(None, None, None)
    'reverse'
    """
    mode = mode or (BOTH if tangents is not None else REVERSE)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode != REVERSE and (tangents is None or trace is None or tangents.graph != trace.graph):
        raise ValueError(f"mode {mode!r} needs the tangents (graphviz_grad.tangents) of the trace's graph")
    return mode


class _Writer:
    """Node and edge attributes for one picture."""

    def __init__(self, graph: Graph, trace: Trace | None, digits: int, compact: bool, pins: Pins,
                 symbolic: bool):
        self.graph, self.trace, self.digits, self.compact = graph, trace, digits, compact
        self.view, self.pins = View(), pins
        self.ids = {node.name: quote(node.name) for node in graph.nodes}
        self.placed = {key: _pinned(pins.objects.get(key, {})) for key in _ids(graph)}
        self.statuses = [trace.status(node.name) for node in graph.nodes] if trace else []
        self.edges = {(edge.target, edge.slot): edge for edge in trace.edges} if trace else {}
        self.looks: dict[tuple[int, bool, bool, bool], str] = {}
        grads = [g for g in (trace.grads if trace else ()) if math.isfinite(g)]
        self.largest = max(map(abs, grads), default=0.0)
        self.symbolic = _local_formulas(graph) if symbolic else {}
        self.mode: str = REVERSE
        self.tangents: TangentTrace | None = None
        self.largest_tangent = 0.0

    def number(self, value: float | None) -> str:
        return format_number(value, self.digits)

    def show(self, mode: str, tangents: TangentTrace | None) -> None:
        """Draw in ``mode`` (reverse, forward or both; see `checked_mode`) with these tangents."""
        self.mode, self.tangents = mode, tangents
        if tangents is not None:
            self.largest_tangent = max((abs(t) for t in tangents.tangents if math.isfinite(t)), default=0.0)

    def node(self, i: int) -> str:
        """Node ``i``'s attributes in the current view (a node has a few looks; each is made once)."""
        view, name = self.view, self.graph.nodes[i].name
        look = (i, view.values is None or name in view.values, view.grads is None or name in view.grads,
                name == view.current)
        text = self.looks.get(look)
        if text is None:
            text = self.looks[look] = self._node(*look)
        return text

    def _node(self, i: int, value_known: bool, grad_known: bool, current: bool) -> str:
        node = self.graph.nodes[i]
        name = node.name
        if node.op == CONST:
            return (f'id="n{i}" shape=ellipse style=filled fillcolor="#f2f2f2" color="#999999" '
                    f'fontsize={8 if self.compact else 10} width=0 height=0 margin="0.06,0.03" '
                    f"label=<{_html(name)}>")
        header = f"<B>{_html(name)}</B>"
        if node.op == INPUT:
            header += "  input"
        else:  # a no-break space: SVG drops a text's leading space ("z1= x*W1")
            header += "\u00a0= " + _html(OPS[node.op].text.format(*node.inputs))
        border = 1
        rows, colour, border_colour, text_colour = self.look(i, value_known, grad_known)
        rows = [header, *map(_html, rows)]
        if name == self.graph.output:
            border = 2
        if current:
            border, border_colour = 3, CURRENT_COLOR
        cells = "".join(f'<TR><TD><FONT COLOR="{text_colour}">{row}</FONT></TD></TR>'
                        if text_colour != "black" else f"<TR><TD>{row}</TD></TR>" for row in rows)
        table_colour = "" if border_colour == "black" else f' COLOR="{border_colour}"'
        padding = 2 if self.compact else 4
        return (f'id="n{i}" label=<<TABLE BORDER="{border}" CELLBORDER="0" CELLSPACING="0" '
                f'CELLPADDING="{padding}" BGCOLOR="{colour}"{table_colour}{self.size(i)}>{cells}</TABLE>>')

    def look(self, i: int, value_known: bool, grad_known: bool) -> tuple[list[str], str, str, str]:
        """What node ``i`` shows under its header when its value and gradient are (not) known:
        its rows of plain text, its fill, border and text colours."""
        trace = self.trace
        if trace is None:
            return [], ZERO_FILL, "black", "black"
        value = trace.values[i] if value_known else None
        grad = trace.grads[i] if grad_known else None
        tangent = self.tangents.tangents[i] if self.tangents is not None and value_known else None
        if self.mode == FORWARD:
            grad = tangent  # forward mode fills by the tangent; no gradient is shown
            rows = ([f"{self.number(value)} | ż {self.number(tangent)}"] if self.compact else
                    [f"value = {self.number(value)}", f"tangent = {self.number(tangent)}"])
        elif self.compact:
            rows = [f"{self.number(value)} | ∇ {self.number(grad)}"
                    + (f" | ż {self.number(tangent)}" if self.mode == BOTH else "")]
        else:
            rows = [f"value = {self.number(value)}",
                    *([f"tangent = {self.number(tangent)}"] if self.mode == BOTH else []),
                    f"grad = {self.number(grad)}"]
        colour, border_colour = ZERO_FILL, "black"
        status = self.statuses[i]
        if value_known and status != "ok":
            rows.append(_WARNINGS[status])
            colour, border_colour = FAULT_FILL, FAULT_BORDER
        elif grad is not None and not math.isfinite(grad):
            rows.append(f"⚠ {'tangent' if self.mode == FORWARD else 'gradient'} is {format_number(grad)}")
            colour, border_colour = FAULT_FILL, FAULT_BORDER
        elif grad is None:
            colour = UNKNOWN_FILL
        else:
            colour = fill(grad, self.largest_tangent if self.mode == FORWARD else self.largest)
        return rows, colour, border_colour, "white" if colour in (POSITIVE[-1], NEGATIVE[-1]) else "black"

    def size(self, i: int) -> str:
        """A pinned node's box keeps the size of the first layout, whatever its text now."""
        return _points(self.pins.objects.get(f"n{i}", {}), "width", "height")

    def edge(self, target: int, slot: int, labelled: bool) -> str:
        node = self.graph.nodes[target]
        attributes = f'id="e{target}_{slot}"'
        edge = self.edges.get((node.name, slot))
        known = self.view.values is None or node.name in self.view.values
        if labelled and known and edge is not None and edge.local is not None:
            label = f"∂{node.name}/∂{edge.source} = "
            formula = self.symbolic.get((node.name, slot))
            if formula is not None and formula != self.number(edge.local):
                label += f"{formula} = "
            attributes += f" label=<{_html(label + self.number(edge.local))}>"
        if (node.name, slot) in self.view.edges:
            attributes += f' color="{CURRENT_COLOR}" penwidth=3'
        return attributes


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


def _local_formulas(graph: Graph) -> dict[tuple[str, int], str]:
    """Each edge's local derivative as a formula in the names of the node's arguments."""
    from .symbolic.notation import local_derivative_texts

    return local_derivative_texts(graph)

