"""Gradient descent on chosen inputs of a formula: the trajectory, and a clean stop when it diverges.

>>> run = descend("L = (x*W1 + y*W2 - B)**2", dict(x=5, y=10, W1=0.1, W2=0.2, B=0.5),
...               wrt="W1,W2,B", lr=0.001, steps=50)
>>> run.status, run.history[0].loss, run.final.loss < 1e-10
('finished', 4.0, True)

Too large a learning rate makes the loss grow; the run stops and says so:

>>> run = descend("L = (x*W1 + y*W2 - B)**2", dict(x=5, y=10, W1=0.1, W2=0.2, B=0.5),
...               wrt="W1,W2,B", lr=0.01)
>>> run.status, len(run.history) - 1
('diverged', 10)
>>> print(run.message)
diverged: L grew for 10 steps in a row (from 4 to 17335.3); try a smaller learning rate than 0.01
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .charts import line_chart, sparkline
from .compiled import replay_for
from .derivation import kinks
from .dot import format_number
from .engine import Trace, backward
from .errors import InputValueError
from .formula import parse
from .graph import Graph
from .seed import default_parameters
from .serialize import json_number
from .text import table

LEARNING_RATE = 0.001
"""The default step, here and in the calculator's update. The seed's loss has curvature
2·(x² + y² + 1) = 252 along its steepest direction at Example 1, so a step above 2/252 ≈ 0.0079
would overshoot and raise the loss."""
STEPS = 100
PATIENCE = 10
"""A run whose loss grows this many steps in a row has diverged."""
MAX_STEPS = 1_000_000
WORK_BUDGET = 20_000_000
"""At most this many steps times graph nodes in one run (the seed: about 1.8 million steps)."""
HISTORY_BUDGET = 2_000_000
"""At most this many steps times parameters kept in one run's history (memory stays bounded)."""

FINISHED, CONVERGED, DIVERGED = "finished", "converged", "diverged"


@dataclass(frozen=True)
class Point:
    """The state after ``step`` updates: the loss, the parameters and their gradients there
    (kept as tuples in the order of ``names``; `parameters` and `gradients` are dicts)."""

    step: int
    loss: float
    names: tuple[str, ...] = field(repr=False)
    parameter_values: tuple[float, ...] = field(repr=False)
    gradient_values: tuple[float, ...] = field(repr=False)

    @property
    def parameters(self) -> dict[str, float]:
        return dict(zip(self.names, self.parameter_values, strict=True))

    @property
    def gradients(self) -> dict[str, float]:
        return dict(zip(self.names, self.gradient_values, strict=True))


@dataclass(frozen=True)
class Descent:
    """A gradient-descent run: every point visited, why it stopped, and renderings."""

    graph: Graph
    values: Mapping[str, float]
    """The starting point (every input)."""
    wrt: tuple[str, ...]
    lr: float
    steps: int
    tol: float
    history: tuple[Point, ...]
    status: str
    """``finished`` (all steps done), ``converged`` (every |gradient| ≤ tol) or ``diverged``."""
    message: str

    @property
    def final(self) -> Point:
        return self.history[-1]

    @property
    def ok(self) -> bool:
        return self.status != DIVERGED

    def trace_at(self, point: Point) -> Trace:
        """The full trace (every node's value and gradient) at one point of the run."""
        return backward(self.graph, {**self.values, **point.parameters})

    def columns(self) -> list[str]:
        out = self.graph.output
        return ["step", out, *self.wrt, *(f"d{out}/d{name}" for name in self.wrt)]

    def rows(self) -> list[list[float]]:
        """Per point: step, loss, the parameters, their gradients (the order of `columns`)."""
        return [self._row(k) for k in range(len(self.history))]

    def to_csv(self) -> str:
        """The trajectory, one row per step, numbers at full precision (``repr``)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns())
        for row in self.rows():
            writer.writerow([row[0], *(repr(float(value)) for value in row[1:])])
        return buffer.getvalue()

    def to_table(self, digits: int = 6, most: int = 21) -> str:
        """The trajectory as a text table, at most ``most`` rows (evenly spaced, always the first
        and the last), then the loss as a sparkline and the stop message."""
        picked = _spread(len(self.history), most)
        cells = [self.columns()]
        for k in picked:
            row = self._row(k)
            cells.append([str(int(row[0])), *(format_number(value, digits) for value in row[1:])])
        skipped = len(self.history) - len(picked)
        note = [f"({skipped} steps not shown; the CSV (--csv, to_csv) has every step)"] if skipped else []
        loss = [f"{self.graph.output} per step: {sparkline([p.loss for p in self.history])}"]
        return "\n".join([table(cells, right=True), *note, "", *loss, self.message])

    def _row(self, k: int) -> list[float]:
        point = self.history[k]
        return [point.step, point.loss, *point.parameter_values, *point.gradient_values]

    def chart(self, fmt: str = "svg") -> bytes:
        """The loss per step as an image (svg, png or pdf; needs matplotlib)."""
        return line_chart([point.loss for point in self.history], fmt,
                          title=f"gradient descent on {', '.join(self.wrt[:6])}"
                                f"{', ...' if len(self.wrt) > 6 else ''} (lr = {self.lr:g}): {self.status}",
                          ylabel=self.graph.output)

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.graph.output, "wrt": list(self.wrt), "lr": self.lr, "steps": self.steps,
                "tol": self.tol, "status": self.status, "message": self.message,
                "history": [{"step": p.step, "loss": json_number(p.loss),
                             "parameters": {n: json_number(v) for n, v in p.parameters.items()},
                             "gradients": {n: json_number(v) for n, v in p.gradients.items()}}
                            for p in self.history]}


def _spread(count: int, most: int) -> list[int]:
    """At most ``most`` indices out of ``range(count)``, evenly spaced, first and last included."""
    if count <= most:
        return list(range(count))
    return sorted({round(k * (count - 1) / (most - 1)) for k in range(most)})


def descend(subject: str | Graph, values: Mapping[str, float], /, *, wrt: Sequence[str] | str | None = None,
            lr: float = LEARNING_RATE, steps: int = STEPS, tol: float = 0.0,
            patience: int = PATIENCE) -> Descent:
    """Run ``steps`` updates ``p ← p - lr·dL/dp`` from ``values`` on the inputs ``wrt``
    (default: W1, W2, B for the seed, all inputs otherwise). The run stops early when every
    |dL/dp| ≤ ``tol`` (converged), or when the loss, a gradient or a parameter is no longer
    finite, or the loss grew ``patience`` steps in a row (diverged). The point where a
    divergence shows is kept in the history.
    """
    graph = subject if isinstance(subject, Graph) else parse(subject)
    names = parameter_names(graph, default_parameters(graph) if wrt is None else wrt)
    lr = positive_number("the learning rate", lr)
    tol = positive_number("the tolerance", tol, zero=True)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= MAX_STEPS:
        raise InputValueError(f"steps must be a whole number from 0 to {MAX_STEPS:,}, not {steps!r}")
    most = min(MAX_STEPS, WORK_BUDGET // len(graph), HISTORY_BUDGET // len(names))
    if steps > most:
        raise InputValueError(f"{steps:,} steps is over the limit for this graph ({len(graph):,} nodes, "
                              f"{len(names):,} parameters): at most {most:,} steps in one run")
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise InputValueError(f"patience must be a whole number >= 1, not {patience!r}")
    start = backward(graph, values)
    replay = replay_for(graph, steps)  # compiled code for long runs, where compiling pays
    point = {name: start.value(name) for name in graph.inputs}
    out = graph.output
    history: list[Point] = []
    growing = 0
    trace = start
    for step in range(steps + 1):
        if step:
            trace = replay.backward(point)
        loss = trace.output_value
        grads = trace.gradients
        history.append(Point(step, loss, names, tuple(point[n] for n in names),
                             tuple(grads[n] for n in names)))
        if len(history) > 1 and loss > history[-2].loss:
            growing += 1
        else:
            growing = 0
        bad = _not_finite(out, loss, point, grads, names)
        if bad and step == 0:
            status, message = DIVERGED, f"cannot start: at the starting point {bad}"
            break
        if bad and loss == -math.inf and all(math.isfinite(point[n]) for n in names):
            status = DIVERGED
            message = (f"diverged at step {step}: {out} fell to -inf; it has no lower bound along "
                       f"{', '.join(names[:6])}, so a smaller learning rate would only delay this")
            break
        if bad:
            status, message = DIVERGED, f"diverged at step {step}: {bad}; {_advice(lr)}"
            break
        if growing >= patience:
            status = DIVERGED
            message = (f"diverged: {out} grew for {patience} steps in a row (from "
                       f"{format_number(history[-1 - patience].loss, 6)} to {format_number(loss, 6)}); "
                       f"{_advice(lr)}")
            break
        if all(abs(grads[n]) <= tol for n in names):
            status = CONVERGED
            bound = f"<= {tol:g}" if tol else "= 0"
            message = (f"converged at step {step}: every |d{out}/dparameter| {bound}; "
                       f"{out} = {format_number(loss, 10)}")
            at_kink = kinks(trace)
            if at_kink:
                node, convention = at_kink[0]
                message += (f" (but node {node} sits where it is not differentiable: the engine follows "
                            f"PyTorch: {convention}, so this need not be a minimum)")
            break
        if step == steps:
            status = FINISHED
            message = (f"finished {steps} steps: {out} went from {format_number(history[0].loss, 6)} "
                       f"to {format_number(loss, 6)}")
            break
        for n in names:
            point[n] = point[n] - lr * grads[n]
    return Descent(graph, {n: start.value(n) for n in graph.inputs}, names, lr, steps, tol,
                   tuple(history), status, message)


def _not_finite(out: str, loss: float, point: Mapping[str, float], grads: Mapping[str, float],
                names: Sequence[str]) -> str:
    if not math.isfinite(loss):
        return f"{out} is {loss}"
    for n in names:
        if not math.isfinite(point[n]):
            return f"{n} is {point[n]}"
        if not math.isfinite(grads[n]):
            return f"d{out}/d{n} is {grads[n]}"
    return ""


def _advice(lr: float) -> str:
    return f"try a smaller learning rate than {lr:g}"


def positive_number(what: str, value: Any, zero: bool = False) -> float:
    """``value`` as a float when it is a finite number > 0 (``zero=True``: >= 0), else an
    `InputValueError` naming ``what``."""
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or value < 0 or (value == 0 and not zero)):
        bound = ">= 0" if zero else "> 0"
        raise InputValueError(f"{what} must be a finite number {bound}, not {value!r}")
    return float(value)


def parameter_names(graph: Graph, wrt: Sequence[str] | str | None) -> tuple[str, ...]:
    """The inputs to train: ``wrt`` as names or ``"W1,W2,B"``, checked; default all inputs."""
    if wrt is None:
        names = list(graph.inputs)
    else:
        names = [name.strip() for name in wrt.split(",")] if isinstance(wrt, str) else list(wrt)
    if not names:
        raise InputValueError("gradient descent needs at least one parameter (an input to train)")
    for name in names:
        if name not in graph.input_set:
            raise InputValueError(f"{name!r} is not an input, so it cannot be trained "
                                  f"(inputs: {', '.join(graph.inputs) or 'none'})")
    if len(set(names)) != len(names):
        raise InputValueError(f"{next(n for n in names if names.count(n) > 1)!r} is named twice")
    return tuple(names)
