"""The worked derivation of a trace: the forward pass and every chain-rule step, with numbers,
as plain text, Markdown or LaTeX. Generated from the trace, so it works for any graph.

>>> import graphviz_grad as gg
>>> trace = gg.grad("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> print(derive(trace).to_text())  # doctest: +ELLIPSIS
Forward pass
  z1 = x·W1 = 5·0.1 = 0.5
  z2 = y·W2 = 10·0.2 = 2
  z3 = z1 + z2 = 0.5 + 2 = 2.5
  z4 = z3 - B = 2.5 - 0.5 = 2
  L = z4**2 = 2**2 = 4
Backward pass
  dL/dL = 1
  dL/dz4 = ∂L/∂z4 = 2·z4 = 4
  dL/dz3 = dL/dz4 · ∂z4/∂z3 = dL/dz4 · 1 = 4 · 1 = 4
  ...
  dL/dB = dL/dz4 · ∂z4/∂B = dL/dz4 · (-1) = 4 · (-1) = -4
  ...
  dL/dW1 = dL/dz1 · ∂z1/∂W1 = dL/dz1 · x = 4 · 5 = 20
  dL/dx = dL/dz1 · ∂z1/∂x = dL/dz1 · W1 = 4 · 0.1 = 0.4

Every line is a record of the step model (`graphviz_grad.steps`), the same one the frames,
the player and the page show. Each backward line multiplies the gradient of every node that
reads this one by the local derivative along that edge (as a formula in the argument names,
from SymPy); a node read by
several others sums the terms:

>>> print(derive(gg.grad("e = (a+b)*(b+1)", a=2, b=1)).backward[-2].text)
de/db = de/dz1 · ∂z1/∂b + de/dz2 · ∂z2/∂b = de/dz1 · 1 + de/dz2 · 1 = 2 · 1 + 3 · 1 = 5

A line's ``numbers`` holds the same step with the values substituted (``4 · 5`` for dL/dW1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .engine import Trace
from .ops import OPS
from .steps import Step, build, compound
from .text import code_span, format_number

FORWARD, BACKWARD = "forward", "backward"
DIGITS = 10
"""Significant digits of the numbers in a derivation, unless told otherwise."""



Line = Step
"""One line of the derivation: a record of the step model (`graphviz_grad.steps.Step`)."""


@dataclass(frozen=True)
class Derivation:
    """The forward and backward lines of one trace, and their renderings."""

    trace: Trace
    forward: tuple[Line, ...]
    backward: tuple[Line, ...]
    digits: int = DIGITS

    @property
    def lines(self) -> tuple[Line, ...]:
        return self.forward + self.backward

    def to_text(self) -> str:
        """Two headed sections, one indented line per step."""
        backward = ([f"  {line.annotated}" for line in self.backward]
                    or ["  (no inputs: nothing to differentiate)"])
        return "\n".join(["Forward pass", *(f"  {line.text}" for line in self.forward),
                          "Backward pass", *backward])

    __str__ = to_text

    def to_markdown(self) -> str:
        """Two headed numbered lists, each line a code span (user text cannot become Markdown or HTML)."""
        def section(title: str, lines: tuple[Line, ...]) -> list[str]:
            items = (f"{k}. {code_span(line.annotated)}" for k, line in enumerate(lines, 1))
            return [f"**{title}**", "", *items]

        return "\n".join([*section("Forward pass", self.forward), "",
                          *section("Backward pass", self.backward)])

    def to_latex(self) -> str:
        """An ``align*`` environment: the forward pass, then the backward pass (made on demand:
        LaTeX costs SymPy printing that text and JSON do not need)."""
        body = " \\\\\n".join(_latex_lines(self))
        return "\\begin{align*}\n" + body + ("\n" if body else "") + "\\end{align*}"

    def to_dict(self) -> dict[str, Any]:
        return {"forward": [line.to_dict() for line in self.forward],
                "backward": [line.to_dict() for line in self.backward]}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def kinks(trace: Trace) -> list[tuple[str, str]]:
    """``(node, convention)`` for every step of the backward pass taken where its operation is
    not differentiable: there the engine's value is PyTorch's convention, not a slope.

    >>> import graphviz_grad as gg
    >>> kinks(gg.grad("L = relu(x) + relu(y)", x=0, y=1))
    [('z1', "relu'(0) = 0")]
    """
    graph = trace.graph
    found = []
    for step in trace.steps:
        node = graph[step.node]
        op = OPS.get(node.op)
        if op is None or op.kink is None or not step.sent:
            continue
        args = tuple(trace.value(name) for name in node.inputs)
        if any(op.kink(edge.slot, args) for edge in step.sent):
            found.append((node.name, op.convention or ""))
    return found


def derive(trace: Trace, *, digits: int = DIGITS) -> Derivation:
    """The worked derivation of ``trace`` (numbers with ``digits`` significant digits)."""
    if not isinstance(trace, Trace):
        raise TypeError(f"derive needs a Trace (from grad or backward), not {type(trace).__name__}")
    story = build(trace, digits=digits)
    return Derivation(trace, story.forward, story.backward, digits)


def _latex_lines(derivation: Derivation) -> list[str]:
    """The derivation's lines in LaTeX, from SymPy's LaTeX printer."""
    from .symbolic import latex_name, local_derivative_texts, operation_latex

    graph = derivation.trace.graph
    output = latex_name(graph.output)
    operations = operation_latex(graph)
    locals_ = local_derivative_texts(graph, latex=True)

    def number(value: float) -> str:
        return _latex_number(format_number(value, derivation.digits))

    rows = [f"{latex_name(line.node)} &= {operations[line.node]}"
            + (f" = {number(line.value)}" if operations[line.node] != number(line.value) else "")
            for line in derivation.forward]
    for line in derivation.backward:
        lhs = _partial(output, latex_name(line.node))
        if not line.terms:
            rows.append(f"{lhs} &= 1")
            continue
        terms = []
        for target, slot in line.terms:
            local = locals_[target, slot]
            grouped = f"\\left({local}\\right)" if compound(local) else local
            if target == graph.output:
                terms.append(local if len(line.terms) == 1 else grouped)
            else:
                terms.append(f"{_partial(output, latex_name(target))} \\cdot {grouped}")
        formula, result = " + ".join(terms), number(line.value)
        rows.append(f"{lhs} &= {formula}" + (f" = {result}" if formula != result else ""))
    return rows


def _partial(output: str, name: str) -> str:
    return f"\\frac{{\\partial {output}}}{{\\partial {name}}}"


def _latex_number(text: str) -> str:
    """A formatted number in LaTeX: ``1e-05`` as ``1 \\times 10^{-5}``, ``inf`` as ``\\infty``."""
    if text in ("inf", "-inf"):
        return text.replace("inf", "\\infty")
    if text == "nan":
        return "\\mathrm{nan}"
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa} \\times 10^{{{int(exponent)}}}" if e else text
