"""Exercises that check themselves: some values or gradients of a trace are hidden (``?`` in the
diagram and in the derivation), the learner types answers, and each answer is checked against
the engine; a wrong one gets the chain-rule step that produces it and the factor that was off.

>>> ex = exercise("seed")                    # the seed page's loss, every gradient hidden
>>> ex.blanks[:4]
('dL/dz4', 'dL/dz3', 'dL/dz2', 'dL/dz1')
>>> marks = ex.check({"dL/dz4": 4, "dL/dz3": "4", "dL/dz1": 4, "dL/dW1": 2})
>>> marks.score
'3 of 9 right'
>>> for sentence in marks["dL/dW1"].text.split(". "):
...     print(sentence)
dL/dW1 = 2 is not right
The step: dL/dW1 = dL/dz1 · ∂z1/∂W1
You used dL/dz1 = 4 but ∂z1/∂W1 should be 5 (= x).

Teachers make their own from any formula and point; a key names a value (``z3``) or a gradient
(``dL/dz3``, with the output's name):

>>> own = exercise("y = sin(x)*x", {"x": 0.5}, hide=["z1", "dy/dx"])
>>> own.check({"z1": 0.4794, "dy/dx": 0.9}).score
'1 of 2 right'

An answer is right when ``|answer - exact| <= abs_tol + rel_tol * |exact|`` (defaults 1e-6 and
1e-3: four significant digits, as the diagrams show numbers, are enough).
"""

from __future__ import annotations

import contextlib
import functools
import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

from .derivation import derive
from .display import Diagram
from .dot import View, format_number
from .engine import Trace, _real
from .errors import InputValueError
from .formula import parse
from .forward import point as read_point
from .graph import CONST, INPUT, Graph
from .layout import LayoutError
from .text import parse_number

REL_TOL = 1e-3
ABS_TOL = 1e-6

READY: Mapping[str, tuple[str, dict[str, float], tuple[str, ...], str]] = {
    "seed": ("L = (x*W1 + y*W2 - B)**2", {"x": 5, "y": 10, "W1": 0.1, "W2": 0.2, "B": 0.5}, ("grads",),
             "The seed page's loss: fill in every gradient, from L back to the inputs."),
    "fanout": ("e = (a+b)*(b+1)", {"a": 2, "b": 1}, ("z1", "de/dz1", "de/dz2", "de/da", "de/db"),
               "Colah's graph: b feeds two nodes, so its gradient sums two paths."),
    "neuron": ("y = sigmoid(x1*w1 + x2*w2 + b)", {"x1": 2, "w1": -1, "x2": 1, "w2": 0.5, "b": 1.5},
               ("z4", "y", "grads"),
               "A sigmoid neuron: sigmoid'(z) = y·(1 - y)."),
}
"""The ready exercises by name: formula, point, hidden keys and a one-line task."""


@dataclass(frozen=True)
class Mark:
    """The verdict on one answer: ``right``, the answer as read (None if it was not a number or
    left empty), the exact value, and ``text``, the feedback in words."""

    key: str
    answer: float | None
    expected: float
    right: bool
    text: str


class Marks(tuple):
    """The marks of one attempt, in the exercise's order; ``marks["dL/dz3"]`` picks one.

    >>> marks = exercise("y = 2*x", {"x": 1}).check({"dy/dx": 2})
    >>> marks.score, marks.all_right, marks["dy/dx"].text
    ('1 of 1 right', True, 'dy/dx = 2 is right.')
    """

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            for mark in self:
                if mark.key == key:
                    return mark
            raise KeyError(key)
        return super().__getitem__(key)

    @property
    def right(self) -> int:
        return sum(mark.right for mark in self)

    @property
    def score(self) -> str:
        return f"{self.right} of {len(self)} right"

    @property
    def all_right(self) -> bool:
        return self.right == len(self)

    def to_text(self) -> str:
        return "\n".join([self.score, *(f"  {'✓' if m.right else '✗'} {m.text}" for m in self)])

    __str__ = to_text


class Exercise:
    """A trace with some values (key ``z3``) and gradients (key ``dL/dz3``) hidden.

    >>> ex = Exercise("y = x*x + 1", {"x": 3}, hide=["z1", "dy/dx"])
    >>> ex.blanks, ex.expected("z1"), ex.expected("dy/dx"), ex.edge_labels
    (('z1', 'dy/dx'), 9.0, 6.0, False)

    ``hide`` lists the keys; ``"grads"`` stands for every gradient but the output's and
    ``"values"`` for every computed value (alone or in the list). Edge labels (the local
    derivatives) show unless a value is hidden, since they would give it away; ``edge_labels``
    overrides.
    """

    def __init__(self, formula: str | Graph | Trace, values: Mapping[str, Any] | None = None, *,
                 hide: Iterable[str] | str = "grads", task: str = "", rel_tol: float = REL_TOL,
                 abs_tol: float = ABS_TOL, digits: int = 4, edge_labels: bool | None = None):
        if isinstance(formula, Trace):
            self.trace = formula
        else:
            from .engine import backward

            graph = formula if isinstance(formula, Graph) else parse(formula)
            self.trace = backward(graph, values or {})
        _check_options(hide, rel_tol, abs_tol, digits, task, edge_labels)
        self.graph = self.trace.graph
        self.output = self.graph.output
        self.task, self.rel_tol, self.abs_tol, self.digits = task, rel_tol, abs_tol, digits
        self.blanks: tuple[str, ...] = self._keys(hide)
        if not self.blanks:
            raise InputValueError("an exercise needs at least one hidden value or gradient")
        hidden = set(self.blanks)
        shows_values = not any(self._is_value(key) for key in hidden)
        self.edge_labels = shows_values if edge_labels is None else edge_labels
        self.steps_by_node = {step.node: step for step in self.trace.steps}
        self.answers: dict[str, Any] = {}
        self._form: dict[str, Any] | None = None

    # --- keys ------------------------------------------------------------------------------

    def _is_value(self, key: str) -> bool:
        return not key.startswith(f"d{self.output}/d") or key in self.graph

    def _node(self, key: str) -> str:
        return key if self._is_value(key) else key[len(f"d{self.output}/d"):]

    def _keys(self, hide: Iterable[str] | str) -> tuple[str, ...]:
        computed = [n.name for n in self.graph.nodes if n.op not in (INPUT, CONST)]
        groups = {"grads": [f"d{self.output}/d{step.node}" for step in self.trace.steps if step.received],
                  "values": computed}
        if isinstance(hide, str):
            if hide not in groups:
                raise InputValueError(f"hide takes a list of keys, 'grads' or 'values', not {hide!r}")
            hide = [hide]
        keys: list[str] = []
        for key in hide:
            if key in groups:
                keys += [k for k in groups[key] if k not in keys]
                continue
            if not isinstance(key, str):
                raise TypeError(f"a hidden key is a str such as 'z3' or 'd{self.output}/dz3', not {key!r}")
            node = self._node(key)
            if node not in self.graph:
                raise InputValueError(f"{key!r} names no node of the graph (keys look like 'z3' or "
                                      f"'d{self.output}/dz3')")
            if self._is_value(key) and node not in computed:
                raise InputValueError(f"{key!r} is an input or a constant: its value is given, not computed")
            if key not in keys:
                keys.append(key)
        return tuple(keys)

    def expected(self, key: str) -> float:
        """The engine's number for ``key``."""
        node = self._node(key)
        return self.trace.value(node) if self._is_value(key) else self.trace.grad(node)

    def close(self, answer: float, exact: float) -> bool:
        """Whether ``answer`` is right: within ``abs_tol + rel_tol·|exact|`` of ``exact``."""
        if math.isnan(exact):  # log(-1), 0/0: the answer is nan too
            return math.isnan(answer)
        if math.isinf(exact):
            return answer == exact
        return abs(answer - exact) <= self.abs_tol + self.rel_tol * abs(exact)

    # --- checking --------------------------------------------------------------------------

    def check(self, answers: Mapping[str, Any] | None = None, /, **named: Any) -> Marks:
        """Mark the answers (numbers, or text as typed); missing ones are marked as not given.
        Answers are remembered, so a later step is judged with the learner's own earlier numbers.

        >>> ex = exercise("fanout")
        >>> ex.check(z1="3").right, ex.check({"de/da": 2}).right   # z1 is remembered
        (1, 2)
        """
        given = {**(answers or {}), **named}
        if not all(isinstance(key, str) for key in given):
            raise TypeError(f"an answer's key is a str such as {self.blanks[0]!r}")
        unknown = sorted(set(given) - set(self.blanks))
        if unknown:
            raise InputValueError(f"{unknown[0]!r} is not one of this exercise's blanks: "
                                  f"{', '.join(self.blanks)}")
        self.answers.update(given)
        read: dict[str, float | None] = {}
        notes: dict[str, str] = {}
        for key in self.blanks:
            raw = self.answers.get(key)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                read[key] = None
                notes[key] = f"{key}: no answer yet."
                continue
            try:
                read[key] = _read(key, raw)
            except InputValueError as error:
                read[key], notes[key] = None, f"{error}."
        marks = []
        for key in self.blanks:
            answer, exact = read[key], self.expected(key)
            right = answer is not None and self.close(answer, exact)
            text = notes.get(key) or (f"{key} = {self.number(answer)} is right." if right
                                      else self.explain(key, answer, read))  # type: ignore[arg-type]
            marks.append(Mark(key, answer, exact, right, text))
        self._refresh(Marks(marks))
        return Marks(marks)

    def explain(self, key: str, answer: float, own: Mapping[str, float | None] | None = None) -> str:
        """Why ``answer`` for ``key`` is wrong: the step that produces it and the likely slip.
        ``own`` holds the learner's other answers: a step done right on a wrong earlier answer
        is told apart from a wrong step.

        >>> print(exercise("fanout").explain("de/db", 3))  # doctest: +ELLIPSIS
        de/db = 3 is not right. ... You counted only the path through z2; b also feeds z1: ...
        """
        from .exercise_feedback import explain_gradient, explain_value

        if isinstance(answer, bool) or not isinstance(answer, Real):
            raise TypeError(f"explain takes the answer as a number, not {type(answer).__name__}")
        own = own or {}
        node = self._node(key)
        head = f"{key} = {self.number(answer)} is not right."
        if self._is_value(key):
            return f"{head} {explain_value(self, node, answer, own)}"
        return f"{head} {explain_gradient(self, node, answer, own)}"

    @functools.cached_property
    def local_texts(self) -> dict[tuple[str, int], str]:
        """Each edge's local derivative as a formula, keyed by ``(node, slot)``: made once, since
        the feedback names one per wrong gradient and making them reads the whole graph."""
        from .symbolic import local_derivative_texts

        return local_derivative_texts(self.graph)

    def number(self, value: float | None) -> str:
        """A number as this exercise shows it (``digits`` significant digits)."""
        return format_number(value, self.digits)

    # --- what is shown ---------------------------------------------------------------------

    def view(self) -> View:
        """What the diagram shows: every value and gradient but the blanks, and the task.

        >>> view = exercise("y = 2*x", {"x": 1}).view()   # dy/dx is the blank
        >>> "x" in view.grads, "x" in view.values
        (False, True)
        """
        hidden = set(self.blanks)
        names = [node.name for node in self.graph.nodes]
        return View(values=frozenset(n for n in names if n not in hidden),
                    grads=frozenset(n for n in names if f"d{self.output}/d{n}" not in hidden),
                    caption=self.task)

    def diagram(self) -> Diagram:
        """The annotated graph with every hidden number shown as ``?``."""
        return Diagram(self.trace, view=self.view(), digits=self.digits, edge_labels=self.edge_labels,
                       text=self.describe())

    def derivation(self) -> list[str]:
        """The worked derivation's lines, each hidden result written ``?``.

        >>> exercise("y = 2*x", {"x": 1}).derivation()
        ['y = 2·x = 2·1 = 2', 'dy/dy = 1', 'dy/dx = 2 = ?']
        """
        lines = []
        hidden = set(self.blanks)
        for line in derive(self.trace, digits=self.digits).lines:
            key = line.node if line.phase == "forward" else line.lhs
            if key in hidden:
                lines.append(f"{line.lhs} = {line.formula} = ?" if line.formula else f"{line.lhs} = ?")
            else:
                lines.append(line.text)
        return lines

    def describe(self) -> str:
        point = ", ".join(f"{n} = {self.number(self.trace.value(n))}" for n in self.graph.inputs)
        program = str(self.graph).replace("\n", "; ")
        return f"Exercise: {program} at {point}; find {', '.join(self.blanks)}"

    def to_text(self) -> str:
        lines = [self.describe()] + ([self.task] if self.task else [])
        return "\n".join([*lines, *(f"  {line}" for line in self.derivation())])

    __str__ = to_text

    def __repr__(self) -> str:
        return f"<{self.describe()}>"

    def form(self) -> Any:
        """An ipywidgets form: the diagram with its blanks, the derivation, one box per blank, a
        Check button and the marks (the marking is `check`; the form only calls it)."""
        if self._form is None:
            from .widget_tools import _picture_layout, _widgets

            w = _widgets()
            boxes = {key: w.Text(value="", description=key, placeholder="?",
                                 style={"description_width": "initial"}) for key in self.blanks}
            button, result = w.Button(description="Check"), w.HTML()
            button.on_click(lambda _: self.check({k: b.value for k, b in boxes.items()}))
            derivation = w.HTML("<pre>" + html.escape("\n".join(self.derivation())) + "</pre>")
            parts: list[Any] = [w.HTML(f"<b>{html.escape(self.task)}</b>")] if self.task else []
            with contextlib.suppress(LayoutError):
                parts.append(w.Image(value=self.diagram().svg(), format="svg+xml", layout=_picture_layout(w),
                                     tooltip=self.describe()))
            self._form = {"boxes": boxes, "button": button, "result": result,
                          "box": w.VBox([*parts, derivation, *boxes.values(), button, result])}
        return self._form["box"]

    def _refresh(self, marks: Marks) -> None:
        if self._form is not None:
            self._form["result"].value = marks_html(marks)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """The live form with a kernel; the diagram (blanks as ``?``) and the text form in a saved
        notebook."""
        from .widget_tools import _bundle, _live

        try:
            svg: bytes | None = self.diagram().svg()
        except LayoutError:
            svg = None
        return _bundle(_live(self.form), self.to_text(), svg)


def marks_html(marks: Marks) -> str:
    """The marks as HTML, every text escaped.

    >>> marks_html(exercise("y = 2*x", {"x": 1}).check({"dy/dx": "<b>"}))[:26]
    '<b>0 of 1 right</b><ul><li'
    """
    rows = "".join(f"<li style='color:{'#080' if m.right else '#b00'}'>{html.escape(m.text)}</li>"
                   for m in marks)
    return f"<b>{html.escape(marks.score)}</b><ul>{rows}</ul>"


def _check_options(hide: Any, rel_tol: Any, abs_tol: Any, digits: Any, task: Any, edge_labels: Any) -> None:
    """A TypeError for an option of the wrong type, a ValueError for one out of its range."""
    if not isinstance(hide, Iterable):
        raise TypeError(f"hide takes a list of keys, 'grads' or 'values', not {type(hide).__name__}")
    for name, tol in (("rel_tol", rel_tol), ("abs_tol", abs_tol)):
        if isinstance(tol, bool) or not isinstance(tol, Real):
            raise TypeError(f"{name} must be a number, not {type(tol).__name__}")
        if not tol >= 0:
            raise ValueError(f"{name} must be a number >= 0, not {tol!r}")
    if isinstance(digits, bool) or not isinstance(digits, int):
        raise TypeError(f"digits must be an int, not {type(digits).__name__}")
    if not 1 <= digits <= 17:
        raise ValueError(f"digits must be between 1 and 17, not {digits!r}")
    if not isinstance(task, str) or not (edge_labels is None or isinstance(edge_labels, bool)):
        raise TypeError("task must be text and edge_labels True, False or None")


def _read(key: str, value: Any) -> float:
    """An answer as a float: a number of any real type, or text read as on the command line;
    ``nan``, ``inf``, ``-inf`` (or ``infinity``) are answers too, where the exact value is one
    (as at ``log(-1)`` or ``1/0``)."""
    if isinstance(value, str):
        word = value.strip().lower()
        return float(word) if word.lstrip("+-") in ("nan", "inf", "infinity") else parse_number(value, key)
    try:
        return _real(key, value)  # the engine's reader: numpy, Fraction, Decimal; a huge int is inf
    except InputValueError:
        raise InputValueError(f"{key}: {value!r} is not a number") from None


def exercise(formula: str | Graph | Trace, values: Mapping[str, Any] | None = None, /,
             **options: Any) -> Exercise:
    """An `Exercise`: a ready one by name (``"seed"``, ``"fanout"``, ``"neuron"``; see `READY`)
    or one made from a formula, a graph or a trace and a point: values as a mapping or as keywords
    (an input named like an option, such as ``digits``, goes in the mapping).

    >>> print(exercise("fanout").derivation()[2])
    e = z1·z2 = 3·2 = 6
    """
    if isinstance(formula, str) and values is None and formula in READY:
        text, point, hide, task = READY[formula]
        options = {"hide": hide, "task": task, **options}
        return Exercise(text, point, **options)
    named = {key: options.pop(key) for key in list(options) if key not in _OPTIONS}
    return Exercise(formula, read_point(values, named) if named else values, **options)


# the options of `Exercise`; any other keyword of `exercise` is an input's value, as in `grad`
_OPTIONS = frozenset({"hide", "task", "rel_tol", "abs_tol", "digits", "edge_labels"})
