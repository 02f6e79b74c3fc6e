"""The forward and backward passes as a sequence of frames, one computation or chain-rule step each.

>>> import graphviz_grad as gg
>>> trace = gg.grad("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> for frame in frames(trace)[6:9]:
...     print(frame.caption)
Backward pass: dL/dL = 1
dL/dz4 = ∂L/∂z4 = 2·z4 = 4
dL/dz3 = dL/dz4 · ∂z4/∂z3 = dL/dz4 · 1 = 4 · 1 = 4

At a node read by several others, the contributions are summed:

>>> trace = gg.grad("e = (a+b)*(b+1)", a=2, b=1)
>>> print(frames(trace, forward=False)[-3].caption)
de/db = de/dz1 · ∂z1/∂b + de/dz2 · ∂z2/∂b = de/dz1 · 1 + de/dz2 · 1 = 2 · 1 + 3 · 1 = 5

A caption is the step's line from `graphviz_grad.steps`, as in the derivation and on the page.

Every frame is drawn on the same layout (`render_frames`), so nodes never move.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .dot import Pins, View, to_dot_frames
from .engine import Trace
from .forward import TangentTrace, dotted
from .graph import CONST, INPUT
from .layout import LayoutError, available, pin, render_many
from .steps import build, listing
from .text import format_number

FORWARD, BACKWARD, DONE = "forward", "backward", "done"


@dataclass(frozen=True)
class Frame:
    """One picture of the sequence: its ``phase`` (forward, backward, done) and what it shows.

    In Jupyter a frame displays as its diagram, captioned.
    """

    index: int
    phase: str
    view: View
    trace: Trace = field(repr=False, compare=False)
    tangents: TangentTrace | None = field(default=None, repr=False, compare=False)
    """Forward mode's tangents, drawn on the nodes (``mode`` forward or both)."""
    mode: str | None = field(default=None, repr=False, compare=False)

    @property
    def caption(self) -> str:
        return self.view.caption

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from .display import frame_diagram

        options = {"tangents": self.tangents, "mode": self.mode} if self.tangents is not None else {}
        return frame_diagram(self.trace, self.view, **options)._repr_mimebundle_(include, exclude)


def frames(trace: Trace, *, forward: bool = True, backward: bool = True, digits: int = 4,
           tangents: TangentTrace | None = None) -> list[Frame]:
    """The frames of the forward pass (one per operation) and of the backward pass (one per
    chain-rule step, then one with every gradient). With ``tangents`` (forward mode, see
    `graphviz_grad.forward.tangents`) each forward frame's caption is the tangent rule first,
    ``ż3 = ż1 + ż2 = 0.1 + 0 = 0.1``, then the value's computation."""
    if not isinstance(trace, Trace):
        raise TypeError(f"frames need a Trace (from grad or backward), not {type(trace).__name__}")
    views = (_forward_views(trace, digits) if forward else []) + (
        _backward_views(trace, digits) if backward else [])
    if tangents is not None and forward:
        views = _with_tangents(views, tangents, digits)
    mode = None if tangents is None else "both" if backward else "forward"
    return [Frame(i, phase, view, trace, tangents, mode) for i, (phase, view) in enumerate(views)]


def _forward_views(trace: Trace, digits: int) -> list[tuple[str, View]]:
    graph = trace.graph
    known = {node.name for node in graph if node.op in (INPUT, CONST)}
    shown = listing([f"{name} = {format_number(trace.value(name), digits)}" for name in graph.inputs])
    views = [(FORWARD, View(values=frozenset(known), grads=frozenset(),
                            caption=f"Forward pass: the inputs {shown}" if shown else "Forward pass"))]
    for step in build(trace, digits=digits).forward:
        known.add(step.node)
        views.append((FORWARD, View(values=frozenset(known), grads=frozenset(), current=step.node,
                                    edges=frozenset((step.node, slot)
                                                    for slot in range(len(graph[step.node].inputs))),
                                    caption=step.annotated)))
    return views


def _with_tangents(views: list[tuple[str, View]], run: TangentTrace, digits: int) -> list[tuple[str, View]]:
    """The forward frames captioned with the tangent rule of their node, then its value."""
    rules = {step.node: step.record(digits).annotated for step in run.steps}
    moved = ", ".join(f"{dotted(name)} = {format_number(number, digits)}"
                      for name, number in run.direction.items() if number)
    result = []
    for phase, view in views:
        if phase == FORWARD and view.current in rules:
            view = replace(view, caption=f"{rules[view.current]}   ({view.caption})")
        elif phase == FORWARD and view.current is None:
            view = replace(view, caption=f"{view.caption}; tangents {moved or 'all 0'}")
        result.append((phase, view))
    return result


def _backward_views(trace: Trace, digits: int) -> list[tuple[str, View]]:
    output = trace.output
    done: set[str] = set()
    views = []
    for step in build(trace, digits=digits).backward:
        done.add(step.node)
        caption = step.annotated if step.terms else f"Backward pass: {step.annotated}"
        views.append((BACKWARD, View(grads=frozenset(done), current=step.node, edges=frozenset(step.terms),
                                     caption=caption)))
    gradients = listing([f"d{output}/d{name} = {format_number(grad, digits)}"
                         for name, grad in trace.gradients.items()])
    views.append((DONE, View(caption=f"Done: {gradients}" if gradients else "Done")))
    return views


def render_frames(trace: Trace, fmt: str = "svg", *, sequence: Sequence[Frame] | None = None,
                  backend: str | None = None, **options: Any) -> list[bytes]:
    """Every frame (default: all of `frames`) as ``fmt`` bytes (svg, png or dot), laid out
    once so that no node moves. ``options`` go to `graphviz_grad.dot.to_dot`."""
    sequence = list(sequence) if sequence is not None else frames(trace)
    captions = [frame.caption for frame in sequence]
    pins = None
    if fmt != "dot" or available():  # dot frames are pinned too when a backend can lay them out
        (full,) = to_dot_frames(trace, [View()], room=captions, **options)
        pins = Pins(*pin(full, backend=backend))
    sources = to_dot_frames(trace, [frame.view for frame in sequence], pins=pins, **options)
    return render_many(sources, fmt, backend=backend, pinned=True)


GIF_FRAME_MS = 1200
GIF_LAST_MS = 4000


def to_gif(pngs: Sequence[bytes], *, frame_ms: int = GIF_FRAME_MS, last_ms: int = GIF_LAST_MS) -> bytes:
    """An animated GIF (looping) from PNG frames of equal size; needs Pillow."""
    try:
        from PIL import Image
    except ImportError:
        raise LayoutError("an animated GIF needs Pillow: pip install 'graphviz-grad[gif]'") from None
    if not pngs:
        raise LayoutError("an animated GIF needs at least one frame")
    images = [Image.open(io.BytesIO(png)).convert("RGB") for png in pngs]
    size = (max(image.width for image in images), max(image.height for image in images))
    canvas = []
    for image in images:
        page = Image.new("RGB", size, "white")
        page.paste(image, (0, 0))
        canvas.append(page.quantize(colors=255, method=Image.Quantize.MEDIANCUT))
    durations = [frame_ms] * (len(canvas) - 1) + [last_ms]
    buffer = io.BytesIO()
    canvas[0].save(buffer, format="GIF", save_all=True, append_images=canvas[1:], duration=durations,
                   loop=0, disposal=1)
    return buffer.getvalue()
