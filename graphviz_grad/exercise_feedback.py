"""Why an exercise's answer is wrong: the step that produces the number, and the slip that
explains the learner's number (a local derivative, a missing factor, a sign, a fan-out path
left out, or a right step on their own wrong earlier answer). `Exercise.explain` uses these.

>>> from graphviz_grad.exercises import exercise
>>> ex = exercise("seed")
>>> print(explain_gradient(ex, "W1", 2.0, {}))
The step: dL/dW1 = dL/dz1 · ∂z1/∂W1. You used dL/dz1 = 4 but ∂z1/∂W1 should be 5 (= x).
>>> print(explain_value(exercise("fanout"), "z1", -3.0, {}))
The step: z1 = a + b = 2 + 1. The sign is off.

Each slip is tried with the exercise's own tolerance, so it is named only when the learner's
number really is what that slip produces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .engine import Edge
from .ops import OPS
from .text import product_dots

if TYPE_CHECKING:
    from .exercises import Exercise

MOST = 8
"""Terms, paths and factors a feedback sentence lists before it gives their count instead."""


def explain_value(ex: Exercise, node: str, answer: float, own: Mapping[str, float | None]) -> str:
    """The forward step that makes ``node`` and the slip behind a wrong ``answer`` for its value."""
    graph_node = ex.graph[node]
    op = OPS[graph_node.op]
    args = [ex.trace.value(name) for name in graph_node.inputs]
    template = product_dots(op.text)
    step = (f"The step: {node} = {template.format(*graph_node.inputs)} = "
            f"{template.format(*(_operand(ex, template, i, a) for i, a in enumerate(args)))}.")
    theirs = [_wrong_own(ex, own, name, value) for name, value in zip(graph_node.inputs, args, strict=True)]
    if any(mine is not None for mine in theirs) and ex.close(answer, op.forward(
            *(value if mine is None else mine for mine, value in zip(theirs, args, strict=True)))):
        k = next(i for i, mine in enumerate(theirs) if mine is not None)
        return (f"{step} Your step is right, but it uses your {graph_node.inputs[k]} = "
                f"{ex.number(theirs[k])}, which should be {ex.number(args[k])}.")
    near = _near(ex, answer, ex.trace.value(node))
    if near:
        return f"{step} {near}"
    if ex.close(-answer, ex.trace.value(node)):
        return f"{step} The sign is off."
    return step


def explain_gradient(ex: Exercise, node: str, answer: float, own: Mapping[str, float | None]) -> str:
    """The chain-rule step that makes dL/d``node`` and the slip behind a wrong ``answer`` for it."""
    out = ex.output
    step = ex.steps_by_node.get(node)
    if node == out:
        return f"d{out}/d{out} = 1: the output's gradient with respect to itself."
    if step is None or not step.received:
        return f"{node} does not reach {out} (or is a constant): its gradient is 0."
    terms = [f"d{out}/d{e.target} · ∂{e.target}/∂{node}" if e.target != out else f"∂{out}/∂{node}"
             for e in step.received]
    text = f"The step: d{out}/d{node} = {_listed(terms, ' + ')}."
    upstream = [ex.trace.grad(e.target) for e in step.received]
    locals_ = [e.local or 0.0 for e in step.received]
    # the learner's own upstream gradients, where they answered them wrongly
    theirs = [_wrong_own(ex, own, f"d{out}/d{e.target}", u)
              for e, u in zip(step.received, upstream, strict=True)]
    used = [u if t is None else t for t, u in zip(theirs, upstream, strict=True)]
    if any(t is not None for t in theirs) and ex.close(answer, sum(u * l for u, l in zip(used, locals_,
                                                                                       strict=True))):
        k = next(i for i, t in enumerate(theirs) if t is not None)
        name = step.received[k].target
        return (f"{text} Your step is right, but it uses your d{out}/d{name} = {ex.number(used[k])}, "
                f"which should be {ex.number(upstream[k])}.")
    exact = step.grad
    near = _near(ex, answer, exact)
    if near:
        return f"{text} {near}"
    if exact != 0 and ex.close(-answer, exact):
        negative = [e for e in step.received if (e.local or 0.0) < 0]
        if len(negative) == 1:
            edge = negative[0]
            return (f"{text} The sign is off: ∂{edge.target}/∂{node} = "
                    f"{_local(ex, edge)} is negative.")
        return f"{text} The sign is off: check the sign of each factor."
    if len(step.received) > 1:
        for k, edge in enumerate(step.received):
            if ex.close(answer, upstream[k] * locals_[k]):
                others = _listed([_path(e, step.received) for i, e in enumerate(step.received[:MOST + 1])
                                  if i != k][:MOST], ", ", len(step.received) - 1)
                return (f"{text} You counted only the path through {_path(edge, step.received)}; "
                        f"{node} also feeds {others}: add every path's contribution (fan-out sums).")
    left_out = dict.fromkeys(f"d{out}/d{e.target} = {ex.number(u)}"
                             for e, u in zip(step.received, upstream, strict=True) if e.target != out)
    if left_out and ex.close(answer, sum(locals_)):
        plural = "s" if len(left_out) > 1 else ""
        return f"{text} You left out the factor{plural} {_listed(list(left_out), ' and ')}."
    if (len(step.received) == 1 and step.received[0].target != out and ex.close(answer, upstream[0])
            and not ex.close(locals_[0], 1)):
        edge = step.received[0]
        return (f"{text} You used d{out}/d{edge.target} = {ex.number(upstream[0])} but left out "
                f"∂{edge.target}/∂{node} = {_local(ex, edge)}.")
    if len(step.received) == 1:
        edge = step.received[0]
        if edge.target == out:
            return f"{text} ∂{out}/∂{node} should be {_local(ex, edge)}."
        return (f"{text} You used d{out}/d{edge.target} = {ex.number(upstream[0])} but "
                f"∂{edge.target}/∂{node} should be {_local(ex, edge)}.")
    parts = _listed([f"{_factor(ex, u)} · {_factor(ex, local)}"
                     for u, local in zip(upstream[:MOST], locals_, strict=False)], " + ", len(upstream))
    return f"{text} With numbers: {parts}."

def _listed(items: list[str], separator: str, count: int | None = None) -> str:
    """At most `MOST` items joined, and how many there are in all where that is more, so a
    wide fan-out's feedback stays a readable line: ``a + b + … (5000 terms in all)``."""
    count = len(items) if count is None else count
    shown = separator.join(items[:MOST])
    return shown if count <= MOST else f"{shown}{separator}… ({count:,} in all)"


def _wrong_own(ex: Exercise, own: Mapping[str, float | None], key: str, exact: float) -> float | None:
    """The learner's own answer for ``key`` where they gave a wrong one (a right one, within the
    tolerance, is as good as the exact number), else None."""
    mine = own.get(key)
    return mine if mine is not None and not ex.close(mine, exact) else None


def _near(ex: Exercise, answer: float, exact: float) -> str | None:
    """The slip of an answer that is the right number but for its digits or its kind (a finite
    number for nan or inf, or the other way round), or None."""
    if not math.isfinite(exact):
        return ("Its exact value is not a finite number: answer nan, inf or -inf."
                if math.isfinite(answer) else None)
    if not math.isfinite(answer):
        return "Its exact value is a finite number."
    within = ex.abs_tol + ex.rel_tol * abs(exact)
    for digits in range(1, 16):
        if math.isclose(answer, float(f"{exact:.{digits}g}"), rel_tol=1e-12, abs_tol=0):
            return (f"That is the right number rounded to {digits} significant digit"
                    f"{'s' if digits > 1 else ''}, which is not within the tolerance of "
                    f"±{ex.number(within)} here: give more digits.")
    if abs(answer - exact) <= 10 * within:
        return (f"That is close, but not within the tolerance of ±{ex.number(within)} here: "
                "check the last digits.")
    return None


def _local(ex: Exercise, edge: Edge) -> str:
    """``5 (= x)``: an edge's local derivative, and its formula in names unless that is the number."""
    formula = ex.local_texts[edge.target, edge.slot]
    number = ex.number(edge.local)
    return number if formula == number else f"{number} (= {formula})"


def _operand(ex: Exercise, template: str, slot: int, value: float) -> str:
    """A number in an operation's text: a negative one in parentheses (``2·(-1)``, ``-(-2)``)
    unless it stands alone as a function's argument (``sigmoid(-1)``)."""
    alone = f"({{{slot}}})" in template or f"({{{slot}}}," in template or f", {{{slot}}})" in template
    return ex.number(value) if alone else _factor(ex, value)


def _factor(ex: Exercise, value: float) -> str:
    """A number as a factor of a product: a negative one in parentheses, ``(-1)``."""
    text = ex.number(value)
    return f"({text})" if text.startswith("-") else text


def _path(edge: Edge, edges: tuple[Edge, ...]) -> str:
    """The reader an edge goes to, and which of its arguments, where it reads the node twice."""
    twice = sum(e.target == edge.target for e in edges) > 1
    return f"{edge.target}'s argument {edge.slot + 1}" if twice else edge.target
