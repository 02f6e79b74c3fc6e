"""The SymPy cross-check: closed-form derivatives, per-node symbolic adjoints, finite differences.

>>> from graphviz_grad.symbolic import check
>>> report = check("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> report.ok, report["W1"].symbolic, report["W1"].engine
(True, '2*x*(-B + W1*x + W2*y)', 20.0)

The only package that imports SymPy, one job per module:

- `translate`: a `Graph` as SymPy expressions (`to_sympy`), exact numbers, an op at a point;
- `derive`: what does not depend on the point, once per graph structure and cached (closed
  forms, per-node adjoints, the forms to show, simplified within a budget);
- `checker`: per point, the rows: the engine against those derivatives at 30 significant
  digits and a status per row, within a time budget;
- `precise`: the point in mpmath at 30 digits, no SymPy arithmetic: every node's value, the
  forward rules' references, comparisons, SymPy forms compiled to mpmath closures;
- `numeric`: the numbers behind a row: a kink's comparison, the forward-rule check, the chain
  rule node by node, a signed pole's limit;
- `differences`: central finite differences (generated straight-line code for small graphs);
- `report`: the `CheckReport` and its renderings;
- `notation`: text and LaTeX of local derivatives, for the diagrams and the derivation.
"""

from __future__ import annotations

from typing import Any

from .notation import latex_name, local_derivative_texts, operation_latex
from .translate import DIGITS, adjoints, closed_forms, exact, exact_binary, to_sympy

_CHECKER = {"ATOL": "checker", "RTOL": "checker", "CheckError": "checker", "check": "checker",
            "Derived": "derive", "derived": "derive", "CheckReport": "report", "Row": "report"}


def __getattr__(name: str) -> Any:
    """The checker's names load on first use: the diagrams and the derivation need only
    `notation` and `translate`."""
    module = _CHECKER.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value

__all__ = [
    "ATOL",
    "DIGITS",
    "RTOL",
    "CheckError",
    "CheckReport",
    "Derived",
    "Row",
    "adjoints",
    "check",
    "closed_forms",
    "derived",
    "exact",
    "exact_binary",
    "latex_name",
    "local_derivative_texts",
    "operation_latex",
    "to_sympy",
]
