"""Second derivatives: the Hessian by forward-over-reverse, Hessian-vector products, eigenvalues.

>>> h = hessian("L = (x*W1 + y*W2 - B)**2", wrt="W1,W2,B", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> h.matrix  # 2·v·vᵀ with v = (x, y, -1)
((50.0, 100.0, -10.0), (100.0, 200.0, -20.0), (-10.0, -20.0, 2.0))
>>> h.eigenvalues
(0.0, 0.0, 252.0)

One column of the Hessian is the tangent of the gradient along one input: a forward sweep gives
every node's tangent ż (`graphviz_grad.forward`), and a reverse sweep carries both the adjoint ḡ
and its tangent, ġ_a += ġ_z·∂z/∂a + ḡ_z·Σ_b ∂²z/∂a∂b·ḃ, with the second local derivatives from the
op table's ``second_partials``. Values, adjoints and local derivatives are computed once, so n
columns cost about 2·n sweeps. `hvp` does one such sweep along a vector, without forming H.

Where the point sits on a kink (relu at 0, a max tie, ...), an entry whose input reaches the kink
has status ``kink`` and no number: the second derivative does not exist there.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .engine import Trace
from .errors import GraphError, InputValueError
from .forward import as_trace, read_direction
from .graph import CONST, INPUT, Graph
from .ops import OPS

OK, INF, NAN, KINK, UNDEFINED = "ok", "inf", "nan", "kink", "undefined"
MAX_WRT = 400
"""At most this many inputs to differentiate by twice (a 400 by 400 matrix)."""
JACOBI_UP_TO = 40
"""Eigenvalues of matrices up to this size come from the plain-Python Jacobi routine (exact where it
can be: 0, 0, 252 for the seed); larger ones from numpy's ``eigvalsh`` when numpy is installed."""


@dataclass(frozen=True)
class _Locals:
    """Everything a column needs that does not depend on the direction, by node position."""

    order: tuple[tuple[int, tuple[int, ...]], ...]  # live operation nodes from the output back, live args
    consumers: tuple[tuple[int, ...], ...]  # the live operation nodes that read each node
    partials: list[tuple[float, ...]]
    seconds: list[tuple[tuple[float, ...], ...]]
    slots: list[tuple[tuple[int, int], ...]]  # (slot, arg) of the live args of each live node
    kinks: tuple[str, ...]  # the live nodes at a kink


def _locals(trace: Trace) -> _Locals:
    graph, vals = trace.graph, trace.values
    args = graph.arg_indices
    n = len(graph)
    reaches = [False] * n
    reaches[graph.index(graph.output)] = True
    depends = [False] * n
    for i in range(n - 1, -1, -1):
        if reaches[i]:
            for a in args[i]:
                reaches[a] = True
    for i, node in enumerate(graph.nodes):
        depends[i] = node.op == INPUT or any(depends[a] for a in args[i])
    order, kinks = [], []
    partials: list[tuple[float, ...]] = [()] * n
    seconds: list[tuple[tuple[float, ...], ...]] = [()] * n
    slots: list[tuple[tuple[int, int], ...]] = [()] * n
    consumers: list[list[int]] = [[] for _ in range(n)]
    for i in range(n - 1, -1, -1):
        node = graph.nodes[i]
        if node.op in (INPUT, CONST) or not (reaches[i] and depends[i]):
            continue
        op = OPS[node.op]
        if op.second_partials is None:
            raise GraphError(f"no second derivatives for {node.op!r} (node {node.name!r}): "
                             "its op table row has no second_partials")
        here = tuple(vals[a] for a in args[i])
        slots[i] = tuple((slot, a) for slot, a in enumerate(args[i]) if depends[a])
        order.append((i, args[i]))
        for _, a in slots[i]:
            consumers[a].append(i)
        partials[i] = op.partials(*here, vals[i])
        seconds[i] = op.second_partials(*here, vals[i])
        tests = [test for test in (op.kink, op.second_kink) if test is not None]
        if any(test(slot, here) for test in tests for slot, _ in slots[i]):
            kinks.append(node.name)
    return _Locals(tuple(order), tuple(map(tuple, consumers)), partials, seconds, slots, tuple(kinks))


def _column(trace: Trace, local: _Locals, direction: Mapping[str, float]) -> list[float]:
    """The tangent of every node's adjoint along ``direction`` (the nonzero components suffice):
    (H·direction) at the inputs. Only the nodes downstream of a moved input get a tangent, and
    only those and the nodes they read get an adjoint tangent."""
    graph, grads = trace.graph, trace.grads
    n = len(graph)
    dots = [0.0] * n
    moved = [False] * n
    seeds = []
    for name, number in direction.items():
        if number != 0:
            position = graph.index(name)
            dots[position], moved[position] = number, True
            seeds.append(position)
    downstream, stack = set(), list(seeds)
    while stack:  # the live nodes that read a moved input, directly or not
        for consumer in local.consumers[stack.pop()]:
            if consumer not in downstream:
                downstream.add(consumer)
                stack.append(consumer)
    partials, seconds, slots = local.partials, local.seconds, local.slots
    for i in sorted(downstream):  # tangents, in evaluation order
        parts = partials[i]
        dots[i] = sum(parts[slot] * dots[a] for slot, a in slots[i] if moved[a])
        moved[i] = True
    adjoint_dots = [0.0] * n
    touched = [False] * n  # the adjoint's tangent is not structurally 0
    for i, _ in local.order:
        own, carried = moved[i], touched[i]
        if not (own or carried):
            continue
        g, g_dot, parts, second = grads[i], adjoint_dots[i], partials[i], seconds[i]
        for slot, a in slots[i]:
            term = g_dot * parts[slot] if carried else 0.0
            if own:
                row = second[slot]
                term += g * sum(row[other] * dots[b] for other, b in slots[i] if moved[b])
            adjoint_dots[a] += term
            touched[a] = True
    return adjoint_dots


@dataclass(frozen=True, eq=False)
class Hessian:
    """The Hessian of the output in the inputs ``wrt`` at one point, with a status per entry."""

    trace: Trace = field(repr=False)
    wrt: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]
    """Entry [i][j] is d²L/d wrt[i] d wrt[j]; at a kink, the number next to the engine's convention."""
    statuses: tuple[tuple[str, ...], ...]
    """``ok``, ``inf``, ``nan``, ``kink`` (an input of the pair reaches a kink) or ``undefined`` (it
    reaches a node outside its op's domain, ``log(-1)``) per entry."""
    kinks: tuple[str, ...] = ()
    """The nodes at a kink at this point (that depend on an input and reach the output)."""

    @property
    def graph(self) -> Graph:
        return self.trace.graph

    @property
    def output(self) -> str:
        return self.trace.output

    @property
    def value(self) -> float:
        return self.trace.output_value

    @property
    def gradient(self) -> dict[str, float]:
        """dL/dname for the names in ``wrt``."""
        gradients = self.trace.gradients
        return {name: gradients[name] for name in self.wrt}

    @property
    def point(self) -> dict[str, float]:
        return {name: self.trace.value(name) for name in self.graph.inputs}

    def __getitem__(self, key: tuple[str | int, str | int] | int) -> Any:
        """``h["W1", "B"]`` or ``h[0, 2]``: one entry, by the names or positions of its two inputs;
        ``h[0]``: one row."""
        if isinstance(key, int):
            return self.matrix[key]
        first, second = (self.wrt.index(k) if isinstance(k, str) else k for k in key)
        return self.matrix[first][second]

    def __len__(self) -> int:
        return len(self.wrt)

    def __iter__(self) -> Iterator[tuple[float, ...]]:
        """The rows, so that ``numpy.array(h)`` and ``list(h)`` give the matrix."""
        return iter(self.matrix)

    def tolist(self) -> list[list[float]]:
        return [list(row) for row in self.matrix]

    @property
    def ok(self) -> bool:
        """Every entry is an ordinary number (no kink, inf or nan)."""
        return all(status == OK for row in self.statuses for status in row)

    @cached_property
    def eigenvalues(self) -> tuple[float, ...] | None:
        """The eigenvalues, ascending; ``None`` unless every entry is an ordinary number. Values
        within rounding of 0 (``|λ| <= n·2⁻⁵²·max|λ|·8``) are written as 0."""
        if not self.ok:
            return None
        if len(self.wrt) > JACOBI_UP_TO:
            try:
                import numpy
            except ImportError:
                pass
            else:
                return _rounded(tuple(map(float, numpy.linalg.eigvalsh(numpy.array(self.matrix)))))
        return symmetric_eigenvalues(self.matrix)

    @property
    def max_eigenvalue(self) -> float | None:
        values = self.eigenvalues
        return values[-1] if values else None

    def to_dict(self) -> dict[str, Any]:
        """``output, value, wrt, gradient, hessian, eigenvalues`` as JSON-ready data; an entry at a kink
        is the string ``"kink"`` (``"undefined"`` outside a domain), non-finite numbers are ``"nan"``,
        ``"inf"``, ``"-inf"``; ``eigenvalues`` is null unless every entry is an ordinary number."""
        from .serialize import json_number

        def entry(number: float, status: str) -> float | str | None:
            return status if status in (KINK, UNDEFINED) else json_number(number)

        eigenvalues = self.eigenvalues
        return {
            "output": self.output,
            "value": json_number(self.value),
            "wrt": list(self.wrt),
            "gradient": {name: json_number(number) for name, number in self.gradient.items()},
            "hessian": [[entry(number, status) for number, status in zip(row, statuses, strict=True)]
                        for row, statuses in zip(self.matrix, self.statuses, strict=True)],
            "eigenvalues": None if eigenvalues is None else [json_number(v) for v in eigenvalues],
        }

    def check(self, **options: Any) -> Any:
        """Compare every entry with SymPy's second derivative (`graphviz_grad.symbolic.hessian`)."""
        from .symbolic.hessian import check_hessian

        return check_hessian(self, **options)

    def __repr__(self) -> str:
        return f"<Hessian of {self.output} in {', '.join(self.wrt)}: {self.matrix!r}>"


def _wrt(graph: Graph, wrt: Sequence[str] | str | None) -> tuple[str, ...]:
    if wrt is None:
        names = tuple(graph.inputs)
    elif isinstance(wrt, str):
        names = tuple(part.strip() for part in wrt.split(",") if part.strip())
    elif isinstance(wrt, Sequence) and all(isinstance(name, str) for name in wrt):
        names = tuple(wrt)
    else:
        raise TypeError(f"wrt must be input names (a list or 'a,b'), not {type(wrt).__name__}")
    for name in names:
        if name not in graph.input_set:
            listed = ", ".join(graph.inputs) or "none"
            raise InputValueError(f"wrt names {name!r}, which is not an input (inputs: {listed})")
    if len(set(names)) != len(names):
        raise InputValueError("wrt names an input twice")
    if len(names) > MAX_WRT:
        raise InputValueError(f"a Hessian in {len(names):,} inputs is over the limit of {MAX_WRT}")
    return names


def _status(number: float) -> str:
    return OK if math.isfinite(number) else NAN if number != number else INF


def _upstream_inputs(graph: Graph, names: Sequence[str]) -> set[str]:
    """The inputs that the named nodes are computed from."""
    seen, stack, found = set(), [graph.index(name) for name in names], set()
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        node = graph.nodes[i]
        if node.op == INPUT:
            found.add(node.name)
        stack.extend(graph.arg_indices[i])
    return found


def hessian(subject: Any, values: Any = None, /, wrt: Sequence[str] | str | None = None,
            **named: Any) -> Hessian:
    """The Hessian of the output in the inputs ``wrt`` (default: all, in input order), by
    forward-over-reverse: one tangent sweep and one reverse sweep per input.

    ``subject`` is formula text, a `Graph`, an `Expr` or a `Trace`; values come as for
    `graphviz_grad.grad`. An entry whose inputs reach a kink has status ``kink``.

    >>> h = hessian("y = relu(a)*b + b**3", a=0, b=2)
    >>> h.statuses, h["b", "b"]
    ((('kink', 'kink'), ('kink', 'ok')), 12.0)
    """
    trace = as_trace(subject, values, named)
    names = _wrt(trace.graph, wrt)
    local = _locals(trace)
    graph = trace.graph
    positions = [graph.index(name) for name in names]
    columns = [_column(trace, local, {wanted: 1.0}) for wanted in names]
    matrix = tuple(tuple(columns[j][positions[i]] for j in range(len(names))) for i in range(len(names)))
    at_kink = _upstream_inputs(graph, local.kinks)
    outside = _upstream_inputs(graph, [node.name for node in graph.nodes
                                       if trace.status(node.name) == "domain"])

    def status(i: int, j: int) -> str:
        if names[i] in at_kink or names[j] in at_kink:
            return KINK
        if names[i] in outside or names[j] in outside:
            return UNDEFINED
        return _status(matrix[i][j])

    statuses = tuple(tuple(status(i, j) for j in range(len(names))) for i in range(len(names)))
    return Hessian(trace, names, matrix, statuses, local.kinks)


def hvp(subject: Any, values: Any = None, /, *, vector: Any, wrt: Sequence[str] | str | None = None,
        **named: Any) -> dict[str, float]:
    """The Hessian-vector product H·v in one forward-over-reverse sweep, without forming H.

    ``vector`` is a mapping input → number (missing inputs 0) or one input's name; the result maps
    each input of ``wrt`` (default: all) to its row of H·v.

    >>> hvp("L = (x*W1 + y*W2 - B)**2", vector={"W1": 1}, x=5, y=10, W1=0.1, W2=0.2, B=0.5)
    {'x': 5.0, 'W1': 50.0, 'y': 2.0, 'W2': 100.0, 'B': -10.0}
    """
    trace = as_trace(subject, values, named)
    names = _wrt(trace.graph, wrt)
    column = _column(trace, _locals(trace), read_direction(trace.graph, vector, "vector"))
    return {name: column[trace.graph.index(name)] for name in names}


# --- eigenvalues of a small symmetric matrix ------------------------------------------------


def symmetric_eigenvalues(matrix: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """The eigenvalues of a real symmetric matrix, ascending, by cyclic Jacobi rotations (plain
    Python: the package needs no numpy); numpy's ``eigvalsh`` agrees to rounding (the tests check).

    >>> symmetric_eigenvalues([[2.0, 1.0], [1.0, 2.0]])
    (1.0, 3.0)
    """
    a = [list(map(float, row)) for row in matrix]
    n = len(a)
    if any(len(row) != n for row in a):
        raise ValueError("the matrix must be square")
    for _ in range(100):  # sweeps; converges quadratically, a dozen is plenty
        off = sum(a[i][j] * a[i][j] for i in range(n) for j in range(i + 1, n))
        scale = sum(a[i][i] * a[i][i] for i in range(n)) + off
        if off <= 1e-32 * scale or off == 0:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                if a[p][q] == 0:
                    continue
                theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q])
                t = math.copysign(1.0, theta) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                apq = a[p][q]
                for r in range(n):  # rows and columns p and q turn; the rest stays
                    if r != p and r != q:
                        arp, arq = a[r][p], a[r][q]
                        a[r][p] = a[p][r] = c * arp - s * arq
                        a[r][q] = a[q][r] = s * arp + c * arq
                a[p][p] -= t * apq  # the diagonal from the rotation angle: exact where it can be
                a[q][q] += t * apq
                a[p][q] = a[q][p] = 0.0
    return _rounded(tuple(sorted(a[i][i] for i in range(n))))


def _rounded(values: tuple[float, ...]) -> tuple[float, ...]:
    """Eigenvalues within rounding of 0 written as 0 (ascending order is kept)."""
    n = len(values)
    largest = max((abs(v) for v in values), default=0.0)
    noise = 8 * n * 2.0**-52 * largest
    return tuple(0.0 if abs(v) <= noise else v for v in values)
