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

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .engine import Edge
from .ops import OPS

if TYPE_CHECKING:
    from .exercises import Exercise


def explain_value(ex: Exercise, node: str, answer: float, own: Mapping[str, float | None]) -> str:
    """The forward step that makes ``node`` and the slip behind a wrong ``answer`` for its value."""
    graph_node = ex.graph[node]
    op = OPS[graph_node.op]
    args = [ex.trace.value(name) for name in graph_node.inputs]
    step = f"The step: {node} = {op.text.format(*graph_node.inputs)} = " + op.text.format(
        *(ex.number(a) for a in args)) + "."
    theirs = [own.get(name) if own.get(name) is not None else value
              for name, value in zip(graph_node.inputs, args, strict=True)]
    if theirs != args and ex.close(answer, op.forward(*theirs)):
        wrong = next(name for name, mine, true in zip(graph_node.inputs, theirs, args, strict=True)
                     if mine != true)
        return (f"{step} Your step is right, but it uses your {wrong} = {ex.number(own[wrong])}, "
                f"which should be {ex.number(ex.trace.value(wrong))}.")
    if ex.close(-answer, ex.trace.value(node)):
        return f"{step} The sign is off."
    return step

def explain_gradient(ex: Exercise, node: str, answer: float, own: Mapping[str, float | None]) -> str:
    """The chain-rule step that makes dL/d``node`` and the slip behind a wrong ``answer`` for it."""
    out = ex.output
    step = ex.steps_by_node.get(node)
    if node == out:
        return f"d{out}/d{out} = 1: the output's gradient with respect to itex."
    if step is None or not step.received:
        return f"{node} does not reach {out} (or is a constant): its gradient is 0."
    terms = [f"d{out}/d{e.target} · ∂{e.target}/∂{node}" if e.target != out else f"∂{out}/∂{node}"
             for e in step.received]
    text = f"The step: d{out}/d{node} = {' + '.join(terms)}."
    upstream = [ex.trace.grad(e.target) for e in step.received]
    locals_ = [e.local or 0.0 for e in step.received]
    # the learner's own upstream gradients, where they answered them
    theirs = [own.get(f"d{out}/d{e.target}") for e in step.received]
    used = [t if t is not None else u for t, u in zip(theirs, upstream, strict=True)]
    if used != upstream and ex.close(answer, sum(u * l for u, l in zip(used, locals_, strict=True))):
        k = next(i for i, (a, b) in enumerate(zip(used, upstream, strict=True)) if a != b)
        name = step.received[k].target
        return (f"{text} Your step is right, but it uses your d{out}/d{name} = {ex.number(used[k])}, "
                f"which should be {ex.number(upstream[k])}.")
    exact = step.grad
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
                others = ", ".join(_path(e, step.received) for i, e in enumerate(step.received) if i != k)
                return (f"{text} You counted only the path through {_path(edge, step.received)}; "
                        f"{node} also feeds {others}: add every path's contribution (fan-out sums).")
    if step.received[0].target != out and ex.close(answer, sum(locals_)):
        return (f"{text} You left out the factor d{out}/d{step.received[0].target} = "
                f"{ex.number(upstream[0])}.")
    if len(step.received) == 1 and ex.close(answer, upstream[0]) and not ex.close(locals_[0], 1):
        edge = step.received[0]
        return (f"{text} You used d{out}/d{edge.target} = {ex.number(upstream[0])} but left out "
                f"∂{edge.target}/∂{node} = {_local(ex, edge)}.")
    if len(step.received) == 1:
        edge = step.received[0]
        if edge.target == out:
            return f"{text} ∂{out}/∂{node} should be {_local(ex, edge)}."
        return (f"{text} You used d{out}/d{edge.target} = {ex.number(upstream[0])} but "
                f"∂{edge.target}/∂{node} should be {_local(ex, edge)}.")
    parts = " + ".join(f"{_factor(ex, u)} · {_factor(ex, local)}"
                       for u, local in zip(upstream, locals_, strict=True))
    return f"{text} With numbers: {parts}."

def _local(ex: Exercise, edge: Edge) -> str:
    """``5 (= x)``: an edge's local derivative, and its formula in names unless that is the number."""
    from .symbolic import local_derivative_texts

    formula = local_derivative_texts(ex.graph)[edge.target, edge.slot]
    number = ex.number(edge.local)
    return number if formula == number else f"{number} (= {formula})"


def _factor(ex: Exercise, value: float) -> str:
    """A number as a factor of a product: a negative one in parentheses, ``(-1)``."""
    text = ex.number(value)
    return f"({text})" if text.startswith("-") else text


def _path(edge: Edge, edges: tuple[Edge, ...]) -> str:
    """The reader an edge goes to, and which of its arguments, where it reads the node twice."""
    twice = sum(e.target == edge.target for e in edges) > 1
    return f"{edge.target}'s argument {edge.slot + 1}" if twice else edge.target
