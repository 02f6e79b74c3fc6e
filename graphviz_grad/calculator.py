"""The gradient calculator: the seed page's results for L = (x·W1 + y·W2 - B)², or for any formula.

>>> result = calculate()  # the seed page's defaults, Example 1
>>> result.loss, result.gradients["W1"], result.gradients["W2"], result.gradients["B"]
(4.0, 20.0, 40.0, -4.0)
>>> print(result.copy_text())
Loss: L = 4
Gradients: dL/dW1 = 20, dL/dW2 = 40, dL/dB = -4
Inputs: x = 5, y = 10, W1 = 0.1, W2 = 0.2, B = 0.5
>>> from graphviz_grad.seed import EXAMPLE_2
>>> calculate(**EXAMPLE_2).loss  # Example 2: the model fits exactly
0.0

Any formula works the same way; its parameters (``wrt``) default to all its inputs:

>>> calculate("y = sin(a)*b", a=0, b=2).gradients
{'a': 2.0, 'b': 0.0}

A `Calculation` has the table, the chart, the formulas (SymPy), the worked derivation, what the
gradients' signs mean and one gradient-descent step, as text, Markdown, LaTeX or JSON.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .calculator_step import CURVATURE_PARAMETERS, Curvature, Update, curvature_of
from .calculator_text import CalculationText
from .derivation import DIGITS, Derivation, derive
from .descent import LEARNING_RATE, parameter_names, positive_number
from .dot import format_number
from .engine import Trace, backward
from .errors import InputValueError
from .formula import parse
from .graph import Graph
from .seed import DEFAULTS, FIELDS, SEED_FORMULA, default_parameters, is_seed, seed_graph
from .text import product_dots

__all__ = ["CURVATURE_PARAMETERS", "Calculation", "Calculator", "Curvature", "Row", "Update", "calculate",
           "curvature_of"]


@dataclass(frozen=True)
class Row:
    """One line of the table: an input, whether it is a trained parameter, its value and dL/d it."""

    name: str
    role: str
    """``parameter`` (updated by gradient descent) or ``input`` (data, held fixed)."""
    value: float
    gradient: float


class Calculation(CalculationText):
    """The calculator's result for one formula at one point (see `calculate`).

    Its update and curvature sections come from `graphviz_grad.calculator_step.DescentStep`, its
    words and renderings (text, Markdown, LaTeX, JSON) from
    `graphviz_grad.calculator_text.CalculationText`."""

    def __init__(self, trace: Trace, formula: str, parameters: Sequence[str], order: Sequence[str],
                 lr: float, digits: int):
        self.trace = trace
        self.graph = trace.graph
        self.formula = formula
        """The formula as the user wrote it (or the graph as a program)."""
        self.parameters = tuple(parameters)
        self.order = tuple(order)
        """The inputs in display order (the seed page's x, y, W1, W2, B for the seed)."""
        self.lr = lr
        self.digits = digits
        self.output = self.graph.output
        self.loss = trace.output_value
        gradients = trace.gradients
        self.gradients = {name: gradients[name] for name in self.order}
        self.values = {name: trace.value(name) for name in self.order}
        self.update = self._update()
        self.check_skipped: str | None = None
        """Why the SymPy check was not run (the web page gives it a time budget); None: it was."""

    def number(self, value: float | None) -> str:
        return format_number(value, self.digits)

    # --- the parts of the page -----------------------------------------------------------

    @property
    def rows(self) -> tuple[Row, ...]:
        """The table: every input with its role, value and gradient, in display order."""
        return tuple(Row(name, "parameter" if name in self.parameters else "input", self.values[name],
                         self.gradients[name]) for name in self.order)

    @cached_property
    def derivation(self) -> Derivation:
        return derive(self.trace, digits=self.digits)

    @cached_property
    def report(self) -> Any:
        """The SymPy cross-check (`graphviz_grad.symbolic.CheckReport`); SymPy loads on first use."""
        from .symbolic import check

        return check(self.trace)

    @property
    def formulas(self) -> list[tuple[str, str, str]]:
        """``(label, closed form, form in node names)`` for dL/dinput, from SymPy.

        >>> calculate().formulas[1]
        ('dL/dW1', '2·x·(-B + W1·x + W2·y)', '2·x·z4')
        """
        if self.check_skipped:
            return []
        return [(row.label, _dotted(row.symbolic, row.expr), _dotted(row.symbolic_nodes, row.expr))
                for row in self.report.rows if row.kind == "input"]


@functools.lru_cache(maxsize=4096)
def _dotted(text: str, expr: Any) -> str:
    """SymPy's text with ``·`` for a product, unless a name itself holds a ``*`` (once per form:
    the forms are derived once per graph)."""
    if any("*" in getattr(symbol, "name", "") for symbol in expr.free_symbols):
        return text
    return product_dots(text)


def calculate(formula: str | Graph | None = None, values: Mapping[str, float] | None = None, /, *,
              wrt: Sequence[str] | str | None = None, lr: float = LEARNING_RATE, digits: int = DIGITS,
              **named: float) -> Calculation:
    """The calculator's result for ``formula`` (default: the seed) at ``values``.

    For the seed formula, values that are not given take the defaults (Example 1) and ``wrt``
    defaults to W1, W2, B; any other formula needs a value for every input, and ``wrt`` (the
    parameters that the interpretation and the update are about) defaults to all inputs.
    """
    graph = seed_graph() if formula is None else formula if isinstance(formula, Graph) else parse(formula)
    text = SEED_FORMULA if formula is None else formula if isinstance(formula, str) else str(graph)
    seed = is_seed(graph)
    given = dict(values or {})
    twice = set(given) & set(named)
    if twice:
        raise InputValueError(f"{sorted(twice)[0]!r} is given both in values and as a keyword")
    point = {**(dict(DEFAULTS) if seed else {}), **given, **named}
    order = list(FIELDS) if seed else list(graph.inputs)
    parameters = (parameter_names(graph, wrt if wrt is not None else default_parameters(graph))
                  if graph.inputs or wrt is not None else ())
    lr = positive_number("the learning rate", lr)
    if isinstance(digits, bool) or not (isinstance(digits, int) and 1 <= digits <= 17):
        raise InputValueError(f"digits must be an integer from 1 to 17, not {digits!r}")
    trace = backward(graph, point)
    return Calculation(trace, text.strip(), [name for name in order if name in parameters], order,
                       lr, digits)


class Calculator:
    """The seed page as an object: its inputs, changed one at a time, and a way back to the defaults.

    >>> page = Calculator()
    >>> page.set(W1=0.3).loss
    9.0
    >>> page.values["W1"], page.reset().loss, page.values["W1"]
    (0.3, 4.0, 0.1)
    """

    def __init__(self, formula: str | Graph | None = None, defaults: Mapping[str, float] | None = None, *,
                 wrt: Sequence[str] | str | None = None, lr: float = LEARNING_RATE, digits: int = DIGITS):
        self.formula = formula
        self.wrt = wrt
        self.lr = lr
        self.digits = digits
        self.result = calculate(formula, defaults or {}, wrt=wrt, lr=lr, digits=digits)
        self.defaults = dict(self.result.values)
        self.values = dict(self.defaults)

    def set(self, /, **values: float) -> Calculation:
        """Change some inputs and recalculate; on bad input nothing changes and the error says why."""
        unknown = [name for name in values if name not in self.values]
        if unknown:
            raise InputValueError(f"{unknown[0]!r} is not an input (inputs: {', '.join(self.values)})")
        result = calculate(self.result.graph, {**self.values, **values}, wrt=self.result.parameters,
                           lr=self.lr, digits=self.digits)
        result.formula = self.result.formula
        self.values, self.result = dict(result.values), result
        return result

    def reset(self) -> Calculation:
        """Back to the defaults (for the seed: Example 1)."""
        return self.set(**self.defaults)

    def __repr__(self) -> str:
        """The formula, the current inputs and results, as one line.

        >>> Calculator("y = (a - 3)**2", {"a": 1})
        <Calculator y = (a - 3)**2 at a = 1: y = 4, dy/da = -4>
        """
        return f"<Calculator {self.result.summary()}>"
