"""A self-contained page for a big graph: its overview in the viewer, groups opened and closed by a click.

>>> import graphviz_grad as gg
>>> from graphviz_grad.overview import overview
>>> trace = gg.grad("h.a = x*w; h.b = relu(h.a); L = (h.b - y)**2", x=2, w=3, y=1)
>>> views = prerendered(overview(trace, expand=()))
>>> [(view["open"], sorted(view["next"])) for view in views.values()]
[([], ['L', 'h']), (['h'], ['L', 'h']), (['L'], ['L', 'h']), (['h', 'L'], ['L', 'h'])]

With no server to lay out a view on demand, the page holds views laid out beforehand: the
first view, then breadth first every view one click away (a collapsed group opened, an open
group closed), two clicks away and so on, up to `MOST_VIEWS` views and `MOST_BYTES` bytes of
drawings and data. A click that leads to a view the page does not hold says so in one line (and how to
get it: ``render --expand GROUP``, or ``graphviz-grad serve``, which opens any group). Each
view is the viewer's data (`graphviz_grad.overview_scene.overview_data`) with its ``svg``,
its ``open`` groups and ``next``: group id → ``[view key, change]`` for every click it
holds (the change lists box ids only, what the viewer marks as new, and the caption that
says what the click did).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from typing import Any

from .overview import Overview
from .overview_scene import MOST_BOXES, caption, inmost, overview_data

MOST_VIEWS = 32
"""Views a page holds at most (the first included)."""
MOST_BYTES = 2 * 2**20
"""Bytes of views (drawing and data) a page holds at most, 2 MiB: a view of a 30-neuron net
is about 300 KB (190 KB of SVG, 110 KB of the viewer's data), and a page of 32 such views
was 9 MB, three times the 3 MB the viewer's issue allows; with the first view shown again
and the viewer's scripts the page is now about 2.6 MB."""

_START = """
(function () {
  "use strict";
  var root = document.getElementById("player");
  var data = JSON.parse(document.getElementById("gg-scene").textContent);
  var views = data.views, note = document.getElementById("gg-note");
  var viewer = GGViewer.mount(root, data, {svg: root.querySelector("svg"), keys: document});
  window.ggViewer = viewer;
  GGOverview.attach(viewer, {
    toggle: function (open, group, action) {
      var link = (viewer.data.next || {})[group];
      if (!link) {
        return Promise.reject(new Error("this page holds " + data.held + " views laid out beforehand, not"
          + " the one that " + (action === "expand" ? "opens " : "closes ") + group + ": graphviz-grad"
          + " render --expand GROUP draws it, graphviz-grad serve opens any group"));
      }
      var shown = Object.assign({}, views[link[0]], {change: link[1]});
      shown.frames = [Object.assign({}, shown.frames[0], {caption: link[1].caption})];  // what the click did
      return Promise.resolve(shown);
    },
    report: function (text) { note.textContent = text; }
  });
})();
"""


def _key(opened: Iterable[str]) -> str:
    return "\n".join(sorted(opened))


def prerendered(view: Overview, *, most_views: int = MOST_VIEWS, most_bytes: int = MOST_BYTES,
                backend: str | None = None) -> dict[str, dict[str, Any]]:
    """The views a page holds, by key (their open group ids, sorted, one per line), the
    first view first; ``view`` is left as it was."""
    from .overview_dot import overview_dot

    tree = view.tree
    first = frozenset(view.expanded)
    shown: dict[frozenset[int], dict[str, Any]] = {}  # each view's boxes
    pictures: dict[frozenset[int], tuple[dict[str, Any], str]] = {}
    links: dict[frozenset[int], dict[str, tuple[frozenset[int], str]]] = {}
    too_big: set[frozenset[int]] = set()

    def visit(state: frozenset[int]) -> bool:  # described and drawn from one layout of the view
        view.expanded = set(state)
        boxes = view.to_dict()
        if len(boxes["boxes"]) > MOST_BOXES and state != first:
            too_big.add(state)
            return False
        shown[state] = boxes
        pictures[state] = (overview_data(view, shown=boxes), overview_dot(view, digits=3))
        return True

    queue = deque([first])
    try:
        visit(first)
        while queue:  # breadth first: one click away, then two, ...
            state = queue.popleft()
            links[state] = {}
            for box in shown[state]["boxes"]:
                if box["kind"] not in ("group", "frame"):  # a group box opens, a frame closes
                    continue
                index = tree.find(box["group"])
                if box["kind"] == "group":
                    after = frozenset({*state, *tree.chain(inmost(tree, index))})
                else:
                    after = frozenset(g for g in state if index not in tree.chain(g))
                if after not in shown:
                    if after in too_big or len(shown) >= most_views or not visit(after):
                        continue
                    queue.append(after)
                links[state][box["group"]] = (after, "expand" if box["kind"] == "group" else "collapse")
    finally:
        view.expanded = set(first)
    order = list(pictures)
    svgs = _laid_out([pictures[state][1] for state in order], backend)
    views: dict[str, dict[str, Any]] = {}
    keys: dict[frozenset[int], str] = {}
    used = 0
    for state, svg in zip(order, svgs, strict=True):
        data = pictures[state][0]
        used += len(svg) + len(json.dumps(data, separators=(",", ":")))
        if used > most_bytes and views:
            break
        text = svg.decode("utf-8")
        keys[state] = _key(data["open"])
        views[keys[state]] = {**data, "svg": text[text.index("<svg"):]}
    for state, key in keys.items():
        views[key]["next"] = {group: [keys[after], _change(view, shown[state], shown[after], group, action)]
                              for group, (after, action) in links[state].items() if after in keys}
        views[key]["held"] = len(views)
    return views


def _change(view: Overview, before: dict[str, Any], after: dict[str, Any], group: str,
            action: str) -> dict[str, Any]:
    """What a click changes: box ids removed, added (as ``{"id"}``) and the caption."""
    old = {box["id"]: box for box in before["boxes"]}
    new = {box["id"] for box in after["boxes"]}
    added = [{"id": box["id"]} for box in after["boxes"] if old.get(box["id"]) != box]
    change: dict[str, Any] = {"removed": [key for key in old if key not in new], "added": added}
    change["caption"] = caption(view, group, action, change, shown=after)
    return change


def _laid_out(sources: list[str], backend: str | None) -> list[bytes]:
    """Each view in a run of its own, a few side by side: system Graphviz 2.43 can crash
    ("double free") given several different graphs with clusters in one run."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from .layout import render

    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        return list(pool.map(lambda source: render(source, "svg", backend=backend), sources))


def overview_parts(view: Overview, *, most_views: int = MOST_VIEWS, most_bytes: int = MOST_BYTES,
                   backend: str | None = None) -> tuple[dict[str, Any], str]:
    """The page's data (the first view's, with every view `prerendered` under ``views``) and
    the first view's drawing."""
    views = prerendered(view, most_views=most_views, most_bytes=most_bytes, backend=backend)
    first = next(iter(views.values()))
    return {**{key: value for key, value in first.items() if key != "svg"}, "views": views}, first["svg"]


def overview_page(data: dict[str, Any], svg: str, *, title: str) -> str:
    """The self-contained page for `overview_parts`: the viewer, the click handling and a line
    for what a click cannot reach."""
    from .player import asset, viewer_page

    note = ('<p id="gg-note" class="ggv-note" role="status" aria-live="polite"></p>'
            f'<p class="ggv-note">This page holds {len(data["views"])} views of the overview laid out '
            "beforehand (one click from the first, then two); <code>graphviz-grad serve</code> opens any "
            "group.</p>")
    return viewer_page(data, svg, title=title, scripts=(asset("overview.js"), _START), after=note)


def overview_player_html(view: Overview, *, title: str, most_views: int = MOST_VIEWS,
                         most_bytes: int = MOST_BYTES, backend: str | None = None) -> str:
    """The page: the viewer over ``view``'s drawing, its groups opened and closed by a click
    among the views `prerendered` holds, a line saying when a click leads elsewhere."""
    data, svg = overview_parts(view, most_views=most_views, most_bytes=most_bytes, backend=backend)
    return overview_page(data, svg, title=title)
