"""DOT text for an `graphviz_grad.overview.Overview`: group boxes, frames, nodes, counted edges.

>>> import graphviz_grad as gg
>>> from graphviz_grad.overview import overview
>>> trace = gg.grad("h.a = x*w; h.b = relu(h.a); L = (h.b - y)**2", x=2, w=3, y=1)
>>> source = overview_dot(overview(trace, expand=()), legend=False)
>>> print(source.splitlines()[-2])
  "\u2060group h" -> "\u2060group L" [id="a2"];

Deterministic and escaped like `graphviz_grad.dot`: node ids are the node names, a
group's id is ``group <its id>`` after an invisible U+2060 (which no node name can
contain, so the two never clash), and every text is escaped. A collapsed group is a box
with rounded corners: its name, then ``N nodes · I in · O out``, its finite value range,
the largest |dL/dnode| inside and where, and a warning line for inf, nan and kinks. Its
fill is the colour of that largest gradient. An expanded group is a frame (a Graphviz
cluster) around its children, so it is laid out in place. An edge between boxes that
stands for several edges says how many; the edges of highlighted paths are thick and orange.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from .dot import (
    CURRENT_COLOR,
    EDGE_COLOR,
    FAULT_BORDER,
    FAULT_FILL,
    FONT,
    NEGATIVE,
    POSITIVE,
    UNKNOWN_FILL,
    WORD_JOINER,
    _footer,
    _html,
    fill,
    format_number,
    quote,
    text_width,
)
from .graph import CONST, INPUT
from .ops import OPS
from .overview import Overview

FONT_SIZE = 14
"""Points. The smallest text is the legend's 10 points, so at fit-to-width on a 1,280 px
screen a picture up to 1,280 · 10 / 8 = 1,600 points wide keeps every text at 8 px or more."""
FRAME_FILL = "#f7f7f7"


QUICK_LAYOUT_EDGES = 150
"""Past this many edges an overview asks dot for a quicker, rougher layout: boxes stay few (≤ 80),
but aggregated edges between them need not (shared parameters reach every block), and dot's crossing
minimisation over 483 such edges took 48 s (3.4 s with the limits)."""


def group_dot_id(group_id: str) -> str:
    """The DOT id of a group's box: cannot clash with a node name (which has no U+2060)."""
    return quote(f"{WORD_JOINER}group {group_id}")


def overview_dot(view: Overview, *, digits: int = 3, rankdir: str | None = None, legend: bool = True,
                 caption: str = "", done: frozenset[str] | None = None, current: str | None = None,
                 room: Sequence[str] = (), framed: bool = False) -> str:
    """The DOT text of ``view``. For frames: ``done`` the box ids whose gradients are known
    (``None``: all; others are grey), ``current`` the box drawn with an orange border,
    ``caption`` the text under it, ``room`` the captions its box must fit and ``framed`` boxes
    as wide as with every number shown (so that frames line up). ``rankdir``:
    the view's (default LR)."""
    rankdir = rankdir or view.rankdir
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"rankdir must be LR, TB, RL or BT, not {rankdir!r}")
    boxes, edges = view.layout()
    graph, tree = view.graph, view.tree
    on_paths = view.path_boxes()
    largest = view.largest_grad
    ids = {}
    for kind, index, _ in boxes:
        if kind in ("group", "frame"):
            ids[f"{'g' if kind == 'group' else 'c'}{index}"] = group_dot_id(tree.groups[index].id)
        else:
            ids[f"n{index}"] = quote(graph.nodes[index].name)
    footer = _footer(caption, graph.output if legend else None, False, "", room)  # a 10-point legend
    attributes = f'rankdir={rankdir} fontname="{FONT}" bgcolor="white" nodesep=0.25 ranksep=0.35'
    if len(edges) > QUICK_LAYOUT_EDGES:  # few passes of dot's crossing and ranking searches
        attributes += " mclimit=0.1 nslimit=1 nslimit1=1"
    if footer:
        attributes += f" label=<{footer}> labelloc=b labeljust=l"
    lines = [f"digraph {quote(graph.output)} {{", f"  graph [{attributes}]",
             f'  node [shape=plain fontname="{FONT}" fontsize={FONT_SIZE}]',
             f'  edge [fontname="{FONT}" fontsize={FONT_SIZE - 2} color="{EDGE_COLOR}" arrowsize=0.7]']
    open_frames = [0]
    for kind, index, frame in boxes:
        while open_frames[-1] != frame:
            open_frames.pop()
            lines.append("  " * len(open_frames) + "}")
        indent = "  " * len(open_frames)
        box_id = f"{'g' if kind == 'group' else 'c' if kind == 'frame' else 'n'}{index}"
        known = done is None or box_id in done
        if kind == "frame":
            group, summary = tree.groups[index], view.summaries[index]
            title = _html(f"{group.label or group.id}  ({summary.nodes:,} nodes)")
            lines.append(f'{indent}subgraph {quote("cluster " + WORD_JOINER + group.id)} {{')
            # labelloc=t, not the legend's labelloc=b that a cluster inherits: the title closes the
            # frame, and the viewer shows a frame taller than the stage from its top edge
            lines.append(f'{indent}  graph [id="{box_id}" label=<<B>{title}</B>> labelloc=t labeljust=l '
                         f'style="rounded,filled" fillcolor="{FRAME_FILL}" color="#999999" '
                         f"fontsize={FONT_SIZE}]")
            open_frames.append(index)
        elif kind == "group":
            label = _group_label(view, index, largest, digits, known, box_id in on_paths or box_id == current,
                                 framed)
            lines.append(f'{indent}{ids[box_id]} [id="{box_id}" label=<{label}>];')
        else:
            label = _node_label(view, index, largest, digits, known, box_id in on_paths or box_id == current,
                                framed)
            lines.append(f'{indent}{ids[box_id]} [id="{box_id}" {label}];')
    while len(open_frames) > 1:
        open_frames.pop()
        lines.append("  " * len(open_frames) + "}")
    for number, (source, target, count, lit) in enumerate(edges):
        attributes = f'id="a{number}"'
        if count > 1:
            attributes += f' label=<&#215;{count}>'  # the multiplication sign
        if lit:
            attributes += f' color="{CURRENT_COLOR}" penwidth=3'
        lines.append(f"  {ids[source]} -> {ids[target]} [{attributes}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _colours(grad: float | None, largest: float, known: bool, fault: bool) -> tuple[str, str]:
    if fault:
        return FAULT_FILL, "black"
    if not known or grad is None:
        return UNKNOWN_FILL, "black"
    colour = fill(grad, largest)
    return colour, "white" if colour in (POSITIVE[-1], NEGATIVE[-1]) else "black"


def _table(rows: list[str], colour: str, text_colour: str, border_colour: str, border: int,
           rounded: bool, least: float) -> str:
    font = (lambda row: f'<FONT COLOR="{text_colour}">{row}</FONT>') if text_colour != "black" else str
    cells = "".join(f"<TR><TD>{font(row)}</TD></TR>" for row in rows)
    style = ' STYLE="ROUNDED"' if rounded else ""
    line = f' COLOR="{border_colour}"' if border_colour != "black" else ""
    width = f' WIDTH="{round(least)}"' if least else ""
    border = 2 if least else border  # frames: one border width, so that no box changes size
    return (f'<TABLE BORDER="{border}" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" BGCOLOR="{colour}"'
            f"{line}{style}{width}>{cells}</TABLE>")


def _least(rows: list[str]) -> float:
    """A box's least width in frames: wide enough for its widest row with every number shown,
    so a box keeps its size (and every box its place) from frame to frame (the current box
    is told by its colour, not by a thicker border)."""
    return max(text_width(re.sub("<[^>]*>", "", row), FONT_SIZE) for row in rows) + 8


def _group_rows(view: Overview, index: int, digits: int, known: bool) -> list[str]:
    group, summary = view.tree.groups[index], view.summaries[index]
    number = lambda value: format_number(value, digits)  # noqa: E731
    kind = "" if group.kind == "declared" else f" {_html(group.kind)}"
    rows = [f"<B>{_html(group.label or group.id)}</B>  ⊞{kind}",
            _html(f"{summary.nodes:,} nodes · {len(summary.inputs):,} in · {len(summary.outputs):,} out")]
    if summary.low is not None:
        rows.append(_html(f"value {number(summary.low)} … {number(summary.high)}"))
    if summary.largest_at is not None:
        at = _shorten(summary.largest_at.removeprefix(group.id + "."))  # named from inside the box
        grad = number(abs(summary.largest_grad or 0.0)) if known else "?"
        rows.append(_html(f"max |∇| {grad} at {at}"))
    flags = [f"{count} {word}" for count, word in ((summary.inf, "inf"), (summary.nan, "nan"),
                                                   (summary.kinks, "kinks")) if count]
    if flags:
        rows.append(_html("⚠ " + " · ".join(flags)))
    return rows


def _group_label(view: Overview, index: int, largest: float, digits: int, known: bool, current: bool,
                 framed: bool) -> str:
    summary = view.summaries[index]
    rows = _group_rows(view, index, digits, known)
    fault = bool(summary.inf or summary.nan)
    colour, text_colour = _colours(summary.largest_grad, largest, known, fault)
    flagged = fault or summary.kinks
    border_colour, border = (CURRENT_COLOR, 3) if current else (FAULT_BORDER if flagged else "black", 1)
    least = _least(_group_rows(view, index, digits, True)) if framed else 0.0
    return _table(rows, colour, text_colour, border_colour, border, True, least)


def _node_rows(view: Overview, index: int, digits: int, known: bool) -> list[str]:
    node, trace = view.graph.nodes[index], view.trace
    short_args = [_shorten(view.tree.short(index, arg)) for arg in node.inputs]
    computes = "  input" if node.op == INPUT else " = " + _html(OPS[node.op].text.format(*short_args))
    grad = format_number(trace.grads[index], digits) if known else "?"
    return [f"<B>{_html(_shorten(view.tree.short(index)))}</B>{computes}",
            _html(f"{format_number(trace.values[index], digits)} | ∇ {grad}")]


def _node_label(view: Overview, index: int, largest: float, digits: int, known: bool, current: bool,
                framed: bool) -> str:
    node, trace = view.graph.nodes[index], view.trace
    if node.op == CONST:
        return (f'shape=ellipse style=filled fillcolor="#f2f2f2" color="#999999" fontsize={FONT_SIZE - 4} '
                f'width=0 height=0 margin="0.06,0.03" label=<{_html(node.name)}>')
    value, grad = trace.values[index], trace.grads[index]
    fault = not math.isfinite(value) or (known and not math.isfinite(grad))
    colour, text_colour = _colours(grad, largest, known, fault)
    border_colour, border = (CURRENT_COLOR, 3) if current or index == view.focus else (
        FAULT_BORDER if fault else "black", 2 if node.name == view.graph.output else 1)
    least = _least(_node_rows(view, index, digits, True)) if framed else 0.0
    rows = _node_rows(view, index, digits, known)
    return f"label=<{_table(rows, colour, text_colour, border_colour, border, False, least)}>"


_LONG = re.compile(r"(.{12}).{4,}(.{6})")


def _shorten(text: str) -> str:
    """A long name cut in the middle, so boxes stay narrow (the SVG title has it whole)."""
    return _LONG.sub(r"\1…\2", text) if len(text) > 22 else text


def steps(view: Overview, digits: int = 3) -> list[tuple[str, str]]:
    """The backward pass a box at a time: ``(box id, caption)`` for every box that is not a
    frame or a constant, from the output back (by the last node inside, in evaluation order)."""
    boxes, _ = view.layout()
    order = []
    for kind, index, _ in boxes:
        if kind == "group":
            order.append((view.tree.groups[index].last, f"g{index}", index))
        elif kind == "node" and view.graph.nodes[index].op != CONST:
            order.append((index, f"n{index}", index))
    order.sort(reverse=True)
    number = lambda value: format_number(value, digits)  # noqa: E731
    listed = []
    for k, (_, box, index) in enumerate(order, 1):
        if box.startswith("g"):
            group, summary = view.tree.groups[index], view.summaries[index]
            text = (f"{group.id} ({summary.nodes:,} nodes): gets Σ {number(summary.receives)} from the "
                    f"{len(summary.outputs):,} output(s) read outside, passes Σ {number(summary.passes)} "
                    f"to its {len(summary.inputs):,} input(s)")
        else:
            name = view.graph.nodes[index].name
            text = f"d{view.graph.output}/d{name} = {number(view.trace.grads[index])}"
        listed.append((box, f"Step {k} of {len(order)}, backward: {text}"))
    return listed


def paths_caption(view: Overview, digits: int = 3) -> str:
    """One line per highlighted path: its nodes and its contribution (empty without paths)."""
    if not view.paths:
        return ""
    start = view.paths[0].nodes[0]
    lines = [f"The {len(view.paths)} path(s) contributing most to d{view.graph.output}/d{start} = "
             f"{format_number(view.trace.grad(start), digits)} (orange):"]
    lines += [f"{format_number(path.contribution, digits)} along " + " → ".join(_ends(path.nodes))
              for path in view.paths]
    return "   ".join(lines)


def _ends(nodes: Sequence[str], most: int = 7) -> list[str]:
    """A long path's first and last nodes, with how many are left out between them."""
    if len(nodes) <= most:
        return list(nodes)
    return [*nodes[:4], f"({len(nodes) - 6} more)", *nodes[-2:]]


def overview_pictures(view: Overview, fmt: str = "svg", *, frames: bool = False, backend: str | None = None,
                      digits: int = 3, legend: bool = True, note: str = "") -> list[bytes]:
    """The overview as one picture, or (``frames``) one per step of `steps` (a box keeps its
    place in every frame: same boxes, same sizes, same caption room, same layout); ``note``
    is added to the one picture's caption."""
    from .layout import render_many

    if not frames:
        caption = "   ".join(text for text in (paths_caption(view, digits), note) if text)
        return render_many([overview_dot(view, digits=digits, legend=legend, caption=caption)], fmt,
                           backend=backend)
    sequence = steps(view, digits)
    captions = [caption for _, caption in sequence]
    sources = [overview_dot(view, digits=digits, legend=legend, caption=caption, current=box,
                            done=frozenset(b for b, _ in sequence[:k + 1]), room=captions, framed=True)
               for k, (box, caption) in enumerate(sequence)]
    return render_many(sources, fmt, backend=backend)
