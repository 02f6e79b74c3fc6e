"""graphviz_grad: make backpropagation visible and checkable.

>>> import graphviz_grad as gg
>>> trace = gg.grad("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> trace.output_value, trace.gradients["W1"]
(4.0, 20.0)

The seed page's calculator, and the worked derivation behind it:

>>> gg.calculate().copy_text().splitlines()[1]
'Gradients: dL/dW1 = 20, dL/dW2 = 40, dL/dB = -4'

The same graph, built with Python operators:

>>> x, y, W1, W2, B = gg.inputs("x y W1 W2 B")
>>> gg.build(((x*W1 + y*W2 - B)**2).named("L")) == gg.parse("L = (x*W1 + y*W2 - B)**2")
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .calculator import Calculation, Calculator, calculate
from .compiled import Replay
from .compiled import compile as compile  # not in __all__ (like max/min): no shadowed builtin
from .derivation import Derivation, derive
from .descent import Descent, descend
from .display import Diagram, diagram, register_ipython
from .engine import Edge, Step, Trace, backward, forward
from .errors import FormulaError, GraphError, GraphvizGradError, InputValueError, NumericError
from .exercises import Exercise, exercise
from .formula import parse
from .forward import TangentTrace, as_graph, tangents
from .graph import BUILDERS, Expr, Graph, Node, apply, build, const, group, inputs
from .hessian import Hessian, hessian, hvp
from .importers import from_micrograd, trace
from .loading import LoadError, load
from .ops import OPS, Op
from .overview import Overview, overview
from .paths import Path, top_paths
from .torch_import import from_torch

globals().update(BUILDERS)  # exp, log, ..., relu, the activations, max, min: one per op-table function

__version__ = "0.1.0"


def grad(formula: str | Graph | Expr, values: Any = None, /, *, strict: bool = False,
         **named: float) -> Trace:
    """Parse (if needed) and differentiate in one call: ``grad("y = x**2", x=3)``.

    Values come as keywords, as a mapping, or as a sequence in input order; an input
    called ``strict`` must be passed in the mapping.

    >>> grad("y = x**2", x=3).gradients
    {'x': 6.0}
    """
    graph = as_graph(formula)  # text, a Graph or a builder Expr, as tangents/hessian/check take
    if values is not None and not isinstance(values, Mapping):
        if named:
            raise InputValueError("give values either as a sequence or by name, not both")
        return backward(graph, values, strict=strict)
    twice = set(values or ()) & set(named)
    if twice:
        raise InputValueError(f"{sorted(twice)[0]!r} is given both in values and as a keyword")
    return backward(graph, {**(values or {}), **named}, strict=strict)


register_ipython()  # in a running IPython, traces and graphs display as diagrams


def check(subject: Any, values: Any = None, /, **options: Any) -> Any:
    """Check the engine's gradients against SymPy and finite differences; returns a
    `graphviz_grad.symbolic.CheckReport` (``ok``, ``rows``, renderings). SymPy is imported on
    the first call, not with the package. See `graphviz_grad.symbolic.check`.

    >>> report = check("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
    >>> report.ok, report["B"].symbolic_nodes
    (True, '-2*z4')
    """
    from .symbolic import check as run

    return run(subject, values, **options)


def __getattr__(name: str) -> Any:
    if name == "CheckReport":  # lazily, so that importing the package does not import SymPy
        from .symbolic import CheckReport

        return CheckReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "OPS",
    "Calculation",
    "Calculator",
    "CheckReport",
    "Derivation",
    "Descent",
    "Diagram",
    "Edge",
    "Exercise",
    "Expr",
    "FormulaError",
    "Graph",
    "GraphError",
    "GraphvizGradError",
    "Hessian",
    "InputValueError",
    "LoadError",
    "Node",
    "NumericError",
    "Op",
    "Overview",
    "Path",
    "Replay",
    "Step",
    "TangentTrace",
    "Trace",
    "apply",
    "backward",
    "build",
    "calculate",
    "check",
    "const",
    "derive",
    "descend",
    "diagram",
    "exercise",
    "forward",
    "from_micrograd",
    "from_torch",
    "grad",
    "group",
    "hessian",
    "hvp",
    "inputs",
    "load",
    "overview",
    "parse",
    "tangents",
    "top_paths",
    "trace",
    *(name for name in BUILDERS if name not in ("max", "min")),  # max/min shadow builtins on *
]
