"""The one step model: a record per forward line, per chain-rule step and per edge, built from a
Trace. Frames, captions, the derivation, the page, the player and the JSON all render these
records, so a step reads the same everywhere.

>>> import graphviz_grad as gg
>>> story = build(gg.grad("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5))
>>> print(story.forward[0].text)
z1 = x·W1 = 5·0.1 = 0.5
>>> for step in story.backward[:3] + story.backward[-1:]:
...     print(step.text)
dL/dL = 1
dL/dz4 = ∂L/∂z4 = 2·z4 = 4
dL/dz3 = dL/dz4 · ∂z4/∂z3 = dL/dz4 · 1 = 4 · 1 = 4
dL/dx = dL/dz1 · ∂z1/∂x = dL/dz1 · W1 = 4 · 0.1 = 0.4
>>> print(story.edge("z1", 0).text)
∂z1/∂x = W1 = 0.1

A line is ``lhs = symbols = formula = numbers = value`` with every part that repeats the one
before it left out. The local derivatives' formulas come from SymPy (loaded on first use).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .engine import Trace
from .graph import CONST, INPUT
from .ops import OPS
from .serialize import json_number
from .text import format_number, product_dots

FORWARD, BACKWARD = "forward", "backward"
WARNINGS = {
    "inf": "inf: overflow or a pole",
    "nan": "nan: from a nan argument",
    "domain": "nan born here: outside the domain",
}
"""What a node's status other than ``ok`` means, in words."""


@dataclass(frozen=True)
class Step:
    """One line of the story: a forward computation (``lhs`` is the node) or a chain-rule step
    (``lhs`` is ``dL/dnode``). ``symbols`` is the rule in names (``dL/dz4 · ∂z4/∂z3``),
    ``formula`` the same with each local derivative's formula (``dL/dz4 · 1``), ``numbers``
    with values (``4 · 1``); ``terms`` are the edges used, ``(reader, argument slot)`` each;
    ``notes`` say where a number is a convention (a kink) or not finite."""

    phase: str
    node: str
    lhs: str
    symbols: str
    formula: str
    numbers: str
    value: float
    text: str
    terms: tuple[tuple[str, int], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        """The notes as one text (empty when there are none)."""
        return "; ".join(self.notes)

    @property
    def annotated(self) -> str:
        """The line with its notes in brackets after it."""
        return self.text + (f"  [{self.note}]" if self.notes else "")

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "node": self.node, "lhs": self.lhs, "symbols": self.symbols,
                "formula": self.formula, "numbers": self.numbers, "value": json_number(self.value),
                "text": self.text, "terms": [list(term) for term in self.terms], "notes": list(self.notes),
                "note": self.note}


@dataclass(frozen=True)
class EdgeStep:
    """An edge's local derivative: ``∂target/∂source = formula = value``."""

    source: str
    target: str
    slot: int
    formula: str
    local: float | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "slot": self.slot, "formula": self.formula,
                "local": json_number(self.local) if self.local is not None else None, "text": self.text}


@dataclass(frozen=True)
class Story:
    """Every step of one trace: the forward lines (one per operation), the backward lines
    (one per node that reaches the output, in the engine's order) and the edges."""

    trace: Trace
    forward: tuple[Step, ...]
    backward: tuple[Step, ...]
    edges: tuple[EdgeStep, ...]
    digits: int

    def edge(self, target: str, slot: int) -> EdgeStep:
        """The edge into argument ``slot`` of node ``target``."""
        return self._edges[target, slot]

    @property
    def _edges(self) -> dict[tuple[str, int], EdgeStep]:
        return {(edge.target, edge.slot): edge for edge in self.edges}

    def of(self, name: str) -> tuple[Step | None, Step | None]:
        """Node ``name``'s forward and backward line (None where it has none)."""
        forward = next((step for step in self.forward if step.node == name), None)
        backward = next((step for step in self.backward if step.node == name), None)
        return forward, backward

    def to_dict(self) -> dict[str, Any]:
        return {"forward": [step.to_dict() for step in self.forward],
                "backward": [step.to_dict() for step in self.backward],
                "edges": [edge.to_dict() for edge in self.edges]}


def line(*parts: str) -> str:
    """``a = b = c`` from the non-empty parts, each part that repeats the one before left out.

    >>> line("dL/dz4", "∂L/∂z4", "2·z4", "4", "4")
    'dL/dz4 = ∂L/∂z4 = 2·z4 = 4'
    """
    shown: list[str] = []
    for part in parts:
        if part and (not shown or shown[-1] != part):
            shown.append(part)
    return " = ".join(shown)


def operand(text: str, parenthesize: bool = True) -> str:
    """A name or number as an operand: a negative one in parentheses, ``(-1)``.

    >>> operand("-1"), operand("x"), operand("-1", parenthesize=False)
    ('(-1)', 'x', '-1')
    """
    return f"({text})" if parenthesize and text.startswith("-") else text


def grouped(formula: str) -> str:
    """A local derivative as a factor: in parentheses when it is a sum, a difference or negative.

    >>> grouped("2·z4"), grouped("-1"), grouped("1 - z2**2"), grouped("exp(-x)")
    ('2·z4', '(-1)', '(1 - z2**2)', 'exp(-x)')
    """
    return f"({formula})" if compound(formula) else formula


def compound(formula: str) -> bool:
    """Whether a formula needs parentheses after ``·``: a sum, a difference or a sign.

    >>> compound("1 - z2**2"), compound("-x"), compound("exp(-x)")
    (True, True, False)
    """
    depth = 0
    for position, char in enumerate(formula):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and char in "+-" and (position == 0 or formula[position - 1] == " "):
            return True
    return False


def node_notes(trace: Trace, name: str) -> tuple[str, ...]:
    """What is special about node ``name``'s numbers: a non-finite status, a kink convention.

    >>> import graphviz_grad as gg
    >>> node_notes(gg.grad("y = log(x)", x=-1), "y")
    ('nan born here: outside the domain',)
    """
    notes = []
    status = trace.status(name)
    if status in WARNINGS:
        notes.append(WARNINGS[status])
    grad = trace.grad(name)
    if status == "ok" and not math.isfinite(grad):
        notes.append(f"the gradient is {format_number(grad)}")
    return tuple(notes)


def build(trace: Trace, *, digits: int = 4) -> Story:
    """The story of ``trace`` with numbers of ``digits`` significant digits.

    >>> import graphviz_grad as gg
    >>> story = build(gg.grad("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5))
    >>> print(story.of("z3")[1].text)
    dL/dz3 = dL/dz4 · ∂z4/∂z3 = dL/dz4 · 1 = 4 · 1 = 4
    """
    if not isinstance(trace, Trace):
        raise TypeError(f"steps need a Trace (from grad or backward), not {type(trace).__name__}")
    if not 1 <= digits <= 17:
        raise ValueError(f"digits must be between 1 and 17, not {digits!r}")
    from .symbolic import local_derivative_texts  # SymPy: on first use

    graph = trace.graph
    local_text = graph._cache.get("local texts")
    if local_text is None:  # depends on the graph's structure only
        local_text = graph._cache["local texts"] = local_derivative_texts(graph)

    def number(value: float | None) -> str:
        return format_number(value, digits)

    forward = []
    for node in graph.nodes:
        if node.op in (INPUT, CONST):
            continue
        op = OPS[node.op]
        template = product_dots(op.text)
        symbols = template.format(*(operand(name, graph[name].op == CONST) for name in node.inputs))
        numbers = template.format(*(operand(number(trace.value(name)), bool(op.operator))
                                    for name in node.inputs))
        value = trace.value(node.name)
        forward.append(Step(FORWARD, node.name, node.name, symbols, symbols, numbers, value,
                            line(node.name, symbols, numbers, number(value)),
                            notes=tuple(WARNINGS[s] for s in (trace.status(node.name),) if s in WARNINGS)))

    edges = []
    for edge in trace.edges:
        formula = local_text.get((edge.target, edge.slot), "")
        local = number(edge.local) if edge.local is not None else ""
        edges.append(EdgeStep(edge.source, edge.target, edge.slot, formula, edge.local,
                              line(f"∂{edge.target}/∂{edge.source}", formula, local)))
    by_edge = {(edge.target, edge.slot): edge for edge in edges}

    output = graph.output
    backward = []
    for step in trace.steps:
        lhs = f"d{output}/d{step.node}"
        if not step.received:  # the output itself
            backward.append(Step(BACKWARD, step.node, lhs, "", "", "", step.grad, f"{lhs} = 1"))
            continue
        alone = len(step.received) == 1
        symbols, formulas, numbers, conventions = [], [], [], []
        for edge in step.received:
            reader = OPS[graph[edge.target].op]
            args = tuple(trace.value(name) for name in graph[edge.target].inputs)
            at_kink = reader.kink is not None and reader.kink(edge.slot, args)
            if at_kink and reader.convention not in conventions:
                conventions.append(reader.convention)
            partial = f"∂{edge.target}/∂{step.node}"
            local = by_edge[edge.target, edge.slot].formula or number(edge.local)
            if edge.target == output:  # dL/dL = 1: the local derivative alone
                symbols.append(partial)
                formulas.append(local if alone else grouped(local))
                numbers.append(operand(number(edge.local), not alone))
            else:
                symbols.append(f"d{output}/d{edge.target} · {partial}")
                formulas.append(f"d{output}/d{edge.target} · {grouped(local)}")
                numbers.append(f"{operand(number(trace.grad(edge.target)))} · {operand(number(edge.local))}")
        notes = tuple(f"not differentiable here; the engine's convention (PyTorch): {convention}"
                      for convention in conventions)
        if not math.isfinite(step.grad):
            notes += (f"the gradient is {number(step.grad)}",)
        parts = (" + ".join(symbols), " + ".join(formulas), " + ".join(numbers))
        backward.append(Step(BACKWARD, step.node, lhs, *parts, step.grad,
                             line(lhs, *parts, number(step.grad)),
                             tuple((edge.target, edge.slot) for edge in step.received), notes))
    return Story(trace, tuple(forward), tuple(backward), tuple(edges), digits)


def listing(items: Sequence[str], most: int = 8) -> str:
    """``a, b, c`` with at most ``most`` items, then how many more there are.

    >>> listing(["a", "b", "c"], 2)
    'a, b and 1 more'
    """
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")
