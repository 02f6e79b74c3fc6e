"""One drawing and the changes that turn it into every frame: what the interactive viewer shows.

>>> import graphviz_grad as gg
>>> trace = gg.grad("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> data = scene_data(trace)
>>> node = data["nodes"][data["index"]["z1"]]
>>> node["id"], node["forward"], node["backward"]
('n6', 'z1 = x·W1 = 5·0.1 = 0.5', 'dL/dz1 = dL/dz3 · ∂z3/∂z1 = dL/dz3 · 1 = 4 · 1 = 4')
>>> node["looks"][0]["rows"], node["looks"][2]["rows"]
(['value = ?', 'grad = ?'], ['value = 0.5', 'grad = 4'])
>>> frame = data["frames"][1]
>>> frame["caption"], frame["set"], frame["current"], frame["edges"]
('z1 = x·W1 = 5·0.1 = 0.5', {'n6': 1}, 'n6', ['e6_0', 'e6_1'])

The graph is laid out once (`drawing`: the last frame, every value and gradient shown, which is
also the picture without JavaScript). A frame is a caption, the current node, the highlighted
edges and ``set``: the nodes whose *look* changes from the frame before, as ``{node id: look}``;
look 0 shows neither value nor gradient, 1 the value, 2 both. Frame 0's ``set`` is taken from
the drawing. A node's look is its rows of text (those under its header, in the drawing's order),
its fill, text colour and border colour; the browser swaps them in (``static/viewer.js``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .dot import BOTH, Pins, View, _Writer, checked_mode, to_dot
from .engine import Trace
from .forward import TangentTrace, dotted
from .frames import Frame, frames
from .graph import CONST, INPUT
from .layout import render
from .serialize import json_number
from .steps import build, node_notes
from .text import format_number

LOOKS = ((False, False), (True, False), (True, True))
"""(value known, gradient known) for look 0, 1 and 2."""


def _look_of(view: View, name: str) -> int:
    value = view.values is None or name in view.values
    grad = view.grads is None or name in view.grads
    return 2 if value and grad else 1 if value else 0


def scene_data(trace: Trace, *, sequence: Sequence[Frame] | None = None, digits: int = 4,
               compact: bool | None = None, verdicts: Mapping[str, str] | None = None,
               tangents: TangentTrace | None = None, mode: str | None = None) -> dict[str, Any]:
    """The viewer's data for ``trace``: its nodes (with their story), edges and frames
    (default: every frame of `graphviz_grad.frames.frames`). ``verdicts`` maps a node name
    to what the SymPy check says about its gradient. With ``tangents`` (forward mode) the nodes
    show them as `graphviz_grad.dot.to_dot` does in ``mode`` (forward or both), each node gets its
    tangent line (``ż3 = ż1 + ż2 = 0.1 + 0 = 0.1``) and the default frames are forward mode's.

    >>> import graphviz_grad as gg
    >>> data = scene_data(gg.grad("y = x*x", x=3))
    >>> [(node["name"], node["value"], node["grad"]) for node in data["nodes"]], len(data["frames"])
    ([('x', '3', '6'), ('y', '9', '1')], 5)
    """
    if not isinstance(trace, Trace):
        raise TypeError(f"a scene needs a Trace (from grad or backward), not {type(trace).__name__}")
    graph = trace.graph
    mode = checked_mode(mode, tangents, trace)
    if sequence is not None:
        sequence = list(sequence)
    elif tangents is not None:
        sequence = frames(trace, digits=digits, backward=mode == BOTH, tangents=tangents)
    else:
        sequence = frames(trace, digits=digits)
    tangent_lines = {step.node: step.record(digits) for step in tangents.steps} if tangents else {}
    story = build(trace, digits=digits)
    forward = {step.node: step for step in story.forward}
    backward = {step.node: step for step in story.backward}
    if compact is None:
        compact = len(graph) > _compact_at()
    writer = _Writer(graph, trace, digits, compact, Pins(), False)
    writer.show(mode, tangents)
    readers: list[list[str]] = [[] for _ in graph.nodes]
    edges = []
    for edge in story.edges:
        target, source = graph.index(edge.target), graph.index(edge.source)
        edge_id = f"e{target}_{edge.slot}"
        readers[source].append(edge_id)
        edges.append({"id": edge_id, "source": f"n{source}", "target": f"n{target}", "text": edge.text})
    nodes = []
    for i, node in enumerate(graph.nodes):
        looks = []
        if node.op != CONST:
            full = writer.look(i, True, True)[0]
            for value_known, grad_known in LOOKS:
                rows, fill, border, ink = writer.look(i, value_known, grad_known)
                looks.append({"rows": rows + [""] * (len(full) - len(rows)), "fill": fill, "border": border,
                              "ink": ink})
        step_forward, step_backward = forward.get(node.name), backward.get(node.name)
        notes = list(node_notes(trace, node.name))
        if step_backward is not None:
            notes += [note for note in step_backward.notes if note not in notes]
        nodes.append({
            "id": f"n{i}", "name": node.name,
            "op": node.op, "formula": step_forward.symbols if step_forward else "",
            "value": format_number(trace.values[i], digits), "grad": format_number(trace.grads[i], digits),
            "status": trace.status(node.name),
            "args": [f"e{i}_{slot}" for slot in range(len(node.inputs))], "readers": readers[i],
            "forward": step_forward.text if step_forward else
            f"{node.name} = {format_number(trace.values[i], digits)}"
            + (" (an input)" if node.op == INPUT else " (a constant)"),
            "backward": step_backward.text if step_backward else
            f"d{graph.output}/d{node.name} = 0 (it does not reach {graph.output})"
            if node.op == INPUT else "",
            "notes": notes, "verdict": (verdicts or {}).get(node.name, ""), "looks": looks,
            **({"tangent": tangent_lines[node.name].annotated if node.name in tangent_lines else
                f"{dotted(node.name)} = {format_number(tangents.tangents[i], digits)}"}
               if tangents is not None and node.op != CONST else {})})
    shown = {f"n{i}": 2 for i in range(len(graph))}
    frame_data = []
    for frame in sequence:
        view = frame.view
        now = {f"n{i}": _look_of(view, node.name) for i, node in enumerate(graph.nodes) if node.op != CONST}
        changed = {key: look for key, look in now.items() if shown.get(key) != look}
        shown.update(changed)
        frame_data.append({
            "phase": frame.phase, "caption": frame.caption, "set": changed,
            "current": f"n{graph.index(view.current)}" if view.current else None,
            "edges": sorted((f"e{graph.index(target)}_{slot}" for target, slot in view.edges),
                            key=lambda key: tuple(map(int, key[1:].split("_"))))})
    return {"output": graph.output, "value": json_number(trace.output_value), "digits": digits, "mode": mode,
            "index": {node.name: i for i, node in enumerate(graph.nodes)},
            "nodes": nodes, "edges": edges, "frames": frame_data,
            **({"tangent": tangents.to_dict()} if tangents is not None else {})}  # with its direction


def drawing(trace: Trace, *, digits: int = 4, rankdir: str = "LR", compact: bool | None = None,
            backend: str | None = None, tangents: TangentTrace | None = None, mode: str | None = None) -> str:
    """The graph laid out once, every value and gradient (and, with ``tangents``, tangent as in
    ``mode``) shown, each edge with its local derivative (``∂z1/∂x = W1 = 0.1``) and the colour
    legend, as SVG markup without the XML prologue (ready to place in HTML)."""
    source = to_dot(trace, digits=digits, rankdir=rankdir, compact=compact, symbolic=True,
                    tangents=tangents, mode=mode)
    svg = render(source, "svg", backend=backend).decode("utf-8")
    return svg[svg.index("<svg"):]


VERDICT_WORDS = {"agree": "agrees", "disagree": "DISAGREES", "kink": "a kink (not differentiable here)",
                 "undefined": "no real value here", "infinite": "both infinite", "overflow": "beyond float64",
                 "too large": "too large to check", "not checked": "not checked (time budget)"}


def verdicts(report: Any, digits: int = 4) -> dict[str, str]:
    """What a SymPy check (`graphviz_grad.symbolic.check`) says about each node it checked:
    ``{name: "agrees: dL/dW1 = 2*x*(…) = 20 (engine 20)"}``, for the viewer's details."""
    found = {}
    for row in getattr(report, "rows", ()):
        word = VERDICT_WORDS.get(row.status, row.status)
        value = format_number(row.symbolic_value, digits)
        found[row.wrt] = (f"{word}: {row.label} = {row.symbolic} = {value}"
                          f" (engine {format_number(row.engine, digits)})")
    return found


MOST_DESCENT_FRAMES = 60
"""A descent is played with at most this many frames (plus its last point)."""
CURVE_POINTS = 500
"""The loss curve keeps at most this many points of a run."""
DESCENT_MS = 500


def descent_data(run: Any, *, every: int | None = None, digits: int = 4) -> dict[str, Any]:
    """The viewer's data for a gradient-descent run (`graphviz_grad.descent.Descent`): a frame
    every ``every`` steps (default: at most `MOST_DESCENT_FRAMES` frames) and the last point, each
    changing the values, gradients, colours and local derivatives it moves; ``curve`` is the loss
    by step. The drawing to use is that of frame ``drawn_frame`` (the longest texts, so every box
    fits every frame): each item's ``drawn`` names its look there."""
    history = run.history
    if every is None:
        every = max(1, -(-(len(history) - 1) // MOST_DESCENT_FRAMES))
    picked = sorted({*range(0, len(history), every), len(history) - 1})
    traces = [run.trace_at(history[k]) for k in picked]
    graph = traces[0].graph
    first = scene_data(traces[0], sequence=[], digits=digits)
    nodes, edges = first["nodes"], first["edges"]
    for node in nodes:
        node["looks"] = []
    for edge in edges:
        edge["looks"] = []
    frame_data = []
    shown: dict[str, Any] = {}
    index: dict[str, int] = {}  # the look each item shows now
    widest, drawn = -1, 0  # the frame with the longest texts is drawn: every box fits every frame
    for k, trace in zip(picked, traces, strict=True):
        writer = _Writer(graph, trace, digits, len(graph) > _compact_at(), Pins(), False)
        story = build(trace, digits=digits)
        forward = {step.node: step.text for step in story.forward}
        backward = {step.node: step.text for step in story.backward}
        changed = {}
        for i, node in enumerate(graph.nodes):
            if node.op == CONST:
                continue
            rows, fill, border, ink = writer.look(i, True, True)
            look_value = format_number(trace.values[i], digits)
            look = {"rows": rows, "fill": fill, "border": border, "ink": ink,
                    "value": format_number(trace.values[i], digits),
                    "grad": format_number(trace.grads[i], digits),
                    "forward": forward.get(node.name) or f"{node.name} = {look_value}",
                    "backward": backward.get(node.name, "")}
            changed.update(_add_look(nodes[i], look, shown))
        for edge, step in zip(edges, story.edges, strict=True):
            changed.update(_add_look(edge, {"rows": [step.text]}, shown))
        index.update(changed)
        width = sum(len(row) for look in shown.values() for row in look["rows"])
        if width > widest:
            widest, drawn = width, len(frame_data)
            for item in nodes + edges:
                if item["id"] in index:
                    item["drawn"] = index[item["id"]]
        point = history[k]
        moved = ", ".join(f"{name} = {format_number(value, digits)}"
                          for name, value in point.parameters.items())
        frame_data.append({"phase": "descent", "step": point.step, "set": changed,
                           "current": None, "edges": [],
                           "caption": f"after {point.step} steps: {graph.output} = "
                                      f"{format_number(point.loss, digits)}; {moved}"})
    stride = max(1, -(-len(history) // CURVE_POINTS))
    curve = [[point.step, json_number(point.loss), format_number(point.loss, digits)]
             for point in history[::stride]]
    if curve[-1][0] != history[-1].step:
        last = history[-1]
        curve.append([last.step, json_number(last.loss), format_number(last.loss, digits)])
    return {**first, "frames": frame_data, "curve": curve, "interval": DESCENT_MS,
            "parameters": list(history[0].names), "drawn_frame": drawn,
            "drawn_step": history[picked[drawn]].step}


def descent_drawing(run: Any, data: Mapping[str, Any], *, backend: str | None = None) -> str:
    """The drawing `descent_data` asks for: the graph at step ``data["drawn_step"]`` of ``run``."""
    point = next(point for point in run.history if point.step == data["drawn_step"])
    return drawing(run.trace_at(point), digits=data["digits"], backend=backend)


def _compact_at() -> int:
    from .dot import COMPACT_AT

    return COMPACT_AT


def _add_look(item: dict[str, Any], look: dict[str, Any], shown: dict[str, Any]) -> dict[str, int]:
    """Add ``look`` to ``item`` unless it is the one shown now; the change to make, if any."""
    if shown.get(item["id"]) == look:
        return {}
    item["looks"].append(look)
    shown[item["id"]] = look
    return {item["id"]: len(item["looks"]) - 1}
