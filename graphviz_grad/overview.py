"""Big graphs, overview first: collapsed groups as boxes, expanded in place on demand.

>>> import graphviz_grad as gg
>>> trace = gg.grad("h.a = x*w; h.b = relu(h.a); L = (h.b - y)**2", x=2, w=3, y=1)
>>> view = overview(trace, expand=())
>>> [box["id"] for box in view.to_dict()["boxes"]]
['n0', 'n1', 'g1', 'g2']
>>> change = view.expand("h")
>>> change["removed"], [box["id"] for box in change["added"]]
(['g1'], ['c1', 'n4', 'n5'])

An `Overview` shows every group of `graphviz_grad.groups` either collapsed (one box with
its `graphviz_grad.summary.Summary`) or expanded (a frame around its children, drawn in
place); nodes of expanded groups are drawn one by one. Edges between two boxes are
aggregated, with their count. Only what is shown is laid out, so the layout never sees
the whole graph.

By default (``expand="auto"``) groups are expanded level by level, at each level the
groups with the largest |dL/dnode| first, while the picture stays within ``boxes``
boxes (80). ``paths`` (from `graphviz_grad.paths.top_paths`) expand the groups they run
through, outer ones first, as far as ``boxes`` allows, and are highlighted (a path through
a group left collapsed shows on its edges); ``focus``/``radius`` expand whatever holds the
nodes near ``focus``, nearest first, within the same ``boxes``.

Ids, shared by the JSON, the DOT ``id`` attributes and so the SVG: ``g<k>`` a collapsed
group box, ``c<k>`` an expanded group's frame, ``n<i>`` node ``i`` (as in
`graphviz_grad.dot`), ``a<k>`` an aggregated edge.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from .engine import Trace
from .graph import CONST, INPUT, Graph
from .groups import GroupTree, group_tree
from .paths import Path
from .serialize import json_number
from .summary import Summary, summarize

BOXES = 80
"""The most boxes an automatic overview shows."""
WIDTH = 1600.0
"""The widest (in points, estimated) an automatic overview may be: at fit-to-width on a
1,280 px screen, the legend's 10-point text in a picture 1,600 points wide is 8 px high."""
JSON_VERSION = 1


_RECENT: dict[int, tuple[Trace, GroupTree, list[Summary]]] = {}
RECENT_TRACES = 4
"""How many traces' group trees and summaries `groups_of` keeps (a server's demo graph is opened
again on every click; the 65,616-node demo's tree and summaries take about 0.4 s)."""


def groups_of(trace: Trace) -> tuple[GroupTree, list[Summary]]:
    """The group tree of ``trace``'s graph and every group's summary, kept for the last few traces
    (both are read-only: views share them).

    >>> from graphviz_grad import backward, parse
    >>> trace = backward(parse("h = tanh(w*x); L = h**2"), {"w": 0.5, "x": 2.0})
    >>> tree, summaries = groups_of(trace)
    >>> groups_of(trace)[0] is tree, len(summaries) == len(tree)
    (True, True)
    """
    kept = _RECENT.get(id(trace))
    if kept is not None and kept[0] is trace:  # the trace itself is kept, so its id is not reused
        return kept[1], kept[2]
    tree = group_tree(trace.graph)
    summaries = summarize(trace, tree)
    while len(_RECENT) >= RECENT_TRACES:
        _RECENT.pop(next(iter(_RECENT)), None)
    _RECENT[id(trace)] = (trace, tree, summaries)
    return tree, summaries


class Overview:
    """One view of a trace's groups: which are expanded, what is highlighted. Mutable:
    `expand` and `collapse` change it and return what changed (for a viewer to patch)."""

    def __init__(self, trace: Trace, *, expand: Iterable[str] | str = "auto", boxes: int = BOXES,
                 width: float = WIDTH, rankdir: str = "LR", paths: Sequence[Path] = (),
                 focus: str | None = None, radius: int = 1):
        if not isinstance(trace, Trace):
            raise TypeError(f"an overview needs a Trace, not {type(trace).__name__}")
        if isinstance(boxes, bool) or not isinstance(boxes, int) or boxes < 1:
            raise ValueError(f"boxes must be a whole number >= 1, not {boxes!r}")
        if rankdir not in ("LR", "TB", "RL", "BT"):
            raise ValueError(f"rankdir must be LR, TB, RL or BT, not {rankdir!r}")
        if isinstance(radius, bool) or not isinstance(radius, int) or not 0 <= radius <= 100:
            raise ValueError(f"the radius must be a whole number from 0 to 100, not {radius!r}")
        self.trace, self.graph, self.rankdir = trace, trace.graph, rankdir
        self.tree, self.summaries = groups_of(trace)
        self.paths = tuple(paths)
        self.expanded: set[int] = {0}
        self.highlighted: set[tuple[int, int]] = set()
        self.on_paths: frozenset[int] = frozenset()
        self.focus: int | None = None
        self.order: list[int] = []  # automatic expansions, in the order they were made
        self._last: tuple[Any, Any] | None = None  # the last layout and what it was of
        self._largest: float | None = None
        if expand == "auto":
            self._auto(boxes, width)
        elif isinstance(expand, str):
            raise ValueError(f"expand takes 'auto' or group names, not {expand!r}")
        else:
            for group_id in expand:
                self._open(self.tree.find(group_id))
        on_paths: dict[int, None] = {}
        for path in self.paths:
            positions = [self.graph.index(name) for name in path.nodes]
            self.highlighted.update(itertools.pairwise(positions))
            on_paths.update(dict.fromkeys(positions))
        self.on_paths = frozenset(on_paths)
        self._open_for_paths(boxes, width)
        self.focus = None if focus is None else self.graph.index(focus)
        if self.focus is not None:
            self._open_near(self.focus, radius, boxes)

    # --- what is expanded ------------------------------------------------------------

    def _open(self, index: int) -> None:
        """Expand group ``index`` and the groups around it (a group is seen only in its parent)."""
        self.expanded.update(self.tree.chain(index))

    def _computing(self) -> list[int]:
        """Per group, how many of its nodes are operations (0: a bank of inputs)."""
        computes = [0] * len(self.tree)
        for position, owner in enumerate(self.tree.of_node):
            if owner >= 0 and self.graph.nodes[position].op != INPUT:
                for group in self.tree.chain(owner):
                    computes[group] += 1
        return computes

    def _open_for_paths(self, boxes: int, width: float) -> None:
        """Expand the groups the paths run through, outer ones first, while the picture
        keeps within ``boxes`` boxes and (estimated) ``width`` points, or as it is if it is
        bigger already; never a bank of inputs. A path through a group left collapsed still
        shows on the highlighted edges into and out of it and on the box's orange border."""
        tree, graph = self.tree, self.graph
        wanted = {g for p in self.on_paths if tree.of_node[p] >= 0 for g in tree.chain(tree.of_node[p])}
        if not wanted - self.expanded:
            return
        drawn = self.layout()[0]
        shown = sum(kind != "frame" for kind, _, _ in drawn)  # a frame replaces its group's box
        constants = {index for kind, index, _ in drawn if kind == "const"}
        computes = self._computing()
        widest = max(width, self.estimated_width())
        for index in sorted(wanted - self.expanded, key=lambda g: (len(tree.chain(g)), g)):
            if not computes[index]:
                continue
            new = {a for n in tree.groups[index].nodes for a in graph.arg_indices[n]
                   if graph.nodes[a].op == CONST} - constants  # constants come with the nodes they feed
            size = len(tree.items(index)) - 1 + len(new)
            if tree.groups[index].parent in self.expanded and shown + size <= max(boxes, shown):
                self.expanded.add(index)
                if self.estimated_width() > widest:
                    self.expanded.discard(index)
                    continue
                shown += size
                constants |= new

    def path_boxes(self) -> frozenset[str]:
        """The ids of the boxes that the highlighted paths go through."""
        return frozenset(self.box_of(p) for p in self.on_paths)

    def _open_near(self, focus: int, radius: int, boxes: int) -> None:
        """Expand what holds ``focus`` and, nearest first, the nodes up to ``radius`` edges
        from it while the picture keeps within ``boxes`` boxes (or as it is, if bigger):
        a parameter read by every sample is one edge from all of them."""
        shown = sum(kind != "frame" for kind, _, _ in self.layout()[0])
        budget = max(boxes, shown)
        for position in self._near(focus, radius):
            owner = self.tree.of_node[position]
            if owner < 0:
                continue
            new = [g for g in self.tree.chain(owner) if g not in self.expanded]
            size = sum(len(self.tree.items(g)) - 1 for g in new)
            if position == focus or shown + size <= budget:
                self.expanded.update(new)
                shown += size

    def _near(self, start: int, radius: int) -> list[int]:
        """Nodes at most ``radius`` edges from ``start``, either way, constants left out."""
        graph = self.graph
        readers: list[list[int]] = [[] for _ in graph.nodes]
        for target, args in enumerate(graph.arg_indices):
            for source in args:
                readers[source].append(target)
        seen, queue = {start: 0}, deque([start])
        while queue:
            position = queue.popleft()
            if seen[position] < radius:
                for other in (*graph.arg_indices[position], *readers[position]):
                    if other not in seen and graph.nodes[other].op != CONST:
                        seen[other] = seen[position] + 1
                        queue.append(other)
        return list(seen)  # nearest first

    def _auto(self, boxes: int, width: float) -> None:
        """Expand level by level while the boxes fit and the estimated width stays within
        ``width`` points: bigger groups first; of alike siblings (a series or block's
        children) only the one with the largest |gradient|; never a group of inputs only
        (a bank of parameters reads best collapsed: expanded, it fans out everywhere).
        A group holding more than half of the nodes is opened even past ``width``: one box
        that is most of the graph says nothing."""
        tree, summaries = self.tree, self.summaries
        computes = self._computing()
        shown = len(tree.items(0))
        level = [(g, 0) for kind, g in tree.items(0) if kind == "g"]
        while level:
            order = sorted(level, key=lambda pair: (-tree.groups[pair[0]].size,
                                                    -abs(summaries[pair[0]].largest_grad or 0.0), pair[0]))
            accepted: list[int] = []
            families: set[int] = set()
            for index, family in order:
                size = len(tree.items(index))
                if family in families or not computes[index] or shown - 1 + size > boxes:
                    continue
                if family:
                    families.add(family)
                shown += size - 1
                self.expanded.add(index)
                accepted.append(index)
            while accepted and self.estimated_width() > width:
                if tree.groups[accepted[-1]].size * 2 > tree.groups[0].size:
                    break  # a box that is most of the graph says nothing: open it, however wide
                index = accepted.pop()
                self.expanded.discard(index)
                shown -= len(tree.items(index)) - 1
            self.order += accepted
            level = [(g, index if tree.groups[index].kind in ("series", "block") else 0)
                     for index in accepted for kind, g in tree.items(index) if kind == "g"]

    def estimated_width(self) -> float:
        """A rough width of the picture in points, before any layout: the boxes are put in
        ranks by their longest chain of edges (as Graphviz's ``dot`` does) and each box is
        about 7 points per character of its widest line. Left to right, the ranks' widest
        boxes add up; top to bottom, the widest rank counts."""
        boxes, edges = self.layout()
        widths = {}
        for kind, index, _ in boxes:
            if kind == "group":
                summary = self.summaries[index]
                text = max(len(self.tree.groups[index].label) + 10, 14 + len(str(summary.nodes)),
                           18 + min(len(summary.largest_at or ""), 22))
                widths[f"g{index}"] = 7.0 * text + 12
            elif kind in ("node", "const"):
                node = self.graph.nodes[index]
                widths[f"n{index}"] = 7.0 * (min(len(node.name), 22) + 4 * len(node.inputs) + 6) + 12
        rank = dict.fromkeys(widths, 0)
        for _ in range(len(widths)):  # longest path; a cycle stops after one pass per box
            changed = False
            for source, target, _, _ in edges:
                if source in rank and target in rank and rank[target] < rank[source] + 1:
                    rank[target], changed = rank[source] + 1, True
            if not changed:
                break
        per_rank: dict[int, list[float]] = {}
        for box, position in rank.items():
            per_rank.setdefault(position, []).append(widths[box])
        if self.rankdir in ("LR", "RL"):
            return sum(max(row) + 60 for row in per_rank.values())
        return max((sum(row) + 20 * len(row) for row in per_rank.values()), default=0.0)

    def expand(self, group_id: str) -> dict[str, Any]:
        """Expand the group called ``group_id`` in place; return the change (see `diff`)."""
        before = self.to_dict()
        self._open(self.tree.find(group_id))
        return diff(before, self.to_dict())

    def collapse(self, group_id: str) -> dict[str, Any]:
        """Collapse the group called ``group_id`` (and everything in it); return the change."""
        index = self.tree.find(group_id)
        if index == 0:
            raise ValueError("the whole graph cannot be collapsed")
        before = self.to_dict()
        self.expanded = {g for g in self.expanded if index not in self.tree.chain(g)}
        return diff(before, self.to_dict())

    # --- what is shown ---------------------------------------------------------------

    def box_of(self, position: int) -> str:
        """The id of the box node ``position`` is drawn in: its own ``n<i>``, or the
        collapsed group around it."""
        owner = self.tree.of_node[position]
        if owner >= 0:
            for group in self.tree.chain(owner)[1:]:
                if group not in self.expanded:
                    return f"g{group}"
        return f"n{position}"

    def layout(self) -> tuple[list[tuple[str, int, int]], list[tuple[str, str, int, bool]]]:
        """What to draw: ``(kind, index, frame)`` for every box in drawing order (kind
        ``group``, ``frame`` (an expanded group), ``node`` or ``const``; ``frame`` is the
        index of the expanded group drawn around it, 0 for none) and ``(source box,
        target box, count, highlighted)`` for every aggregated edge. The last answer is
        kept: it reads every edge of the graph, and a view is drawn and described from it."""
        key = (frozenset(self.expanded), frozenset(self.highlighted))
        if self._last is None or self._last[0] != key:
            self._last = (key, self._layout())
        boxes, edges = self._last[1]
        return list(boxes), list(edges)

    @property
    def largest_grad(self) -> float:
        """The largest finite |dL/dnode| in the graph (0 if none): the scale of every fill."""
        if self._largest is None:
            self._largest = max((abs(g) for g in self.trace.grads if math.isfinite(g)), default=0.0)
        return self._largest

    def _layout(self) -> tuple[list[tuple[str, int, int]], list[tuple[str, str, int, bool]]]:
        tree, graph = self.tree, self.graph
        boxes: list[tuple[str, int, int]] = []
        stack = [(iter(tree.items(0)), 0)]  # depth first, each frame's children in evaluation order
        while stack:
            item = next(stack[-1][0], None)
            if item is None:
                stack.pop()
                continue
            kind, index = item
            frame = stack[-1][1]
            if kind == "n":
                boxes.append(("node", index, frame))
            elif index in self.expanded:
                boxes.append(("frame", index, frame))
                stack.append((iter(tree.items(index)), index))
            else:
                boxes.append(("group", index, frame))
        cache: dict[int, str | None] = {}
        counts: dict[tuple[str, str], list[Any]] = {}
        consts: dict[int, None] = {}
        for target, args in enumerate(graph.arg_indices):
            if not args:
                continue
            owner = tree.of_node[target]
            if owner not in cache:
                cache[owner] = self._collapsed(owner)
            target_box = cache[owner]
            target_id = target_box or f"n{target}"
            for source in args:
                if graph.nodes[source].op == CONST:
                    if target_box is None:
                        consts[source] = None
                        source_id = f"n{source}"
                    else:
                        continue
                else:
                    source_owner = tree.of_node[source]
                    if source_owner not in cache:
                        cache[source_owner] = self._collapsed(source_owner)
                    source_id = cache[source_owner] or f"n{source}"
                if source_id != target_id:
                    entry = counts.setdefault((source_id, target_id), [0, False])
                    entry[0] += 1
                    entry[1] = entry[1] or (source, target) in self.highlighted
        boxes += [("const", position, 0) for position in sorted(consts)]
        edges = [(source, target, count, lit) for (source, target), (count, lit) in counts.items()]
        return boxes, edges

    def _collapsed(self, owner: int) -> str | None:
        if owner < 0:
            return None
        for group in self.tree.chain(owner)[1:]:
            if group not in self.expanded:
                return f"g{group}"
        return None

    def to_dict(self) -> dict[str, Any]:
        """The view as JSON-ready data: ``boxes`` (id, kind, frame it is drawn in, and per kind
        the group's summary and whether it can expand, or the node's numbers) and ``edges``."""
        boxes, edges = self.layout()
        tree, trace = self.tree, self.trace
        listed = []
        for kind, index, frame in boxes:
            box: dict[str, Any] = {"kind": kind, "frame": f"c{frame}" if frame else None}
            if kind in ("group", "frame"):
                group, summary = tree.groups[index], self.summaries[index]
                box.update(id=f"{'g' if kind == 'group' else 'c'}{index}", group=group.id, label=group.label,
                           type=group.kind, expandable=kind == "group", summary=summary_dict(summary))
            else:
                node = self.graph.nodes[index]
                box.update(id=f"n{index}", name=node.name, op=node.op, inputs=list(node.inputs),
                           value=json_number(trace.values[index]), grad=json_number(trace.grads[index]),
                           status=trace.status(node.name))
            listed.append(box)
        return {"version": JSON_VERSION, "output": self.graph.output, "boxes": listed,
                "edges": [{"id": f"a{k}", "source": s, "target": t, "count": n, "highlighted": lit}
                          for k, (s, t, n, lit) in enumerate(edges)],
                "paths": [{"nodes": list(p.nodes), "contribution": json_number(p.contribution)}
                          for p in self.paths]}


def summary_dict(summary: Summary, most: int = 5) -> dict[str, Any]:
    """A summary as JSON-ready data; at most ``most`` input and output names (and their counts)."""
    return {"nodes": summary.nodes, "inputs": len(summary.inputs), "outputs": len(summary.outputs),
            "input_names": list(summary.inputs[:most]), "output_names": list(summary.outputs[:most]),
            "low": json_number(summary.low), "high": json_number(summary.high),
            "largest_grad": json_number(summary.largest_grad), "largest_at": summary.largest_at,
            "inf": summary.inf, "nan": summary.nan, "kinks": summary.kinks,
            "receives": json_number(summary.receives), "passes": json_number(summary.passes)}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed between two `Overview.to_dict` results: ``removed`` box ids, ``added``
    boxes, ``removed_edges`` as ``[source, target]`` pairs and ``added_edges``. Edge ids
    (``a<k>``) are renumbered per view; edges are matched by their ends."""
    old = {box["id"]: box for box in before["boxes"]}
    new = {box["id"]: box for box in after["boxes"]}
    old_edges = {(e["source"], e["target"]): e for e in before["edges"]}
    new_edges = {(e["source"], e["target"]): e for e in after["edges"]}
    return {"removed": [key for key in old if key not in new],
            "added": [box for key, box in new.items() if old.get(key) != box],
            "removed_edges": [list(key) for key in old_edges if key not in new_edges],
            "added_edges": [edge for key, edge in new_edges.items()
                            if {**old_edges.get(key, {}), "id": edge["id"]} != edge]}


def overview(subject: Trace | Graph, values: Any = None, **options: Any) -> Overview:
    """An `Overview` of a trace (or of a graph at ``values``); ``options`` as for `Overview`."""
    if isinstance(subject, Graph):
        from .engine import backward

        subject = backward(subject, values if values is not None else {})
    return Overview(subject, **options)
