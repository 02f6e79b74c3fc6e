"""The check, per point: the engine against SymPy's derivatives at high precision, finite
differences and a status per row.

>>> from graphviz_grad import check
>>> check("L = relu(x) * y", x=0, y=2)["x"].status
'kink'
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right
from collections.abc import Mapping
from typing import Any

import mpmath
import sympy as sp

from ..engine import Trace
from ..errors import GraphvizGradError, InputValueError
from ..formula import parse
from ..graph import CONST, INPUT, Expr, Graph, build
from ..ops import OPS
from .derive import (
    _PIECEWISE,
    FULL_NODES,
    FULL_TREE,
    SIMPLIFY_MODES,
    SIMPLIFY_OPS,
    derived,
    evaluate,
)
from .report import CheckReport, Row, _digits_text, _fmt
from .translate import (
    _EPS,
    _FLOAT_MAX,
    DIGITS,
    _at_point,
    _depends,
    _far,
    _far_limit,
    _huge,
    _local_partials,
    _number,
    _real_or_nan,
    _slot_symbols,
    _substitute,
    _to_float,
    _too_large,
    _tree_size,
    bounded_substitute,
    exact,
    exact_binary,
)

RTOL = 1e-7
"""Default relative tolerance of engine vs SymPy."""
ATOL = 1e-10
"""Default absolute tolerance of engine vs SymPy."""
TIMEOUT = 60.0
"""The default time budget of one check, in seconds (``check --timeout``, ``timeout=``)."""
FD_BUDGET = 4_000_000
"""Finite differences re-evaluate the graph downstream of a row's node four times; once the check
has spent this many node evaluations, the remaining rows get no finite difference."""

class CheckError(GraphvizGradError, ValueError):
    """Arguments to `check` that cannot be checked (bad tolerances, a subject of the wrong kind)."""


# --- numbers ----------------------------------------------------------------------


def check(subject: str | Graph | Expr | Trace, values: Any = None, /, *, rtol: float = RTOL,
          atol: float = ATOL, simplify: bool | str = "auto", timeout: float | None = TIMEOUT,
          **named: float) -> CheckReport:
    """Check the engine's gradients of a formula, graph or trace against SymPy and finite
    differences; like autograd's ``check_grads``, but returning a report.

    ``subject`` is formula text, a `Graph`, a builder `Expr` or a `Trace` (which brings its
    values). Values come as keywords, a mapping or a sequence in input order, as for `grad`
    (an input named like an option, ``rtol``, must be in the mapping).

    ``simplify`` (``"auto"``, ``"always"``, ``"never"``; True is ``"auto"``, False ``"never"``)
    only changes how the closed forms are shown, never a verdict: `sympy.simplify` runs in a
    child process within a time budget. ``timeout`` (seconds, None: no limit) bounds the whole
    check: rows it does not reach get the status ``not checked``.

    >>> report = check("L = relu(x) * y", x=0, y=2)
    >>> report.ok, report["x"].status
    (True, 'kink')
    >>> print(report["x"].note.partition(";")[0])
    not differentiable here: relu at 0 (node z1's argument x)
    """
    for name, tolerance in (("rtol", rtol), ("atol", atol)):
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not (
                math.isfinite(tolerance) and tolerance >= 0):
            raise CheckError(f"{name} must be a finite number >= 0, not {tolerance!r}")
    mode = {True: "auto", False: "never"}.get(simplify, simplify) if isinstance(simplify, bool) else simplify
    if mode not in SIMPLIFY_MODES:
        raise CheckError(f"simplify must be one of {', '.join(SIMPLIFY_MODES)} (or True/False), "
                         f"not {simplify!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or not timeout > 0):
        raise CheckError(f"timeout must be a number of seconds > 0 or None, not {timeout!r}")
    if isinstance(subject, Trace):
        if values is not None or named:
            raise InputValueError("a Trace carries its own values: give no others")
        trace = subject
    else:
        if isinstance(subject, str):
            graph = parse(subject)
        elif isinstance(subject, Expr):
            graph = build(subject)
        elif isinstance(subject, Graph):
            graph = subject
        else:
            raise CheckError("check takes a formula, a Graph, an Expr or a Trace, "
                             f"not {type(subject).__name__}")
        from .. import grad
        trace = grad(graph, values, **named)
    return _Checker(trace, float(rtol), float(atol), simplify=mode,
                    timeout=None if timeout is None else float(timeout)).run()


class _Checker:
    """One check: the graph's structure, the high-precision point and the rows."""

    def __init__(self, trace: Trace, rtol: float, atol: float, *, simplify: str = "auto",
                 timeout: float | None = None):
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.trace = trace
        self.graph = graph = trace.graph
        self.rtol, self.atol = rtol, atol
        self.simplify = simplify
        self.n = len(graph)
        self.args = graph.arg_indices
        self.depends = _depends(graph)
        reaches = [False] * self.n
        self.out = graph.index(graph.output)
        reaches[self.out] = True
        for i in range(self.n - 1, -1, -1):
            if reaches[i]:
                for a in self.args[i]:
                    reaches[a] = True
        self.live = [r and d for r, d in zip(reaches, self.depends, strict=True)]
        self.point = {name: trace.values[graph.index(name)] for name in graph.inputs}
        operations = sum(1 for node in graph.nodes if node.op not in (INPUT, CONST))
        self.full = operations <= FULL_NODES and _tree_size(graph) <= FULL_TREE
        self.fd_spent = 0
        self.steps = [(i, OPS[node.op].forward, *(self.args[i] if len(self.args[i]) == 2
                                                  else (self.args[i][0], -1)))
                      for i, node in enumerate(graph.nodes) if node.op not in (INPUT, CONST)]
        self.step_positions = [step[0] for step in self.steps]
        self.branches = [(i, OPS[node.op].side, self.args[i],
                          tuple(self.depends[a] for a in self.args[i]))
                         for i, node in enumerate(graph.nodes)
                         if node.op not in (INPUT, CONST) and OPS[node.op].side is not None]
        self.branch_positions = [branch[0] for branch in self.branches]

    def reference_values(self) -> list[sp.Expr]:
        """Every node's value at the point with `DIGITS` digits, node by node through the op
        table (faithful: SymPy never sees the whole expression, so x/x at 0 stays 0/0 = nan)."""
        values: list[sp.Expr] = []
        for i, node in enumerate(self.graph.nodes):
            if node.op == INPUT:
                values.append(_number(exact(self.trace.values[i])))
            elif node.op == CONST:
                values.append(_number(exact(node.value)))  # type: ignore[arg-type]
            else:
                values.append(_at_point(node.op, [values[a] for a in self.args[i]]))
        return values

    def run(self) -> CheckReport:
        graph = self.graph
        derivation = derived(graph) if self.full else None
        self.ref = self.reference_values()
        self.conventions: dict[int, tuple[sp.Expr, ...]] = {}
        self.uncompared: set[int] = set()
        # arguments SymPy found constant (v*0 -> 0): a kink fed only by them is no kink for any row
        self.flat = derivation.flat if derivation is not None else [False] * self.n
        self.kinks = self._kinks()
        # at a kink the engine is compared with its documented convention there and SymPy's
        # local derivatives elsewhere, through the chain rule node by node
        self._expected: list[sp.Expr] | None = None
        self.forms: dict[int, sp.Expr] = {}
        self.binary_point: dict[sp.Expr, sp.Expr] | None = None
        self.undefined = self._undefined()
        self.infinite = self._undefined(infinite=True)
        wrts = [i for i, node in enumerate(graph.nodes)
                if node.op == INPUT or (node.op != CONST and self.depends[i])]
        rows: list[Row] = []
        if derivation is not None:
            exprs = derivation.exprs
            point = {exprs[name]: _number(exact(value)) for name, value in self.point.items()}
            numbers = [repr(value) for value in self.point.values()]
            # exp(x**x) at x = 100000 or x**x**x**x at 10: substituting the point into a closed
            # form would build a number that never finishes; the node form's values are guarded
            far = self._far_nodes()
            chain_values = self._chain()[1] if far else None
            if not far and all(map(math.isfinite, self.point.values())):
                # the inputs as the engine holds them, exactly (53 bits fit in 30 digits)
                self.binary_point = {exprs[name]: sp.Float(exact_binary(value), DIGITS)
                                     for name, value in self.point.items()}
            derivation.start_simplify(self.simplify, self.deadline)  # runs while the rows are evaluated
            compiled = derivation.compiled() if chain_values is None else None
            compiled_values = dict(zip(derivation.rows, evaluate(compiled, numbers, DIGITS)
                                       if compiled is not None else [], strict=False))
            for i in wrts:
                if self._late():
                    rows.append(self._not_checked(i))
                    continue
                form = self.forms[i] = derivation.form(i)
                if chain_values is not None:
                    value = chain_values[i]
                else:  # compiled once per graph; SymPy itself where the value is not a plain real
                    value = compiled_values.get(i)
                    if value is None:
                        value = _real_or_nan(_substitute(form, point))
                shown, kind, note = derivation.shown(i, self.simplify, self.deadline)
                row = self._row(i, shown, kind, value)
                row.in_nodes = row.expr.xreplace(derivation.names)
                if note:
                    row.note = f"{row.note}; {note}" if row.note else note
                rows.append(row)
        else:
            expressions, values = self._chain()
            for i in wrts:
                late = self._late()
                rows.append(self._not_checked(i) if late
                            else self._row(i, expressions[i], "nodes", values[i]))
        return CheckReport(graph, self.point, rows, rtol=self.rtol, atol=self.atol, full=self.full,
                           timeout=self.timeout)

    def _late(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def _not_checked(self, i: int) -> Row:
        """A row the time budget did not reach: the engine's value, no verdict."""
        node = self.graph.nodes[i]
        return Row(node.name, "input" if node.op == INPUT else "node", sp.nan, "derived", math.nan,
                   self.trace.grads[i], None, None, None, None, None, True, "not checked",
                   f"not checked: the check's time budget of {self.timeout:g} s ran out", self.graph.output)

    def _far_nodes(self) -> list[int]:
        """The live nodes whose value must not be computed from a closed form: exp/sin/... of an
        argument beyond float64 (the op table's ``far``) and powers beyond `MAX_BITS`."""
        return [i for i, node in enumerate(self.graph.nodes)
                if self.live[i] and node.op not in (INPUT, CONST)
                and (_far(node.op, self.ref[self.args[i][0]])
                     or _too_large(node.op, [self.ref[a] for a in self.args[i]]))]

    def _chain(self, conventions: Mapping[int, tuple[sp.Expr, ...]] | None = None
               ) -> tuple[dict[int, sp.Expr], list[sp.Expr]]:
        """Node form for large graphs: dL/dz = sum over z's consumers c of dL/dc * dc/dz, each
        local derivative by `sympy.diff` of the node's own expression, written with node symbols
        and evaluated at high precision node by node (linear in the graph's size). With
        ``conventions``, those nodes' local derivatives take the given values (kinks)."""
        conventions = conventions or {}
        graph, ref = self.graph, self.ref
        symbols = [sp.Symbol(node.name, real=True) if self.depends[i] else ref[i]
                   for i, node in enumerate(graph.nodes)]
        adjoint = [sp.Symbol(f"d{graph.output}/d{node.name}", real=True) for node in graph.nodes]
        terms: list[list[sp.Expr]] = [[] for _ in graph.nodes]
        values: list[sp.Expr] = [sp.Integer(0)] * self.n
        values[self.out] = sp.Integer(1)
        for i in range(self.n - 1, -1, -1):
            node = graph.nodes[i]
            if not self.live[i] or node.op in (INPUT, CONST):
                continue
            upstream = values[i]
            args = self.args[i]
            locals_ = _local_partials(node.op, tuple(None if self.depends[a] else ref[a] for a in args))
            for slot, a in enumerate(args):
                partial = locals_[slot]
                if partial is None or not self.live[a]:
                    continue
                dummies = _slot_symbols(len(args))
                if i in conventions:
                    at_point = conventions[i][slot]
                elif _far(node.op, ref[args[0]]):
                    at_point = _far_limit(node.op, ref[args[0]], derivative=True)
                elif any(_huge(ref[b]) for b in args):  # guarded: no power is computed past MAX_BITS
                    at_point = bounded_substitute(partial,
                                                  {d: ref[b] for d, b in zip(dummies, args, strict=True)})
                else:
                    at_point = _substitute(partial, {d: ref[b] for d, b in zip(dummies, args, strict=True)})
                values[a] = values[a] + upstream * _real_or_nan(at_point)
                terms[a].append(adjoint[i] * partial.xreplace(
                    {d: symbols[b] for d, b in zip(dummies, args, strict=True)}))
        expressions = {i: sp.Integer(1) if i == self.out else sp.Add(*terms[i]) for i in range(self.n)}
        return expressions, [_real_or_nan(value) for value in values]

    def _kinks(self) -> dict[int, str]:
        """For each node whose gradient passes a non-differentiable point, the first such note."""
        notes: dict[int, str] = {}
        values, ref = self.trace.values, self.ref
        for k, node in enumerate(self.graph.nodes):
            if not self.live[k] or node.op in (INPUT, CONST):
                continue
            args = [values[a] for a in self.args[k]]
            exact_args = [ref[a] for a in self.args[k]]
            names = [self.graph.nodes[a].name for a in self.args[k]]
            op = OPS[node.op]
            floats = tuple(args)
            exact_floats = tuple(_to_float(value) for value in exact_args)
            live_slots = [slot for slot, a in enumerate(self.args[k]) if self.depends[a]]
            fields = {"op": node.op, "node": node.name, "v": _fmt(args[0])}
            local: tuple[sp.Expr, ...] | None = None
            if op.kink is not None and any(op.kink(slot, floats) or op.kink(slot, exact_floats)
                                           for slot in live_slots):
                where = op.kink_place.format(*names, **fields)
                note = f"not differentiable here: {where}; the engine follows PyTorch: {op.convention}"
                if op.kink_partials is not None and any(op.kink(slot, floats) for slot in live_slots):
                    local = op.kink_partials(sp, *exact_args)
            elif op.edge is not None and any(op.edge(slot, floats) for slot in live_slots):
                note = "not differentiable here: " + op.edge_note.format(*names, **fields)
            else:
                continue
            upstream = self._upstream(k)
            if all(self.flat[a] or not self.depends[a] for a in self.args[k]):
                # relu(v*0): the kink's argument does not move with any input, so no input's
                # derivative meets it (intermediate nodes, varied alone, still do)
                upstream = {a for a in upstream if self.graph.nodes[a].op != INPUT}
            if local is None:
                self.uncompared.update(upstream)
            else:
                self.conventions[k] = local
            for a in upstream:
                notes.setdefault(a, note)
        return notes

    def _upstream(self, k: int) -> set[int]:
        """The live nodes node k's gradient flows to (its arguments, theirs, ...)."""
        seen: set[int] = set()
        stack = list(self.args[k])
        while stack:
            a = stack.pop()
            if a in seen or not self.live[a]:
                continue
            seen.add(a)
            stack.extend(self.args[a])
        return seen

    def _undefined(self, infinite: bool = False) -> dict[int, str]:
        """Rows whose derivative is taken where the function has no real value: the node itself
        or a node downstream of it has none (0/0, log(-1), or a nan from a constant
        subexpression). SymPy may have simplified such a value away (x/x -> 1, d(nan)/dx = 0),
        so its closed form is no reference there. With ``infinite``, the same for nodes whose
        value is infinite (log(0*x): SymPy's 0*x -> 0 hides the pole). The reason names the
        most upstream such node; one sweep from the output back."""
        reasons: dict[int, str] = {}
        for j in range(self.n - 1, -1, -1):
            if not self.live[j]:
                continue
            reason = reasons.get(j)
            value = self.ref[j]
            if value is sp.nan or (infinite and (value is sp.zoo or value in (sp.oo, -sp.oo))):
                node = self.graph.nodes[j]  # the most upstream one wins: it is met last
                statement = f" ({self.graph.statement(node.name)})" if node.inputs else ""
                reason = (f"node {node.name} is {value} here{statement}" if infinite and value is not sp.nan
                          else f"node {node.name} has no real value here{statement}")
                if node.op not in (INPUT, CONST) and _far(node.op, self.ref[self.args[j][0]]) \
                        and _far_limit(node.op, self.ref[self.args[j][0]]) is sp.nan:
                    reason = (f"node {node.name} is {node.op} of an argument beyond float64{statement}: "
                              "no checkable value")
            if reason is not None:  # the gradient of j and of every node upstream passes here
                reasons[j] = reason
                for a in self.args[j]:
                    if self.live[a]:
                        reasons[a] = reason
        return reasons

    def _row(self, i: int, expr: sp.Expr, form: str, value: sp.Expr) -> Row:
        node = self.graph.nodes[i]
        engine = self.trace.grads[i]
        fd, step, fd_tol, fd_note = self._finite_difference(i, value)
        reference = _to_float(value)
        notes: list[str] = []
        abs_error: float | None = None
        rel_error: float | None = None
        if i in self.kinks:
            status, ok = "kink", True
            notes.append(self.kinks[i])
            if any(isinstance(sub, sp.Heaviside) for sub in sp.preorder_traversal(expr)) or form == "nodes":
                notes.append("SymPy's value is not a reference here (it takes Heaviside(0) = 1/2)")
            if i not in self.uncompared:
                ok, abs_error, rel_error, note = self._kink_compare(engine, self.expected[i])
                status = "kink" if ok else "disagree"
                notes.append(note)
        elif value is sp.nan or i in self.undefined:
            status, ok = "undefined", True
            notes.append("no real derivative here: " + self.undefined.get(i, "SymPy's value is not real"))
        elif value is sp.zoo or value in (sp.oo, -sp.oo):
            agree = math.isinf(engine) and (value is sp.zoo or (engine > 0) == (value is sp.oo))
            status, ok = ("infinite", True) if agree else ("disagree", False)
            if agree:
                abs_error = rel_error = 0.0
            notes.append(f"SymPy's value is {value}" + ("" if agree else f" but the engine gives {engine!r}"))
            signed = self._signed_pole(i) if value is sp.zoo else None
            if signed is not None:  # shown with its sign; IEEE's signed zeros may give the other one
                value, reference = signed, _to_float(signed)
                notes.append(f"its limit approaching the point along every input at once, from both sides, "
                             f"is {signed}" + ("" if (engine > 0) == (signed is sp.oo) or not agree
                                               else f" (the engine's {engine!r} has the other sign)"))
        elif abs(value) > _FLOAT_MAX:
            agree = math.isinf(engine) and (engine > 0) == (value > 0)
            status, ok = ("overflow", True) if agree else ("disagree", False)
            if agree:
                abs_error = rel_error = 0.0
            notes.append(f"the exact value {_digits_text(sp.Float(value, 6))} is beyond float64"
                         + ("; the engine overflows to inf, as IEEE arithmetic does" if agree else ""))
        else:
            abs_error, rel_error, ok = self._compare(engine, value)
            binary = self._at_binary_point(i) if not ok else None
            if binary is not None and self._compare(engine, binary)[2]:
                ok = True
                abs_error, rel_error, _ = self._compare(engine, binary)
                notes.append(f"agrees with SymPy at the inputs' exact binary values "
                             f"({_digits_text(binary)}): the decimal point differs from them by under "
                             "an ulp, which this derivative amplifies")
            status = "agree" if ok else "disagree"
            if not ok:
                notes.append(f"the engine gives {engine!r}, SymPy {_digits_text(value)}")
                if not math.isfinite(engine) and any(map(math.isinf, self.trace.values + self.trace.grads)):
                    notes.append("the engine's float64 arithmetic met an infinity on the way "
                                 "(inf*0 and inf - inf give nan)")
            if fd is not None and fd_tol is not None and abs(fd - reference) > fd_tol:
                # SymPy is the oracle: a finite difference off it says nothing against an engine
                # that agrees with it (sin(x/y) at y = 0.001 is too curved for the step)
                notes.append(f"finite difference unreliable here: it is off SymPy's value by more than "
                             f"its error estimate {fd_tol:.3g}" + ("" if ok else ", like the engine"))
        if not ok and i in self.infinite and not self._finite_by_nodes(i):
            # a pole on the way that the derivative itself passes: SymPy may have simplified it away
            status, ok, abs_error, rel_error = "undefined", True, None, None
            notes[:] = ["no finite derivative here: " + self.infinite[i]]
        forward = self._forward_mismatch(i)
        if forward:
            ok, status = False, "disagree"
            notes.append(forward)
        if fd_note:
            notes.append(fd_note)
        return Row(node.name, "input" if node.op == INPUT else "node", expr, form, reference, engine, fd,
                   step, fd_tol, abs_error, rel_error, ok, status, "; ".join(notes), self.graph.output,
                   value)

    def _signed_pole(self, i: int) -> sp.Expr | None:
        """The sign of a ``zoo`` (SymPy's unsigned infinity, ``-1/y**2`` at 0): the limit of
        row i's closed form as every input approaches the point together from above and from
        below (inputs + t and - t, t -> 0+), when both give the same signed infinity. Only small
        forms without Max/Min/Abs/Heaviside/sign (`sympy.limit` is slow on large ones)."""
        form = self.forms.get(i)
        if form is None or self.binary_point is None or sp.count_ops(form) > SIMPLIFY_OPS or any(
                isinstance(sub, _PIECEWISE) or sub.is_Float for sub in sp.preorder_traversal(form)):
            return None
        t = sp.Dummy("t", positive=True)
        limits = set()
        for direction in (1, -1):
            shifted = _substitute(form, {symbol: exact(value) + direction * t
                                         for symbol, value in zip(self.binary_point, self.point.values(),
                                                                  strict=True)})
            try:
                limits.add(sp.limit(shifted, t, 0, "+"))
            except Exception:  # SymPy's limit raises NotImplementedError and worse on odd forms
                return None
        (limit,) = limits if len(limits) == 1 else (None,)
        return limit if limit in (sp.oo, -sp.oo) else None

    def _at_binary_point(self, i: int) -> sp.Expr | None:
        """Row i's closed form at the float inputs' exact binary values (full closed forms only)."""
        if self.binary_point is None or i not in self.forms:
            return None
        value = _real_or_nan(_substitute(self.forms[i], self.binary_point))
        return value if value.is_Number and value.is_finite and abs(value) <= _FLOAT_MAX else None

    @property
    def expected(self) -> list[sp.Expr]:
        """Every node's dL/dz by the chain rule node by node at 30 digits, with the documented
        conventions at kinks (computed once, when first needed)."""
        if self._expected is None:
            self._expected = self._chain(self.conventions)[1]
        return self._expected

    def _finite_by_nodes(self, i: int) -> bool:
        """Whether dL/d(node i), node by node (where SymPy merges nothing), is a finite real:
        a pole or nan in another summand (sin(x) + 1/y at y = 0) leaves dL/dx defined."""
        value = self.expected[i]
        return bool(value.is_Number) and value is not sp.nan and bool(value.is_finite)

    def _kink_compare(self, engine: float, expected: sp.Expr) -> tuple[bool, float | None, float | None, str]:
        """A kink row against the convention's value: ok, errors and a note."""
        text = _digits_text(expected)
        where = "the convention at the kink and SymPy's local derivatives elsewhere"
        if expected is sp.nan:
            return True, None, None, f"not compared: {where} give no real value"
        if expected is sp.zoo or expected in (sp.oo, -sp.oo) or abs(expected) > _FLOAT_MAX:
            ok = math.isinf(engine) and (expected is sp.zoo or (engine > 0) == (expected > 0))
            errors = (0.0, 0.0) if ok else (None, None)
        else:
            abs_error, rel_error, ok = self._compare(engine, expected)
            errors = (abs_error, rel_error)
        if ok:
            return True, *errors, f"the engine agrees with {where} ({text})"
        return False, *errors, f"the engine gives {engine!r}, but {where} give {text}"

    def _compare(self, engine: float, value: sp.Expr, rtol: float | None = None) -> tuple[float, float, bool]:
        """Absolute and relative error of a float against a finite SymPy number, and whether
        ``|engine - value| <= atol + rtol*|value|`` (mpmath at `DIGITS` digits: SymPy's own
        arithmetic is a hundred times slower)."""
        if not math.isfinite(engine):
            return math.inf, math.inf, False
        with mpmath.workdps(DIGITS):
            exact_value = value._to_mpmath(mpmath.mp.prec)
            difference = abs(mpmath.mpf(engine) - exact_value)
            magnitude = abs(exact_value)
            abs_error = float(difference)
            rel_error = float(difference / magnitude) if magnitude else (0.0 if not difference else math.inf)
            rtol = self.rtol if rtol is None else rtol
            return abs_error, rel_error, bool(difference <= self.atol + rtol * magnitude)

    def _forward_mismatch(self, i: int) -> str:
        """The node's forward rule on the engine's own argument values, against the same op at
        high precision: catches a wrong forward rule (which finite differences would follow)."""
        node = self.graph.nodes[i]
        if node.op in (INPUT, CONST):
            return ""
        engine = self.trace.values[i]
        args = [self.trace.values[a] for a in self.args[i]]
        if not all(math.isfinite(a) for a in args):
            return ""  # IEEE arithmetic on inf and nan: nothing for SymPy to say
        value = _at_point(node.op, [sp.Float(a, DIGITS) for a in args])
        if value is sp.nan:
            agree = math.isnan(engine)
        elif value is sp.zoo or value in (sp.oo, -sp.oo) or abs(value) > _FLOAT_MAX:
            agree = math.isinf(engine) and (value is sp.zoo or (engine > 0) == (value > 0))
        else:
            agree = self._compare(engine, value, rtol=max(self.rtol, 4 * _EPS))[2]
        if agree:
            return ""
        return (f"forward value differs: the engine computes {self.graph.statement(node.name)} = {engine!r} "
                f"from its arguments, SymPy {_digits_text(value)}")

    def _evaluate(self, k: int, value: float, base: list[float]) -> tuple[float, int | None]:
        """The output with node k set to ``value`` and every later node recomputed, and the
        first later node whose side of a kink or domain edge (the op table's ``side``) differs
        from the unperturbed pass."""
        vals = list(base)
        vals[k] = value
        for i, rule, a, b in self.steps[bisect_right(self.step_positions, k):]:
            vals[i] = rule(vals[a]) if b < 0 else rule(vals[a], vals[b])
        for i, side, args, varies in self.branches[bisect_right(self.branch_positions, k):]:
            if side(tuple(vals[a] for a in args), varies) != side(tuple(base[a] for a in args), varies):
                return vals[self.out], i
        return vals[self.out], None

    def _finite_difference(self, k: int, value: sp.Expr) -> tuple[float | None, float | None,
                                                                   float | None, str]:
        """Central difference with step h = eps**(1/3)*max(1, |v|) and its error estimate
        (the gap to the 2h difference plus the rounding bound). A step that moves a later
        non-smooth node to another branch (relu's argument across 0, ...) gives no estimate."""
        base = list(self.trace.values)
        v = base[k]
        if not math.isfinite(v):
            return None, None, None, "no finite difference: the value is not finite"
        cost = 4 * (len(self.steps) - bisect_right(self.step_positions, k))
        if self.fd_spent + cost > FD_BUDGET:
            return None, None, None, f"no finite difference: over the budget of {FD_BUDGET:,} evaluations"
        self.fd_spent += cost
        h = _EPS ** (1 / 3) * max(1.0, abs(v))
        estimates, scale = [], abs(base[self.out])
        for step in (h, 2 * h):
            up, down = v + step, v - step
            (f_up, crossed_up), (f_down, crossed_down) = (self._evaluate(k, up, base),
                                                          self._evaluate(k, down, base))
            crossed = crossed_up if crossed_up is not None else crossed_down
            if crossed is not None:
                node = self.graph.nodes[crossed]
                return None, h, None, (f"no finite difference: a step of {h:.3g} moves node {node.name} "
                                       f"({node.op}) across a kink or domain edge")
            scale = max(scale, abs(f_up), abs(f_down))
            estimates.append((f_up - f_down) / (up - down))
        fd, coarse = estimates
        if not (math.isfinite(fd) and math.isfinite(coarse)):
            return None, h, None, "no finite difference: the function is not finite within two steps"
        reference = abs(_to_float(value)) if value.is_Number else 0.0
        tolerance = 4 * abs(fd - coarse) + 8 * _EPS * scale / h + 1e-6 * reference + self.atol
        return fd, h, tolerance, ""


