"""Where the gradient flows: the k paths from an input to the output that contribute most.

>>> import graphviz_grad as gg
>>> trace = gg.grad("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> [(path.nodes, path.contribution) for path in top_paths(trace, "W1", 2)]
[(('W1', 'z1', 'z3', 'z4', 'L'), 20.0)]

A path ``w = v0 → v1 → ... → vm = L`` contributes the product of its local derivatives
``∂v1/∂v0 · ∂v2/∂v1 · ... · ∂L/∂v(m-1)`` (times dL/dL = 1). By the chain rule the
contributions of all paths from ``w`` add up to dL/dw, so the paths with the largest
|contribution| are where dL/dw comes from. A node that reads the same argument twice
(``x*x``) has two edges from it, and paths through each edge count separately.

There can be exponentially many paths; `top_paths` never lists them. It keeps, for every
node reachable from ``w``, the k best partial paths from ``w`` (dynamic programming in
topological order: the k best into a node extend the k best into its arguments), which
takes O(edges · k log k) time. A nan contribution ranks first (it is the one to see),
then |contribution| from large to small, ties in graph order. A partial path whose product
is 0 ranks last but becomes nan if an infinite local derivative (sqrt at 0) follows, so
every node also keeps up to k of those.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from .engine import Trace
from .graph import CONST

MOST_PATHS = 100
"""The largest k."""


@dataclass(frozen=True)
class Path:
    """One path: node names from the input to the output, the argument slot taken into each
    node after the first, and the product of the local derivatives along it."""

    nodes: tuple[str, ...]
    slots: tuple[int, ...]
    contribution: float

    @property
    def edges(self) -> tuple[tuple[str, str, int], ...]:
        """``(source, target, slot)`` for every step of the path."""
        return tuple((a, b, s) for a, b, s in zip(self.nodes, self.nodes[1:], self.slots, strict=True))


def _rank(value: float) -> tuple[bool, float]:
    return (True, 0.0) if value != value else (False, abs(value))


def _keep(candidates: list[tuple[tuple[bool, float], float, int, int, int]],
          k: int) -> list[tuple[tuple[bool, float], float, int, int, int]]:
    """The k best candidates, then up to k whose product is 0 (0 · inf further on is nan)."""
    kept = heapq.nlargest(k, candidates, key=lambda candidate: candidate[0])
    zeros = [candidate for candidate in candidates if candidate[1] == 0.0]
    return kept + [candidate for candidate in zeros if candidate not in kept][:k]


def top_paths(trace: Trace, wrt: str, k: int = 3) -> list[Path]:
    """The ``k`` paths from node ``wrt`` to the output with the largest |contribution|,
    largest first (fewer when there are fewer paths)."""
    if not isinstance(trace, Trace):
        raise TypeError(f"top_paths needs a Trace, not {type(trace).__name__}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MOST_PATHS:
        raise ValueError(f"the number of paths must be a whole number from 1 to {MOST_PATHS}, not {k!r}")
    graph = trace.graph
    if wrt not in graph:
        raise KeyError(f"no node named {wrt!r}")
    start = graph.index(wrt)
    if graph.nodes[start].op == CONST:
        raise ValueError(f"{wrt!r} is a constant: no gradient flows to it")
    args = graph.arg_indices
    # best[i]: up to k entries (rank, product, previous node, its entry, slot), best first
    best: dict[int, list[tuple[tuple[bool, float], float, int, int, int]]] = {
        start: [((False, 1.0), 1.0, -1, -1, -1)]}
    for i in range(start + 1, len(graph)):
        reads = [(slot, a) for slot, a in enumerate(args[i]) if a in best]
        if not reads:
            continue
        partials = trace.partials(graph.nodes[i].name)
        candidates = []
        for slot, a in reads:
            for entry, (_, product, _, _, _) in enumerate(best[a]):
                value = product * partials[slot]
                candidates.append((_rank(value), value, a, entry, slot))
        best[i] = _keep(candidates, k)
    end = graph.index(graph.output)
    ends = best.get(end, [])
    paths = []
    for rank in sorted(range(len(ends)), key=lambda entry: ends[entry][0], reverse=True)[:k]:
        nodes, slots, i, entry = [], [], end, rank
        contribution = best[end][rank][1]
        while i >= 0:
            _, _, previous, previous_entry, slot = best[i][entry]
            nodes.append(graph.nodes[i].name)
            if previous >= 0:
                slots.append(slot)
            i, entry = previous, previous_entry
        paths.append(Path(tuple(reversed(nodes)), tuple(reversed(slots)), contribution))
    return paths
