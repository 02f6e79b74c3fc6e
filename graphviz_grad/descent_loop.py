"""Gradient descent's inner loop as generated code: many steps per call, one flat record per step.

>>> from graphviz_grad import parse
>>> loop = descent_loop(parse("L = (w - 3)**2"), ("w",))
>>> rows = []
>>> loop([1.5], 0.25, 1, 3, 0.0, 10, 0, 9.0, rows)  # w = 1.5 at step 1 of 3, the loss was 9
(3, 0, 0.5625, [2.625])
>>> rows  # (loss, w, dL/dw) at steps 1 and 2; step 3, the last, is left to descend
[(2.25, 1.5, -3.0), (0.5625, 2.25, -1.5)]

The loop runs the compiled forward and backward passes (`graphviz_grad.compiled.body`, the
interpreter's numbers bit for bit) and the update ``p = p - lr*g`` while nothing could stop
the run. At the first step where something might (the loss, a parameter or a gradient not
finite, or a sum of them overflowing; the loss growing ``patience`` steps in a row; every
|gradient| ≤ ``tol``; the last step), it returns that step unrecorded, with the inputs' values
there, so that `graphviz_grad.descent.descend` decides it with its own rules and messages.
The generated source holds node positions, float literals and op-table functions only, as in
`graphviz_grad.compiled`; no user text.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

from .compiled import MAX_COMPILED_NODES, body
from .engine import _program
from .graph import Graph

Loop = Callable[..., tuple[int, int, float, list[float]]]


def descent_loop(graph: Graph, names: Sequence[str]) -> Loop | None:
    """``loop(xs, lr, step, steps, tol, patience, growing, prev, rows)`` for training the
    inputs ``names`` of ``graph`` (``None`` past the compiler's node cap); cached on the graph.

    ``xs`` are the inputs' values (``graph.inputs`` order) at ``step``; ``growing`` counts the
    steps the loss has grown in a row up to ``prev``, the loss before ``step``. Each step done
    appends ``(loss, *parameters, *gradients)`` to ``rows``; the result is the step to decide,
    the count and loss before it, and the inputs' values there.
    """
    if len(graph) > MAX_COMPILED_NODES:
        return None
    key = ("descent loop", tuple(names))
    cached = graph._cache.get(key)
    if cached is None:
        source, namespace = _loop_source(graph, names)
        exec(builtins.compile(source, "<graphviz_grad descent loop>", "exec"), namespace)  # our source only
        cached = graph._cache[key] = namespace["loop"]
    return cached  # type: ignore[no-any-return]


def _loop_source(graph: Graph, names: Sequence[str]) -> tuple[str, dict[str, Any]]:
    lines, gradients, constants, namespace = body(graph)
    program = _program(graph)
    position = dict(program.inputs)
    inputs = [i for _, i in program.inputs]
    trained = [position[name] for name in names]
    values = [f"v{i}" for i in trained]
    slopes = [gradients[i] for i in trained]
    # An input's gradient feeds nothing else: those of inputs not trained are not computed.
    unused = tuple(f"    g{i} {how} " for i in set(inputs) - set(trained) for how in ("=", "+="))
    lines = [line for line in lines if not line.startswith(unused)]
    loss = f"v{program.output}"
    finite = " + ".join([loss, *values, *slopes])
    flat = ", ".join(f"v{i}" for i in inputs)
    stop = " or ".join(["t - t != 0.0", "grew >= patience", "step == steps",
                        "(" + " and ".join(f"-tol <= {g} <= tol" for g in slopes) + ")"])
    source = [
        "def loop(xs, lr, step, steps, tol, patience, growing, prev, rows):",
        "    record = rows.append",
        *([f"    {flat}, = xs"] if inputs else []),
        *constants,
        "    while True:",
        *["    " + line for line in lines],
        f"        grew = growing + 1 if {loss} > prev else 0",
        f"        t = {finite}",  # not finite, or an overflowing sum: descend decides
        f"        if {stop}:",
        f"            return step, growing, prev, [{flat}]",
        f"        record(({', '.join([loss, *values, *slopes])},))",
        "        growing = grew",
        f"        prev = {loss}",
        *[f"        {value} = {value} - lr * {slope}" for value, slope in zip(values, slopes, strict=True)],
        "        step += 1",
    ]
    return "\n".join(source) + "\n", namespace
