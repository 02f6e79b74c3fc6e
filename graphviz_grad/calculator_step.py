"""One gradient-descent step on the calculator's parameters, and the curvature that bounds its
learning rate (the ``update`` and ``curvature`` parts of a `graphviz_grad.calculator.Calculation`).

>>> from graphviz_grad.calculator import calculate
>>> calculate().update_lines()[-1]
'L: 4 → 2.238016 (lower)'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any

from .dot import format_number
from .engine import Trace, forward
from .graph import Graph
from .serialize import json_number


@dataclass(frozen=True)
class Update:
    """One gradient-descent step ``p ← p - lr·dL/dp`` on the parameters, and the loss after it."""

    lr: float
    before: Mapping[str, float]
    gradients: Mapping[str, float]
    after: Mapping[str, float]
    loss_before: float
    loss_after: float

    @property
    def verdict(self) -> str:
        """``lower``, ``higher``, ``unchanged`` or ``not finite`` (the loss before or after, or a
        new parameter value, is inf or nan: the step means nothing)."""
        numbers = [self.loss_before, self.loss_after, *self.after.values()]
        if not all(math.isfinite(number) for number in numbers):
            return "not finite"
        if self.loss_after < self.loss_before:
            return "lower"
        return "higher" if self.loss_after > self.loss_before else "unchanged"


CURVATURE_PARAMETERS = 100
"""The calculator computes the Hessian for at most this many parameters."""


@dataclass(frozen=True)
class Curvature:
    """The Hessian's largest eigenvalue in the parameters, and the learning rate below which gradient
    descent does not overshoot on the local quadratic model: 2/λmax."""

    max_eigenvalue: float | None
    stable_lr_below: float | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The ``curvature`` object of ``calc --json``: ``max_eigenvalue`` and ``stable_lr_below`` (null
        where there is none; the text's curvature section says why)."""
        return {"max_eigenvalue": json_number(self.max_eigenvalue),
                "stable_lr_below": json_number(self.stable_lr_below)}


def curvature_of(trace: Trace, parameters: Sequence[str]) -> Curvature:
    """λmax and 2/λmax for the parameters at the trace's point.

    >>> from graphviz_grad.engine import backward
    >>> from graphviz_grad.seed import DEFAULTS, seed_graph
    >>> curvature_of(backward(seed_graph(), DEFAULTS), ["W1", "W2", "B"])
    Curvature(max_eigenvalue=252.0, stable_lr_below=0.007936507936507936, note='')
    """
    from .hessian import hessian

    if not parameters:
        return Curvature(None, None, "no parameters")
    if len(parameters) > CURVATURE_PARAMETERS:
        return Curvature(None, None, f"not computed for more than {CURVATURE_PARAMETERS} parameters")
    found = hessian(trace, wrt=list(parameters))
    top = found.max_eigenvalue
    if top is None:
        statuses = sorted({status for row in found.statuses for status in row} - {"ok"})
        return Curvature(None, None, "the Hessian has no ordinary value here (" + ", ".join(statuses) + ")")
    return Curvature(top, 2.0 / top if top > 0 else None)


def _paren(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


class DescentStep:
    """The calculator's update and curvature sections (a part of `graphviz_grad.calculator.Calculation`)."""

    trace: Trace
    graph: Graph
    output: str
    parameters: tuple[str, ...]
    values: dict[str, float]
    gradients: dict[str, float]
    loss: float
    lr: float
    update: Update

    number: Callable[[float | None], str]

    def _update(self) -> Update:
        after = {name: self.values[name] - self.lr * self.gradients[name] for name in self.parameters}
        new_values = {**self.values, **after}
        loss_after = forward(self.graph, new_values)[self.graph.index(self.output)]
        return Update(self.lr, MappingProxyType({name: self.values[name] for name in self.parameters}),
                      MappingProxyType({name: self.gradients[name] for name in self.parameters}),
                      MappingProxyType(after), self.loss, loss_after)

    # --- the parts of the page -----------------------------------------------------------

    @cached_property
    def curvature(self) -> Curvature:
        """The Hessian's largest eigenvalue in the parameters and the stable step lr < 2/λmax."""
        return curvature_of(self.trace, self.parameters)

    def curvature_lines(self) -> list[str]:
        """The curvature section: λmax of the Hessian in the parameters, and the stable learning rate."""
        found = self.curvature
        if found.max_eigenvalue is None:
            return [f"Curvature: {found.note}"]
        names = ", ".join(self.parameters)
        lines = [f"largest eigenvalue of the Hessian in {names}: λmax = {self.number(found.max_eigenvalue)}"]
        if found.stable_lr_below is None:
            lines.append("λmax <= 0: no step size overshoots along a direction of positive curvature here")
        else:
            lines.append(f"gradient descent is stable for lr < 2/λmax = {self.number(found.stable_lr_below)} "
                         f"(here lr = {self.number(self.lr)}: "
                         + ("stable)" if self.lr < found.stable_lr_below else "too large: it overshoots)"))
        return lines

    def update_lines(self) -> list[str]:
        """``W1 ← W1 - lr·dL/dW1 = 0.1 - 0.001·20 = 0.08`` per parameter, then the new loss."""
        update = self.update
        out = self.output
        lines = []
        for name in self.parameters:
            old, g, new = update.before[name], update.gradients[name], update.after[name]
            lines.append(f"{name} ← {name} - lr·d{out}/d{name} = {self.number(old)} - "
                         f"{self.number(self.lr)}·{_paren(self.number(g))} = {self.number(new)}")
        verdict = update.verdict
        before, after = self.number(update.loss_before), self.number(update.loss_after)
        if before == after and update.loss_before != update.loss_after:  # too few digits to see it
            before, after = format_number(update.loss_before, 17), format_number(update.loss_after, 17)
        stable = self.curvature.stable_lr_below
        smaller = "try a smaller learning rate" + (f", lr < 2/λmax = {self.number(stable)}"
                                                   if stable is not None else "")
        advice = {"higher": f": the step overshoots; {smaller}",
                  "not finite": ": the step is unusable here"}.get(verdict, "")
        if verdict == "lower" and stable is not None and self.lr >= stable:
            advice = f"; but lr >= 2/λmax = {self.number(stable)}: repeated steps overshoot"
        lines.append(f"{out}: {before} → {after} ({verdict}{advice})")
        return lines
