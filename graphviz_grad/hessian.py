"""Second derivatives: the Hessian by forward-over-reverse, Hessian-vector products, eigenvalues.

>>> h = hessian("L = (x*W1 + y*W2 - B)**2", wrt="W1,W2,B", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> h.matrix  # 2·v·vᵀ with v = (x, y, -1)
((50.0, 100.0, -10.0), (100.0, 200.0, -20.0), (-10.0, -20.0, 2.0))
>>> h.eigenvalues
(0.0, 0.0, 252.0)

One column of the Hessian is the tangent of the gradient along one input: a forward sweep gives
every node's tangent ż (`graphviz_grad.forward`), and a reverse sweep carries both the adjoint ḡ
and its tangent, ġ_a += ġ_z·∂z/∂a + ḡ_z·Σ_b ∂²z/∂a∂b·ḃ, with the second local derivatives from the
op table's ``second_partials``. Values, adjoints and local derivatives are computed once, on the
engine's prepared program; then all columns go through the two sweeps together, each node
carrying a list of tangents (one per column), so the interpreter's cost per node is paid once per
block of columns, not once per column (`graphviz_grad.hessian_sweeps`). `hvp` does one sweep
along a vector, without forming H.

Where the point sits on a kink (relu at 0, a max tie, ...), an entry whose input reaches the kink
has status ``kink`` and no number: the second derivative does not exist there.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .eigen import eigenvalues as _eigenvalues
from .eigen import symmetric_eigenvalues
from .engine import Trace, value_status
from .errors import InputValueError
from .forward import as_trace, read_direction
from .graph import INPUT, Graph
from .hessian_sweeps import column, columns_of, prepare

OK, INF, NAN, KINK, UNDEFINED = "ok", "inf", "nan", "kink", "undefined"
MAX_WRT = 400
"""At most this many inputs to differentiate by twice (a 400 by 400 matrix)."""


@dataclass(frozen=True, eq=False)
class Hessian:
    """The Hessian of the output in the inputs ``wrt`` at one point, with a status per entry."""

    trace: Trace = field(repr=False)
    wrt: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]
    """Entry ``[i][j]`` is d²L/d ``wrt[i]`` d ``wrt[j]``; at a kink, the number next to the engine's
    convention."""
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
        return _eigenvalues(self.matrix)

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
    forward-over-reverse: a tangent sweep and a reverse sweep for all columns together (in blocks).

    ``subject`` is formula text, a `Graph`, an `Expr` or a `Trace`; values come as for
    `graphviz_grad.grad`. An entry whose inputs reach a kink has status ``kink``.

    >>> h = hessian("y = relu(a)*b + b**3", a=0, b=2)
    >>> h.statuses, h["b", "b"]
    ((('kink', 'kink'), ('kink', 'ok')), 12.0)
    """
    trace = as_trace(subject, values, named)
    names = _wrt(trace.graph, wrt)
    local = prepare(trace)
    graph = trace.graph
    positions = [graph.index(name) for name in names]
    columns = columns_of(trace, local, positions)
    matrix = tuple(zip(*columns, strict=True)) if columns else ()  # entry [i][j] from column j
    at_kink = _upstream_inputs(graph, local.kinks)
    values = trace.values  # a node outside its op's domain has a nan value
    born = [node.name for i, node in enumerate(graph.nodes)
            if values[i] != values[i] and value_status(graph, values, i) == "domain"]
    outside = _upstream_inputs(graph, born)
    # per input: the status of every entry in its row and column, unless the number's own
    marks = [KINK if name in at_kink else UNDEFINED if name in outside else None for name in names]

    def statuses_of(mark: str | None, row: tuple[float, ...]) -> tuple[str, ...]:
        if mark == KINK:
            return (KINK,) * len(row)
        if not any(marks) and all(map(math.isfinite, row)):
            return (OK,) * len(row)  # the usual case, without a look at every entry
        return tuple(KINK if other == KINK else UNDEFINED if mark or other else _status(number)
                     for other, number in zip(marks, row, strict=True))

    statuses = tuple(map(statuses_of, marks, matrix))
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
    found = column(trace, prepare(trace), read_direction(trace.graph, vector, "vector"))
    return {name: found[trace.graph.index(name)] for name in names}


__all__ = ["Hessian", "hessian", "hvp", "symmetric_eigenvalues"]
