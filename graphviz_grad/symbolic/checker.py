"""The check, per point: the engine against SymPy's derivatives at high precision, finite
differences and a status per row.

>>> from graphviz_grad import check
>>> check("L = relu(x) * y", x=0, y=2)["x"].status
'kink'
"""

from __future__ import annotations

import math
import time
from typing import Any

import mpmath
import sympy as sp

from ..engine import Trace
from ..errors import GraphvizGradError, InputValueError
from ..formula import parse
from ..graph import CONST, INPUT, Expr, Graph, build
from ..ops import OPS
from .derive import (
    SIMPLIFY_MODES,
    _structure,
    derived,
    evaluate,
)
from .differences import FiniteDifferences
from .numeric import chain_rule, forward_mismatch, kink_compare, signed_pole
from .precise import OutOfTime, _surely_small, compare, forward_agreeing, node_values
from .report import CheckReport, Row, _digits_text, _fmt
from .translate import (
    _FLOAT_MAX,
    DIGITS,
    MAX_BITS,
    _far,
    _far_limit,
    _number,
    _real_or_nan,
    _substitute,
    _to_float,
    _too_large,
    exact,
    exact_binary,
)

RTOL = 1e-7
"""Default relative tolerance of engine vs SymPy."""
ATOL = 1e-10
"""Default absolute tolerance of engine vs SymPy."""
TIMEOUT = 60.0
"""The default time budget of one check, in seconds (``check --timeout``, ``timeout=``)."""

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


def _beyond_float(value: sp.Expr) -> bool:
    """Whether a finite SymPy number is beyond float64's range (a Float compared on its tuple)."""
    if value.is_Float:
        return mpmath.libmp.mpf_cmp(mpmath.libmp.mpf_abs(value._mpf_), _FLOAT_MAX._mpf_) > 0
    if value.is_Rational:
        return abs(int(value.p)) > _FLOAT_MAX_INT * int(value.q)
    return bool(abs(value) > _FLOAT_MAX)


_FLOAT_MAX_INT = int(1.7976931348623157e308)


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
        shape = _structure(graph)
        self.depends, self.live, self.out, self.full = shape.depends, shape.live, shape.out, shape.full
        self.wrts, self.growth = shape.wrts, shape.growth
        self.point = {name: trace.values[k] for name, k in shape.inputs}
        self.differences = FiniteDifferences(trace, atol=atol)

    def reference_values(self) -> list[sp.Expr]:
        """Every node's value at the point with `DIGITS` digits, node by node through the op
        table in mpmath (`precise.node_values`; faithful: SymPy never sees the whole expression,
        so x/x at 0 stays 0/0 = nan)."""
        values = node_values(self.graph, self.trace.values, self.deadline)
        self.ref_floats, self.plain = values.floats, values.plain
        return values.exprs

    def run(self) -> CheckReport:
        try:
            rows = self._rows()
        except OutOfTime:  # the budget ran out in a pass over the whole graph: no row has a value
            rows = [self._not_checked(i) for i in self.wrts]
        return CheckReport(self.graph, self.point, rows, rtol=self.rtol, atol=self.atol, full=self.full,
                           timeout=self.timeout)

    def _rows(self) -> list[Row]:
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
        self._binary: dict[sp.Expr, sp.Expr] | None = None
        self.exprs: dict[str, sp.Expr] = {}
        self.undefined = self._undefined()
        self.infinite = self._undefined(infinite=True)
        self.past_cap = self._past_cap()
        self.forward_agreeing = forward_agreeing(graph, self.trace.values,
                                                 [i for i in self.wrts if graph.nodes[i].op != INPUT],
                                                 rtol=self.rtol, atol=self.atol, deadline=self.deadline)
        wrts = self.wrts
        rows: list[Row] = []
        if derivation is not None:
            self.exprs = derivation.exprs
            # exp(x**x) at x = 100000 or x**x**x**x at 10: substituting the point into a closed
            # form would build a number that never finishes; the node form's values are guarded
            far = self._far_nodes()
            chain_values = (chain_rule(graph, self.ref, self.depends, self.live, deadline=self.deadline)[1]
                            if far else None)
            self.exact_binary = not far and all(map(math.isfinite, self.point.values()))
            derivation.start_simplify(self.simplify, self.deadline)  # runs while the rows are evaluated
            compiled = derivation.compiled() if chain_values is None else None
            compiled_values = dict(zip(derivation.rows, evaluate(compiled, list(self.point.values()))
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
                        value = _real_or_nan(_substitute(form, self.decimal_point))
                shown, kind, note = derivation.shown(i, self.simplify, self.deadline)
                row = self._row(i, shown, kind, value)
                row.in_nodes = derivation.in_nodes(row.expr)
                if note:
                    row.note = f"{row.note}; {note}" if row.note else note
                rows.append(row)
        else:
            expressions, values = chain_rule(self.graph, self.ref, self.depends, self.live,
                                             deadline=self.deadline)
            for i in wrts:
                late = self._late()
                rows.append(self._not_checked(i) if late
                            else self._row(i, expressions[i], "nodes", values[i]))
        return rows

    @property
    def decimal_point(self) -> dict[sp.Expr, sp.Expr]:
        """The inputs' symbols -> their decimal values at `DIGITS` digits (full closed forms only)."""
        return {self.exprs[name]: _number(exact(value)) for name, value in self.point.items()}

    @property
    def binary_point(self) -> dict[sp.Expr, sp.Expr] | None:
        """The inputs' symbols -> the floats' exact binary values (53 bits fit in 30 digits), when
        the closed forms may be evaluated there; made on first use."""
        if self._binary is None and self.exprs and getattr(self, "exact_binary", False):
            self._binary = {self.exprs[name]: sp.Float(exact_binary(value), DIGITS)
                            for name, value in self.point.items()}
        return self._binary

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
        if self.plain and not self.growth:
            return []  # every value an ordinary float and no power that could outgrow the cap
        return [i for i, node in enumerate(self.graph.nodes)
                if self.live[i] and node.op not in (INPUT, CONST)
                and (_far(node.op, self.ref[self.args[i][0]])
                     or self._too_large(i))]

    def _too_large(self, i: int) -> bool:
        """Whether node i's result is past `MAX_BITS` (`translate._too_large`; ordinary floats
        are told apart on the floats first)."""
        op = self.graph.nodes[i].op
        if OPS[op].growth is None:
            return False
        floats = [self.ref_floats[a] for a in self.args[i]]
        if all(map(math.isfinite, floats)) and _surely_small(floats):
            return False
        return _too_large(op, [self.ref[a] for a in self.args[i]])

    def _kinks(self) -> dict[int, str]:
        """For each node whose gradient passes a non-differentiable point, the first such note."""
        notes: dict[int, str] = {}
        values, ref = self.trace.values, self.ref
        for k, node in enumerate(self.graph.nodes):
            if not self.live[k] or node.op in (INPUT, CONST) or (OPS[node.op].kink is None
                                                                 and OPS[node.op].edge is None):
                continue
            op = OPS[node.op]
            floats = tuple(values[a] for a in self.args[k])
            exact_floats = tuple(self.ref_floats[a] for a in self.args[k])
            live_slots = [slot for slot, a in enumerate(self.args[k]) if self.depends[a]]
            is_kink = op.kink is not None and any(op.kink(slot, floats) or op.kink(slot, exact_floats)
                                                  for slot in live_slots)
            if not is_kink and not (op.edge is not None
                                    and any(op.edge(slot, floats) for slot in live_slots)):
                continue
            exact_args = [ref[a] for a in self.args[k]]
            names = [self.graph.nodes[a].name for a in self.args[k]]
            fields = {"op": node.op, "node": node.name, "v": _fmt(floats[0])}
            local: tuple[sp.Expr, ...] | None = None
            if is_kink:
                where = op.kink_place.format(*names, **fields)
                note = f"not differentiable here: {where}; the engine follows PyTorch: {op.convention}"
                if op.kink_partials is not None and any(op.kink(slot, floats) for slot in live_slots):
                    local = op.kink_partials(sp, *exact_args)
            else:  # a domain edge
                note = "not differentiable here: " + op.edge_note.format(*names, **fields)
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

    def _past_cap(self) -> set[int]:
        """The live nodes whose derivative reads a power taken as infinite past `MAX_BITS`
        (never computed): the capped nodes, their consumers and everything upstream of them."""
        if self.plain and not self.growth:
            return set()
        capped = {i for i, node in enumerate(self.graph.nodes)
                  if self.live[i] and node.op not in (INPUT, CONST)
                  and self._too_large(i)}
        if not capped:
            return set()
        marked = [i in capped or any(a in capped for a in self.args[i]) for i in range(self.n)]
        for j in range(self.n - 1, -1, -1):
            if marked[j]:
                for a in self.args[j]:
                    marked[a] = True
        return {i for i in range(self.n) if marked[i] and self.live[i]}

    def _undefined(self, infinite: bool = False) -> dict[int, str]:
        """Rows whose derivative is taken where the function has no real value: the node itself
        or a node downstream of it has none (0/0, log(-1), or a nan from a constant
        subexpression). SymPy may have simplified such a value away (x/x -> 1, d(nan)/dx = 0),
        so its closed form is no reference there. With ``infinite``, the same for nodes whose
        value is infinite (log(0*x): SymPy's 0*x -> 0 hides the pole). The reason names the
        most upstream such node; one sweep from the output back."""
        reasons: dict[int, str] = {}
        if self.plain:
            return reasons  # every node's value is a finite real
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
        fd, step, fd_tol, fd_note = self.differences.estimate(i, value)
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
                ok, abs_error, rel_error, note = kink_compare(engine, self.expected[i],
                                                              rtol=self.rtol, atol=self.atol)
                status = "kink" if ok else "disagree"
                notes.append(note)
        elif value is sp.nan or i in self.undefined:
            status, ok = "undefined", True
            notes.append("no real derivative here: " + self.undefined.get(i, "SymPy's value is not real"))
        elif value is sp.zoo or value is sp.oo or value is sp.S.NegativeInfinity:
            agree = math.isinf(engine) and (value is sp.zoo or (engine > 0) == (value is sp.oo))
            status, ok = ("infinite", True) if agree else ("disagree", False)
            if agree:
                abs_error = rel_error = 0.0
            notes.append(f"SymPy's value is {value}" + ("" if agree else f" but the engine gives {engine!r}"))
            signed = (signed_pole(self.forms[i], self.binary_point, self.point)
                      if value is sp.zoo and i in self.forms and self.binary_point is not None else None)
            if signed is not None:  # shown with its sign; IEEE's signed zeros may give the other one
                value, reference = signed, _to_float(signed)
                notes.append(f"its limit approaching the point along every input at once, from both sides, "
                             f"is {signed}" + ("" if (engine > 0) == (signed is sp.oo) or not agree
                                               else f" (the engine's {engine!r} has the other sign)"))
        elif _beyond_float(value):
            agree = math.isinf(engine) and (engine > 0) == (value > 0)
            status, ok = ("overflow", True) if agree else ("disagree", False)
            if agree:
                abs_error = rel_error = 0.0
            notes.append(f"the exact value {_digits_text(sp.Float(value, 6))} is beyond float64"
                         + ("; the engine overflows to inf, as IEEE arithmetic does" if agree else ""))
        else:
            abs_error, rel_error, ok = compare(engine, value, rtol=self.rtol, atol=self.atol)
            binary = self._at_binary_point(i) if not ok else None
            if binary is not None and compare(engine, binary, rtol=self.rtol, atol=self.atol)[2]:
                ok = True
                abs_error, rel_error, _ = compare(engine, binary, rtol=self.rtol, atol=self.atol)
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
        if ok and status in ("infinite", "overflow") and i in self.past_cap:
            status = "too large"  # not a failure, but not checked either: the exact value was not computed
            # !s: format() of a Float goes through decimal, which refuses exponents past 10**18
            notes.append(f"too large to check: a power on the way needs an exponent of more than 2**"
                         f"{MAX_BITS.bit_length() - 1} bits, so it was taken as {value!s} instead of "
                         "computed")
        forward = ("" if i in self.forward_agreeing
                   else forward_mismatch(self.trace, i, rtol=self.rtol, atol=self.atol))
        if forward:
            ok, status = False, "disagree"
            notes.append(forward)
        if fd_note:
            notes.append(fd_note)
        return Row(node.name, "input" if node.op == INPUT else "node", expr, form, reference, engine, fd,
                   step, fd_tol, abs_error, rel_error, ok, status, "; ".join(notes), self.graph.output,
                   value)

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
            self._expected = chain_rule(self.graph, self.ref, self.depends, self.live, self.conventions)[1]
        return self._expected

    def _finite_by_nodes(self, i: int) -> bool:
        """Whether dL/d(node i), node by node (where SymPy merges nothing), is a finite real:
        a pole or nan in another summand (sin(x) + 1/y at y = 0) leaves dL/dx defined."""
        value = self.expected[i]
        return bool(value.is_Number) and value is not sp.nan and bool(value.is_finite)
