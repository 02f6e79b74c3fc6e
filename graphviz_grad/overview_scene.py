"""An overview as the interactive viewer's data: a click opens a group box, or closes an open group.

>>> import graphviz_grad as gg
>>> from graphviz_grad.overview import overview
>>> trace = gg.grad("h.a = x*w; h.b = relu(h.a); L = (h.b - y)**2", x=2, w=3, y=1)
>>> data = overview_data(overview(trace, expand=()))
>>> [(item["id"], item["kind"], item["name"]) for item in data["nodes"]]
[('n0', 'node', 'x'), ('n1', 'node', 'w'), ('g1', 'group', 'h'), ('g2', 'group', 'L')]
>>> view, change = toggle(trace, [], "h", "expand")
>>> open_groups(view), change["removed"], len(overview_data(view)["nodes"])
(['h'], ['g1'], 6)

The viewer (``static/viewer.js``) shows nodes and edges; here a collapsed group is a node of
kind ``group`` (id ``g<k>``, the group's id as its name, its summary as the rows of its
details), an open group's frame one of kind ``frame`` (``c<k>``) and an aggregated edge an
edge ``a<k>``, with the ids of `graphviz_grad.overview`'s JSON and SVG. ``static/overview.js``
turns a click into `toggle`: the server (``/api/overview``) or the player (pre-rendered
views) answers the new drawing, the new data and the change (`graphviz_grad.overview.diff`).

A view is rebuilt from the list of its open groups (`open_groups`), so the server keeps no
state; `MOST_BOXES` bounds what a view opened by hand may draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .engine import Trace
from .errors import GraphvizGradError
from .graph import CONST, INPUT
from .groups import GroupTree
from .ops import OPS
from .overview import Overview, summary_dict
from .serialize import json_number
from .text import format_number

MOST_BOXES = 300
"""Boxes a view opened by hand may draw (Graphviz lays 300 boxes out in about a second)."""
MOST_OPEN = 1_000
"""Open groups a view may list (a request's ``open``)."""
ACTIONS = ("expand", "collapse")
HINT_OPEN = "click the box, or Tab to it and press Enter, to open it in place"
HINT_CLOSE = "click the frame's title, or Tab to it and press Enter, to close it"


class TooManyBoxes(GraphvizGradError):
    """Opening a group would draw more than `MOST_BOXES` boxes."""


def open_groups(view: Overview) -> list[str]:
    """The ids of the groups ``view`` shows open, outer ones first: ``Overview(trace,
    expand=open_groups(view))`` is the same view."""
    return [view.tree.groups[index].id for index in sorted(view.expanded) if index != 0]


def inmost(tree: GroupTree, index: int) -> int:
    """The group a click on group ``index`` opens down to: while a group holds nothing but
    one group (a declared neuron ``layer2.n5`` around the neuron found inside it), that one.

    >>> import graphviz_grad as gg
    >>> from graphviz_grad.groups import group_tree
    >>> tree = group_tree(gg.parse("n.h = relu(w*x + b); L = n.h**2 + y"))
    >>> [tree.groups[g].id for g in (tree.find("n"), inmost(tree, tree.find("n")))]
    ['n', 'n.h']
    """
    while True:
        items = tree.items(index)
        if len(items) != 1 or items[0][0] != "g":
            return index
        index = items[0][1]


def toggle(trace: Trace, opened: Sequence[str], group: str, action: str = "expand", *,
           most_boxes: int = MOST_BOXES) -> tuple[Overview, dict[str, Any]]:
    """The view with ``opened`` open, then ``group`` opened (``action`` expand; down to its
    `inmost` group) or closed (collapse), and the change; a `KeyError` names an unknown
    group, `TooManyBoxes` says when the result would draw more than ``most_boxes`` boxes."""
    if action not in ACTIONS:
        raise ValueError(f"action must be expand or collapse, not {action!r}")
    view = Overview(trace, expand=list(opened))
    if action == "expand":
        change = view.expand(view.tree.groups[inmost(view.tree, view.tree.find(group))].id)
    else:
        change = view.collapse(group)
    shown = len(view.layout()[0])
    if shown > most_boxes:
        size = view.summaries[view.tree.find(group)].nodes
        doing, advice = ("opening", "open a group inside it, or close another group first")
        if action == "collapse":
            doing, advice = "closing", "close more groups first"
        raise TooManyBoxes(f"{doing} {group!r} ({size:,} nodes) would draw {shown:,} boxes, over the limit "
                           f"of {most_boxes:,}: {advice}")
    return view, change


def reopen(trace: Trace, opened: Sequence[str], *, most_boxes: int = MOST_BOXES) -> Overview:
    """The view with ``opened`` open (a request's ``open`` with no ``group``), held to
    ``most_boxes`` boxes like `toggle`'s: a list of many open groups must not make the
    server lay out thousands of boxes. A `KeyError` names an unknown group.

    >>> import graphviz_grad as gg
    >>> trace = gg.grad("h.a = x*w; L = h.a**2", x=2, w=3)
    >>> open_groups(reopen(trace, ["h"]))
    ['h']
    >>> reopen(trace, ["h"], most_boxes=3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    graphviz_grad.overview_scene.TooManyBoxes: the 1 open group would draw 6 boxes, over the limit of 3: ...
    """
    view = Overview(trace, expand=list(opened))
    shown = len(view.layout()[0])
    if shown > most_boxes:
        count = len(opened)
        raise TooManyBoxes(f"the {count:,} open group{'s' if count != 1 else ''} would draw {shown:,} boxes, "
                           f"over the limit of {most_boxes:,}: open fewer groups")
    return view


def caption(view: Overview, group: str | None = None, action: str | None = None,
            change: dict[str, Any] | None = None, *, shown: dict[str, Any] | None = None) -> str:
    """What the viewer's caption says about ``view`` (after ``action`` on ``group``);
    ``shown`` is ``view.to_dict()`` when it is at hand (or that of the view after the action)."""
    if shown is None:
        shown = view.to_dict()
    boxes = sum(1 for box in shown["boxes"] if box["kind"] != "frame")
    whole = f"{len(view.graph):,} nodes drawn as {boxes:,} boxes"
    if group is None or change is None:
        return (f"Overview: {whole}. Click a group to open it in place; click an open group's title to "
                "close it.")
    size = view.summaries[view.tree.find(group)].nodes
    done = "Opened" if action == "expand" else "Closed"
    changed = len(change["removed"]) + len(change["added"])
    return f"{done} {group} ({size:,} nodes): {changed:,} boxes changed; {whole}."


def overview_data(view: Overview, *, digits: int = 4, text: str | None = None,
                  shown: dict[str, Any] | None = None) -> dict[str, Any]:
    """The viewer's data for ``view``: its boxes as ``nodes`` (kind ``group``, ``frame`` or
    ``node``, each with the ``rows`` of its details), its aggregated edges, one frame with
    the caption ``text`` (default `caption`), the overview's own JSON (``shown``, when it is
    at hand) and its open groups."""
    if shown is None:
        shown = view.to_dict()
    if text is None:
        text = caption(view, shown=shown)
    args: dict[str, list[str]] = {}
    readers: dict[str, list[str]] = {}
    edges = []
    for edge in shown["edges"]:
        args.setdefault(edge["target"], []).append(edge["id"])
        readers.setdefault(edge["source"], []).append(edge["id"])
        count = edge["count"]
        edges.append({"id": edge["id"], "source": edge["source"], "target": edge["target"], "count": count,
                      "text": f"{edge['source']} → {edge['target']}: {count:,} edge{_plural(count)}"})
    number = lambda value: format_number(value, digits)  # noqa: E731
    nodes = []
    for box in shown["boxes"]:
        key = box["id"]
        item: dict[str, Any] = {"id": key, "kind": box["kind"], "frame": box["frame"],
                                "args": args.get(key, []), "readers": readers.get(key, []), "looks": [],
                                "notes": [], "verdict": "", "forward": "", "backward": "", "formula": ""}
        if box["kind"] in ("group", "frame"):
            index = view.tree.find(box["group"])
            item.update(name=box["group"], group=box["group"], op=box["kind"], expandable=box["expandable"],
                        value="", grad="", rows=_group_rows(view, index, box["kind"], number))
        else:
            index = int(key[1:])
            node = view.graph.nodes[index]
            item.update(name=node.name, op=node.op, value=number(view.trace.values[index]),
                        grad=number(view.trace.grads[index]), rows=_node_rows(view, index, number))
        nodes.append(item)
    return {"kind": "overview", "output": view.graph.output, "value": json_number(view.trace.output_value),
            "digits": digits, "mode": "reverse", "index": {}, "nodes": nodes, "edges": edges,
            "frames": [{"phase": "overview", "caption": text,
                        "set": {}, "current": None, "edges": []}],
            "overview": shown, "open": open_groups(view), "boxes": len(shown["boxes"])}


def _plural(count: int) -> str:
    return "s" if count > 1 else ""


def _group_rows(view: Overview, index: int, kind: str, number: Any) -> list[list[str]]:
    group, summary = view.tree.groups[index], view.summaries[index]
    data = summary_dict(summary)
    output = view.graph.output

    def names(listed: list[str], count: int) -> str:
        more = count - len(listed)
        return ", ".join(listed) + (f" and {more:,} more" if more > 0 else "") if listed else "none"

    rows = [["group", f"{group.id} ({group.kind}{', open' if kind == 'frame' else ''})"],
            ["nodes", f"{summary.nodes:,} inside · {len(summary.inputs):,} in · "
                      f"{len(summary.outputs):,} out"],
            ["inputs", names(data["input_names"], len(summary.inputs))],
            ["outputs", names(data["output_names"], len(summary.outputs))]]
    if summary.low is not None:
        rows.append(["values", f"{number(summary.low)} … {number(summary.high)}"])
    if summary.largest_at is not None:
        rows.append([f"largest |d{output}/dnode|", f"{number(abs(summary.largest_grad or 0.0))} at "
                                                   f"{summary.largest_at}"])
    rows.append(["gradient at its border", f"receives Σ {number(summary.receives)}, passes Σ "
                                           f"{number(summary.passes)}"])
    flags = [f"{count} {word}" for count, word in ((summary.inf, "inf"), (summary.nan, "nan"),
                                                   (summary.kinks, "kinks")) if count]
    if flags:
        rows.append(["⚠", " · ".join(flags)])
    rows.append(["how", HINT_CLOSE if kind == "frame" else HINT_OPEN])
    return rows


def _node_rows(view: Overview, index: int, number: Any) -> list[list[str]]:
    node, trace = view.graph.nodes[index], view.trace
    output = view.graph.output
    what = ("input" if node.op == INPUT else "constant" if node.op == CONST
            else f"{node.op}: {node.name} = {OPS[node.op].text.format(*node.inputs)}")
    rows = [["op", what], ["value", number(trace.values[index])],
            [f"d{output}/d{node.name}", number(trace.grads[index])]]
    status = trace.status(node.name)
    if status != "ok" or not math.isfinite(trace.grads[index]):
        rows.append(["status", status])
    return rows
