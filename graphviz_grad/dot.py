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
No process is started here: `graphviz_grad.layout` turns the text into pictures. The look
itself (palette, quoting and escaping, the caption and legend) is `graphviz_grad.dot_style`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .dot_style import (
    CAPTION_LINE,
    CAPTION_POINTS,
    CURRENT_COLOR,
    EDGE_COLOR,
    FAULT_BORDER,
    FAULT_FILL,
    FONT,
    NEGATIVE,
    POSITIVE,
    SHARES,
    UNKNOWN_FILL,
    WORD_JOINER,
    ZERO_FILL,
    _footer,
    _html,
    _points,
    fill,
    quote,
    text_width,
    wrap,
)
from .engine import Trace
from .forward import TangentTrace
from .graph import CONST, INPUT, Graph
from .ops import OPS
from .steps import WARNINGS
from .text import format_number

__all__ = ["BOTH", "CAPTION_LINE", "CAPTION_POINTS", "COMPACT_AT", "CURRENT_COLOR", "EDGE_COLOR",
           "FAULT_BORDER", "FAULT_FILL", "FONT", "FORWARD", "MODES", "NEGATIVE", "POSITIVE", "RANKDIRS",
           "REVERSE", "SHARES", "UNKNOWN_FILL", "WORD_JOINER", "ZERO_FILL", "Pins", "View", "checked_mode",
           "fill", "format_number", "quote", "text_width", "to_dot", "to_dot_frames", "wrap"]

COMPACT_AT = 60
"""Graphs with more nodes than this are drawn compactly unless told otherwise."""
RANKDIRS = ("LR", "TB", "RL", "BT")

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


def _local_formulas(graph: Graph) -> dict[tuple[str, int], str]:
    """Each edge's local derivative as a formula in the names of the node's arguments."""
    from .symbolic.notation import local_derivative_texts

    return local_derivative_texts(graph)
