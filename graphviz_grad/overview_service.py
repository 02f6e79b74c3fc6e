"""The page's big graphs: ``/api/overview`` opens and closes groups of an overview.

>>> from graphviz_grad import service
>>> request = {"formula": "h.a = x*w; L = h.a**2", "values": {"x": 2, "w": 3}, "open": []}
>>> status, data = service.respond("overview", request)
>>> status, data["kind"], data["open"], [item["id"] for item in data["nodes"]]
(200, 'overview', [], ['n0', 'n1', 'g1', 'n4', 'n2'])
>>> status, data = service.respond("overview", {**request, "group": "h"})
>>> data["open"], data["change"]["removed"], data["svg"].startswith("<svg")
(['h'], ['g1'], True)

A request names its graph (``formula`` and ``values`` as for ``/api/calculate``, or ``demo``:
``"mlp"``, micrograd's demo network of 65,616 nodes, `graphviz_grad.mlp_demo`), the groups open
so far (``open``: the previous answer's; none given: the automatic overview) and what to do
(``group`` and ``action``: ``expand``, the default, or ``collapse``). The server keeps no
state: it rebuilds the view from ``open`` and lays out only the boxes shown. ``/api/graph``
answers a formula past the page's drawing limit with its automatic overview (`big_graph`). The answer is the
viewer's data (`graphviz_grad.overview_scene.overview_data`), its ``svg`` and the ``change``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from .engine import Trace, backward
from .layout import render
from .overview import Overview
from .overview_scene import ACTIONS, MOST_OPEN, TooManyBoxes, caption, overview_data, reopen, toggle

DEMOS = ("mlp",)
"""The ready big graphs ``/api/overview`` draws by name."""
MAX_GROUP_ID = 400
"""Characters of a group id in a request."""
DEMO, OPEN, GROUP, ACTION = "demo", "open", "group", "action"


def read_overview(body: dict[str, Any]) -> dict[str, Any]:
    """The request checked and reduced to plain data (a `service.RequestError` if not)."""
    from .service import FORMULA, VALUES, RequestError, _formula, _shown, _unicode, _values

    demo = body.get(DEMO)
    if demo is not None:
        if demo not in DEMOS:
            raise RequestError(f"no demo {_shown(str(demo))} (demos: {', '.join(DEMOS)})", DEMO)
        if any(body.get(key) is not None for key in (FORMULA, VALUES)):
            raise RequestError("a demo has its own graph and values: give a demo or a formula, not both",
                               DEMO)
        request: dict[str, Any] = {DEMO: demo, FORMULA: None, VALUES: {}}
    else:
        text = body.get(FORMULA)
        if text is not None and not isinstance(text, str):
            raise RequestError("the formula must be text", FORMULA)
        if text is not None:
            _unicode(text, "the formula", FORMULA)
        request = {DEMO: None, FORMULA: text, VALUES: _values(body.get(VALUES), _formula(text)[1])}
    opened = body.get(OPEN)
    if opened is not None:
        if not isinstance(opened, list) or len(opened) > MOST_OPEN:
            raise RequestError(f"open must be a list of at most {MOST_OPEN:,} group ids", OPEN)
        for name in opened:
            _group_id(name, "open", OPEN)
    request[OPEN] = opened
    group = body.get(GROUP)
    if group is not None:
        _group_id(group, "group", GROUP)
    request[GROUP] = group
    action = body.get(ACTION)
    if action is None:  # (null: not given, as for every other key)
        action = "expand"
    if action not in ACTIONS:
        raise RequestError(f"action must be expand or collapse, not {_shown(str(action))}", ACTION)
    request[ACTION] = action
    if group is not None and opened is None:
        raise RequestError("group needs open: the groups open so far (the last answer's open)", OPEN)
    return request


def _group_id(name: Any, what: str, field: str) -> None:
    from .service import RequestError, _unicode

    if not isinstance(name, str) or len(name) > MAX_GROUP_ID:
        raise RequestError(f"{what}: a group id is text of at most {MAX_GROUP_ID} characters", field)
    _unicode(name, what, field)


@cache
def demo_trace(name: str) -> Trace:
    """A ready big graph's trace, built once per process (the 65,616-node demo takes about a second)."""
    from .mlp_demo import mlp_trace

    if name != "mlp":
        raise KeyError(f"no demo {name!r}")
    return mlp_trace()


def overview_page(request: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to ``/api/overview``: the view after the request's action, drawn."""
    from .service import FORMULA, VALUES, RequestError, _formula

    if request[DEMO] is not None:
        trace = demo_trace(request[DEMO])
    else:
        trace = backward(_formula(request[FORMULA])[1], request[VALUES])
    group, action = request[GROUP], request[ACTION]
    try:
        if group is None:
            view = Overview(trace, expand="auto") if request[OPEN] is None else reopen(trace, request[OPEN])
            change = None
        else:
            view, change = toggle(trace, request[OPEN], group, action)
    except KeyError as error:  # a group the graph does not have
        raise RequestError(f"{error.args[0]} in this graph", GROUP) from None
    except ValueError as error:  # the whole graph cannot be closed
        raise RequestError(str(error), GROUP) from None
    except TooManyBoxes as error:  # (the open list alone: field open)
        raise RequestError(str(error), OPEN if group is None else GROUP) from None
    shown = view.to_dict()
    return drawn(view, caption(view, group, action, change, shown=shown), shown, change=change, group=group,
                 action=action)


def drawn(view: Overview, text: str, shown: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The viewer's data for ``view`` (``shown``: its `Overview.to_dict`) with the caption
    ``text``, its ``svg`` and ``extra``."""
    from .overview_dot import overview_dot

    svg = render(overview_dot(view, digits=3), "svg").decode("utf-8")
    return {**overview_data(view, text=text, shown=shown), "svg": svg[svg.index("<svg"):], **extra}


def big_graph(trace: Trace, most: int) -> dict[str, Any]:
    """``/api/graph``'s answer for a graph of more than ``most`` nodes: its automatic overview."""
    view = Overview(trace)
    shown = view.to_dict()
    text = (f"The graph has {len(trace.graph):,} nodes, more than the {most} the page draws one by one: "
            + caption(view, shown=shown)[len("Overview: "):])
    return drawn(view, text, shown, change=None, group=None, action=None, passes="overview")
