"""Notation: local derivatives and operations as text and LaTeX, for the diagrams and the derivation.

>>> from graphviz_grad import parse
>>> local_derivative_texts(parse("L = (x*W1 + y*W2 - B)**2"))["L", 0]
'2·z4'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

import sympy as sp

from ..graph import CONST, INPUT, Graph
from ..ops import OPS
from ..text import product_dots
from .translate import _construct, _local_partials, _slot_symbols, exact


def _print(printer: Any, expr: sp.Expr) -> str:
    """A SymPy printer's text; SymPy's printers can raise on odd forms (LaTeX of
    ``Max(2, zoo**b)`` does), then the plain ``str``."""
    try:
        return printer(expr)
    except Exception:  # any printer bug: fall back to the plainest form
        return str(expr)



_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)?")


@functools.lru_cache(maxsize=65536)
def latex_name(name: str) -> str:
    """A name in LaTeX: SymPy's rendering for plain identifiers (``W_{1}``), otherwise upright
    text with LaTeX's special characters escaped (``50%``, ``a&b``, ``{y}``)."""
    if _IDENTIFIER.fullmatch(name):
        return sp.latex(sp.Symbol(name))
    return rf"\text{{{_latex_text(name)}}}"


def _latex_text(text: str) -> str:
    special = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
               "%": r"\%", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}
    return "".join(special.get(char, char) for char in text)


# --- the check ---------------------------------------------------------------------------



def local_derivative_texts(graph: Graph, *, latex: bool = False) -> dict[tuple[str, int], str]:
    """Each edge's local derivative as a formula in the names of its node's arguments,
    keyed by ``(node name, argument slot)``; an edge from a constant has none. Plain text
    writes a product with ``·``; ``latex=True`` gives LaTeX.

    >>> from graphviz_grad import parse
    >>> texts = local_derivative_texts(parse("L = (x*W1 + y*W2 - B)**2"))
    >>> texts["L", 0], texts["z1", 1], texts["z4", 1], texts["z3", 0]
    ('2·z4', 'x', '-1', '1')
    >>> local_derivative_texts(parse("y = x*x"))["y", 1]  # one slot at a time: d(a*b)/db = a
    'x'
    >>> local_derivative_texts(parse("y = exp(2*W1)"), latex=True)["y", 0]
    'e^{z_{1}}'
    """
    texts: dict[tuple[str, int], str] = {}
    for node in graph.nodes:
        if node.op in (INPUT, CONST):
            continue
        constants = tuple(graph[name].value if graph[name].op == CONST else None for name in node.inputs)
        templates = _local_templates(node.op, constants, latex)
        for slot, template in enumerate(templates):
            if template is not None:
                texts[node.name, slot] = _named(template, node.inputs, latex)
    return texts


def operation_latex(graph: Graph) -> dict[str, str]:
    """Each operation node's formula in LaTeX, in the names of its arguments (a constant as
    written, so ``2*3`` stays ``2 \\cdot 3``).

    >>> from graphviz_grad import parse
    >>> forms = operation_latex(parse("L = (x*W1 + y*W2 - B)**2"))
    >>> forms["z1"], forms["z4"], forms["L"]
    ('x \\\\cdot W_{1}', 'z_{3} - B', 'z_{4}^{2}')
    """
    forms = {}
    for node in graph.nodes:
        if node.op not in (INPUT, CONST):
            shown = [_latex_constant(graph[name].value) if graph[name].op == CONST else latex_name(name)
                     for name in node.inputs]
            forms[node.name] = _named(_operation_template(node.op), shown, latex=None)
    return forms


_MARKS = tuple(f"\x00{slot}\x00" for slot in range(2))


@functools.lru_cache(maxsize=1024)
def _local_templates(op: str, constants: tuple[float | None, ...], latex: bool) -> tuple[str | None, ...]:
    """The local derivatives of one operation (`_local_partials`), per slot, printed with marks
    for the argument names (None for a constant's slot)."""
    shown = tuple(None if value is None else _shown_constant(value) for value in constants)
    slots = _slot_symbols(len(constants))
    return tuple(None if local is None else _marked(local, slots, latex)
                 for local in _local_partials(op, shown))


@functools.lru_cache(maxsize=64)
def _operation_template(op: str) -> str:
    slots = _slot_symbols(OPS[op].arity)
    return _marked(_construct(op, slots), slots, latex=True)


def _shown_constant(value: float) -> sp.Expr:
    """A constant as a formula shows it: exact when it is a short decimal (0.1 as 1/10, so
    derivatives stay exact), otherwise a float (1e308 is not printed with 309 digits)."""
    if value == 0 or (len(repr(value)) <= 12 and 1e-6 <= abs(value) < 1e15):
        return exact(value)
    return sp.Float(value, 15)


def _latex_constant(value: float) -> str:
    text = sp.latex(_shown_constant(value))
    return f"\\left({text}\\right)" if text.startswith("-") else text


def _marked(expr: sp.Expr, slots: Sequence[sp.Expr], latex: bool) -> str:
    """``expr`` over the slot symbols, printed with a mark where each argument's name goes."""
    marks = dict(zip(slots, _MARKS, strict=False))
    if latex:
        return _print(lambda e: sp.latex(e, mul_symbol="dot", symbol_names=marks), expr)
    return product_dots(sp.sstr(expr.xreplace({slot: sp.Symbol(mark) for slot, mark in marks.items()})))


def _named(template: str, names: Sequence[str], latex: bool | None) -> str:
    """The template with each mark replaced by its argument's name (LaTeX names when ``latex``;
    ``None``: the names are given ready)."""
    shown = [latex_name(name) for name in names] if latex else names
    for mark, name in zip(_MARKS, shown, strict=False):
        template = template.replace(mark, name)
    return template

