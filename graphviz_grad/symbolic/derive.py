"""Derive: what a check needs that does not depend on the point, once per graph structure.

>>> from graphviz_grad import parse
>>> d = derived(parse("L = (x*W1 + y*W2 - B)**2"))
>>> d.shown(0, "auto")[0], d is derived(parse("L = (x*W1 + y*W2 - B)**2"))
(2*W1*(-B + W1*x + W2*y), True)

`derived` keeps the last `CACHE_SIZE` graphs (a bounded LRU keyed by the graph's structure:
its nodes, ops, names and constants), so a check at a new point re-derives nothing. The
forms to show are simplified within a budget that cannot hang: `sympy.simplify` runs in a
child process with a deadline (`SIMPLIFY_SECONDS`); past it the form is shown factored, with
a note. The check's verdict never depends on a shown form.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import sympy as sp

from ..graph import CONST, INPUT, Graph
from ..ops import OPS
from .translate import _PREC, _adjoint, _depends, _is_number, _tree_size, to_sympy

CACHE_SIZE = 64
"""Graphs whose derivation each process keeps (least recently used out)."""
SIMPLIFY_SECONDS = 1.0
"""The time `sympy.simplify` gets for all the shown forms of one graph, in a child process."""
SIMPLIFY_MODES = ("auto", "always", "never")
"""``auto``: simplify forms likely to gain (`_worth_simplifying`) within `SIMPLIFY_SECONDS`;
``always``: every form up to `SIMPLIFY_OPS` operations, within the same budget; ``never``:
only cheap structural rewriting (`sympy.factor_terms`)."""
FULL_NODES = 60
"""Graphs with at most this many operation nodes get full closed forms; larger ones the node form."""
SIMPLIFY_OPS = 30
"""`sympy.simplify` runs only on a closed form with at most this many operations (`count_ops`) ..."""
FULL_TREE = 400
"""... and whose output expression, written out as a tree, has at most this many nodes."""
FACTOR_OPS = 400
"""`sympy.factor_terms` runs on closed forms up to this size; larger ones are shown as derived."""

_PIECEWISE = (sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign, sp.Piecewise)


SIMPLIFY_FUNCTIONS = 2
"""... and only on forms with at most this many distinct function applications (measured: 0.5-1 s
a form with four, ``exp(-x)``, ``exp(-cos(y))``, ``sin(z)``, ``cos(y)``)."""
SIMPLIFY_ARGUMENT_OPS = 4
"""... and only on forms whose functions' arguments have at most this many operations (measured:
``sin((z + 2 + x)*(z - x))``'s derivative 0.5 s, ``sin((z + 2 + x)*(z + 1/2 - x))``'s 1.2 s,
``sin((z + 2 + x)*(z + 1/2 - x**2))``'s minutes: trigsimp's product-to-sum rules multiply out).
``sin(x*w + y*b - c)`` has four."""
SIMPLIFY_NUMBER = 1000
"""... and only on forms whose numbers are integers or fractions with numerator and denominator
at most this big (``cos(1000000*x)`` sends trigsimp into a search that grows with the number),
and no Floats (folded transcendental constants)."""


def _worth_simplifying(expr: sp.Expr) -> bool:
    """`sympy.simplify` is slow; polynomials and quotients of them gain nothing from it
    that `factor_terms` does not give, so it runs only on forms with functions in them, and
    not on forms with Max/Min/Abs/Heaviside/sign (measured: seconds per form, spent
    comparing their arguments), with more than `SIMPLIFY_FUNCTIONS` distinct functions, with
    a function of a long argument (`SIMPLIFY_ARGUMENT_OPS`), or with large or inexact numbers
    (`SIMPLIFY_NUMBER`). Structural rules, not a timer: the same form
    is always shown the same way."""
    worth = False
    functions: set[sp.Expr] = set()
    for sub in sp.preorder_traversal(expr):
        if isinstance(sub, _PIECEWISE) or sub.is_Float:
            return False
        if sub.is_Rational and (abs(sub.p) > SIMPLIFY_NUMBER or sub.q > SIMPLIFY_NUMBER):
            return False
        if isinstance(sub, sp.Function):
            functions.add(sub)
            if len(functions) > SIMPLIFY_FUNCTIONS or any(sp.count_ops(argument) > SIMPLIFY_ARGUMENT_OPS
                                                           for argument in sub.args):
                return False
        worth = worth or isinstance(sub, sp.Function) or (isinstance(sub, sp.Pow) and not sub.exp.is_Integer)
    return worth


# --- local derivatives as text, for the diagrams' edge labels ----------------------



@dataclass
class Derived:
    """One graph's derivation: its SymPy expressions, the derivative of the output with respect
    to every input and every operation node (full closed forms for graphs up to `FULL_NODES`
    operations), and the forms to show, per simplify mode."""

    graph: Graph
    exprs: dict[str, sp.Expr]
    depends: list[bool]
    full: bool
    flat: list[bool]
    """Nodes that depend on an input but that SymPy found constant (``v*0`` -> 0)."""
    names: dict[sp.Expr, sp.Expr]
    """Intermediate nodes' expressions (and their negatives) -> the node's symbol."""
    forms: dict[int, sp.Expr] = field(default_factory=dict)
    _shown: dict[str, dict[int, tuple[sp.Expr, str, str]]] = field(default_factory=dict)
    _compiled: dict[str, Any] = field(default_factory=dict)
    _children: dict[str, _Simplifying] = field(default_factory=dict)
    _in_nodes: dict[sp.Expr, sp.Expr] = field(default_factory=dict)

    def in_nodes(self, shown: sp.Expr) -> sp.Expr:
        """A shown form written with the intermediate nodes' names where they appear whole
        (``2*x*z4``), once per form: it does not depend on the point."""
        written = self._in_nodes.get(shown)
        if written is None:
            written = self._in_nodes[shown] = shown.xreplace(self.names)
        return written

    def form(self, i: int) -> sp.Expr:
        """dL/d(node i) as `sympy.diff` gives it (full graphs only), derived on first use."""
        expr = self.forms.get(i)
        if expr is None:
            node = self.graph.nodes[i]
            output = self.exprs[self.graph.output]
            expr = (sp.diff(output, self.exprs[node.name]) if node.op == INPUT
                    else _adjoint(self.graph, self.exprs, i))
            self.forms[i] = expr
        return expr

    def shown(self, i: int, mode: str, deadline: float | None = None) -> tuple[sp.Expr, str, str]:
        """``(expr, form, note)``: row i's closed form as shown in ``mode`` (`SIMPLIFY_MODES`);
        ``form`` is ``simplified``, ``factored`` or ``derived``. All rows of a mode are shaped
        together the first time one is asked for."""
        shaped = self._shown.get(mode)
        if shaped is None:
            self.start_simplify(mode, deadline)
            shaped = self._shown[mode] = _shape_all(
                {j: self.form(j) for j in self.rows}, mode, self._children.pop(mode))
        return shaped[i]

    def start_simplify(self, mode: str, deadline: float | None = None) -> None:
        """Start `sympy.simplify` on this mode's forms in a child process (if not shown yet), so
        that it runs while the check evaluates; `shown` collects the results."""
        if mode in self._shown or mode in self._children:
            return
        if mode not in SIMPLIFY_MODES:
            raise ValueError(f"simplify must be one of {', '.join(SIMPLIFY_MODES)}, not {mode!r}")
        wanted = [i for i in self.rows if _wanted(self.form(i), mode)]
        seconds = SIMPLIFY_SECONDS if deadline is None else min(SIMPLIFY_SECONDS, deadline - time.monotonic())
        self._children[mode] = _Simplifying(wanted, _start_child([self.form(i) for i in wanted], seconds)
                                            if wanted else None, time.monotonic() + seconds)

    @property
    def rows(self) -> list[int]:
        """The nodes that get a row: inputs, and operation nodes that depend on an input."""
        return [i for i, node in enumerate(self.graph.nodes)
                if node.op == INPUT or (node.op != CONST and self.depends[i])]

    def compiled(self) -> Any:
        """Every row's closed form as one function of the inputs (in graph order) on mpmath
        numbers, returning the values in `rows` order (common subexpressions computed once);
        ``None`` where SymPy cannot compile them (then the check substitutes and `evalf`s)."""
        if "all" not in self._compiled:
            symbols = [self.exprs[name] for name in self.graph.inputs]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    function = sp.lambdify(symbols, [self.form(i) for i in self.rows], modules="mpmath",
                                           cse=True)
            except Exception:  # a form SymPy's code printer does not know: evaluate the slow way
                function = None
            self._compiled["all"] = function
        return self._compiled["all"]


@functools.lru_cache(maxsize=CACHE_SIZE)
def derived(graph: Graph) -> Derived:
    """The graph's `Derived`, from the cache when this graph's structure was derived before."""
    exprs = to_sympy(graph)
    depends = _depends(graph)
    operations = sum(1 for node in graph.nodes if node.op not in (INPUT, CONST))
    full = operations <= FULL_NODES and _tree_size(graph) <= FULL_TREE
    flat = [False] * len(graph)
    names: dict[sp.Expr, sp.Expr] = {}
    out = graph.index(graph.output)
    if full:
        for i, (node, expr) in enumerate(zip(graph.nodes, exprs.values(), strict=True)):
            flat[i] = depends[i] and _is_number(expr)
            if node.op not in (INPUT, CONST) and i != out and depends[i] and expr.args:
                names.setdefault(expr, sp.Symbol(node.name, real=True))
                names.setdefault(-expr, -sp.Symbol(node.name, real=True))
    return Derived(graph, exprs, depends, full, flat, names)


@dataclass(frozen=True)
class _Structure:
    """What a check reads of the graph's structure alone, once per graph (`_structure`)."""

    depends: list[bool]
    live: list[bool]
    """Nodes that depend on an input and that the output depends on."""
    out: int
    full: bool
    """Full closed forms (small graphs) or the node form."""
    wrts: list[int]
    """The nodes that get a row: inputs, and operation nodes that depend on an input."""
    inputs: list[tuple[str, int]]
    growth: bool
    """Whether an op may outgrow the size cap (`MAX_BITS`): then every value is looked at."""


@functools.lru_cache(maxsize=CACHE_SIZE)
def _structure(graph: Graph) -> _Structure:
    n, args = len(graph), graph.arg_indices
    depends = _depends(graph)
    reaches = [False] * n
    out = graph.index(graph.output)
    reaches[out] = True
    for i in range(n - 1, -1, -1):
        if reaches[i]:
            for a in args[i]:
                reaches[a] = True
    operations = [node for node in graph.nodes if node.op not in (INPUT, CONST)]
    full = len(operations) <= FULL_NODES and _tree_size(graph) <= FULL_TREE
    wrts = [i for i, node in enumerate(graph.nodes) if node.op == INPUT or (node.op != CONST and depends[i])]
    return _Structure(depends, [r and d for r, d in zip(reaches, depends, strict=True)], out, full, wrts,
                      [(name, graph.index(name)) for name in graph.inputs],
                      any(OPS[node.op].growth is not None for node in operations))


def evaluate(function: Any, point: Sequence[float]) -> list[sp.Expr | None]:
    """The compiled forms at the point (the inputs' shortest decimal values, `precise.decimal`)
    with `DIGITS` digits, as SymPy Floats; ``None`` for a value that is not a finite real or is
    so near 0 that it may be a cancellation the exact arithmetic resolves (the check then asks
    SymPy itself)."""
    from .precise import decimal

    numbers = [decimal(value) for value in point]
    if any(number is None for number in numbers):
        return []
    saved = mpmath.mp.prec
    try:
        mpmath.mp.prec = _PREC
        values = function(*map(mpmath.mp.make_mpf, numbers))
        return [_plain_float(value) for value in values]
    except Exception:  # ZeroDivisionError, a complex intermediate, ...: the slow way, row by row
        return []
    finally:
        mpmath.mp.prec = saved


NEAR_ZERO = 1e-20
"""Compiled values smaller than this are recomputed exactly (``5*0.2 + 10*0.3 - 4`` is 0, not 1e-31)."""
_NEAR_ZERO = mpmath.libmp.from_float(NEAR_ZERO)
_NOT_FINITE = (mpmath.libmp.finf, mpmath.libmp.fninf, mpmath.libmp.fnan)


def _plain_float(value: Any) -> sp.Expr | None:
    """A compiled value as a SymPy Float when it is a finite real not near 0, else ``None``."""
    if isinstance(value, int):  # a constant form (dL/dL = 1)
        return sp.Integer(value) if value else None
    if not isinstance(value, mpmath.mpf):
        return None
    number = value._mpf_
    if number in _NOT_FINITE or mpmath.libmp.mpf_cmp(mpmath.libmp.mpf_abs(number), _NEAR_ZERO) < 0:
        return None
    return sp.Float._new(number, _PREC)


def _shape(expr: sp.Expr, mode: str, simplified: sp.Expr | None) -> tuple[sp.Expr, str, str]:
    """The form to show: the simplified one when it is not longer, else factored, else as derived."""
    size = sp.count_ops(expr) if expr.args else 0
    if size == 0:
        return expr, "simplified", ""
    if simplified is not None and sp.count_ops(simplified) <= size:
        return simplified, "simplified", ""
    if size <= FACTOR_OPS:
        return sp.factor_terms(expr), "factored", ""
    return expr, "derived", ""


def _wanted(expr: sp.Expr, mode: str) -> bool:
    if mode == "never" or not expr.args:
        return False
    size = sp.count_ops(expr)
    return size <= SIMPLIFY_OPS and (mode == "always" or _worth_simplifying(expr))


@dataclass
class _Simplifying:
    """`sympy.simplify` running in a child: the rows it works on, the child and its deadline."""

    wanted: list[int]
    child: tuple[Any, Any] | None
    end: float


def _shape_all(forms: dict[int, sp.Expr], mode: str,
               running: _Simplifying) -> dict[int, tuple[sp.Expr, str, str]]:
    """Every row's shown form, with the child's simplified forms that arrived by its deadline;
    rows it did not finish say so."""
    simplified = _collect(running.child, len(running.wanted), running.end) if running.child else []
    results = dict(zip(running.wanted, simplified, strict=False))
    shaped = {}
    for i, expr in forms.items():
        shown, form, note = _shape(expr, mode, results.get(i))
        if i in running.wanted and i not in results:
            note = "shown unsimplified: sympy.simplify did not finish within its budget"
        shaped[i] = (shown, form, note)
    return shaped


def _start_child(exprs: list[sp.Expr], seconds: float) -> tuple[Any, Any] | None:
    """A forked child that sends `sympy.simplify` of each expression in order (SymPy's simplify
    cannot be interrupted in-process; a child can be killed at the deadline)."""
    if seconds <= 0:
        return None
    try:
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: the child only computes
            child = context.Process(target=_simplify_each, args=(exprs, sender), daemon=True)
            child.start()
    except (OSError, ValueError):  # no fork here (or no resources): show the forms unsimplified
        return None
    sender.close()
    return child, receiver


def _collect(running: tuple[Any, Any], count: int, end: float) -> list[sp.Expr]:
    """The child's results until ``count`` arrived or the deadline passed; then it is killed."""
    child, receiver = running
    results: list[sp.Expr] = []
    try:
        while len(results) < count:
            left = end - time.monotonic()
            if left <= 0 or not receiver.poll(left):
                break
            results.append(receiver.recv())
    except (EOFError, OSError):
        pass
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()
    return results


def _simplify_each(exprs: list[sp.Expr], sender: Any) -> None:
    try:
        for expr in exprs:
            try:
                simpler = sp.simplify(expr)
            except Exception:  # a SymPy bug on an odd form: keep it as it is
                simpler = expr
            sender.send(simpler)
    finally:
        sender.close()
        os._exit(0)  # no atexit handlers or flushing of the parent's buffers in the child
