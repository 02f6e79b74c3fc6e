"""The SymPy cross-check: closed-form derivatives, per-node symbolic adjoints, finite differences.

>>> report = check("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> report.ok, report["W1"].symbolic, report["W1"].engine
(True, '2*x*(-B + W1*x + W2*y)', 20.0)

The only package that imports SymPy, one job per module:

- `translate`: a `Graph` as SymPy expressions (`to_sympy`), exact numbers, an op at a point;
- `derive`: what does not depend on the point, once per graph structure and cached (closed
  forms, per-node adjoints, the forms to show, simplified within a budget);
- `check`: per point, the engine against those derivatives at 30 significant digits, central
  finite differences and a status per row, within a time budget;
- `report`: the `CheckReport` and its renderings;
- `notation`: text and LaTeX of local derivatives, for the diagrams and the derivation.
"""

from __future__ import annotations

from .check import ATOL, RTOL, CheckError, check
from .derive import Derived, derived
from .notation import latex_name, local_derivative_texts, operation_latex
from .report import CheckReport, Row
from .translate import DIGITS, adjoints, closed_forms, exact, exact_binary, to_sympy

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
