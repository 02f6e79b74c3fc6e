"""What a collapsed group says about the nodes inside it, computed from a `Trace`.

>>> import graphviz_grad as gg
>>> from graphviz_grad.groups import group_tree
>>> trace = gg.grad("h.a = x*w; h.b = relu(h.a); L = (h.b - y)**2", x=2, w=0, y=1)
>>> tree = group_tree(trace.graph)
>>> s = summarize(trace, tree)[tree.find("h")]
>>> s.nodes, s.inputs, s.outputs, (s.low, s.high), s.kinks, s.passes
(2, ('w', 'x'), ('h.b',), (0.0, 0.0), 1, 0.0)

Per group: how many nodes; its **inputs** (nodes outside it that nodes inside read) and
**outputs** (nodes inside that a node outside reads, or the graph's output); the range
of its finite values; the largest |dL/dnode| inside and where; how many values are inf,
nan, and how many nodes took a derivative at a kink (relu at 0, a max tie, ...); and the
gradient crossing its border: ``receives`` adds the contributions dL/dreader · ∂reader/∂out
that its outputs get from readers outside (plus dL/dL = 1 when it holds the output),
``passes`` the contributions it hands to its inputs. Constants are no one's inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .engine import Trace, _program
from .graph import CONST
from .groups import GroupTree
from .ops import OPS


@dataclass(frozen=True)
class Summary:
    """One group's numbers (see the module doc). Names are sorted; ``low``, ``high`` and
    ``largest_grad`` are ``None`` when there is no finite number to show."""

    nodes: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    low: float | None
    high: float | None
    largest_grad: float | None
    largest_at: str | None
    inf: int
    nan: int
    kinks: int
    receives: float
    passes: float


def kinked(trace: Trace, position: int) -> bool:
    """Whether node ``position`` took a derivative at a kink of its op."""
    node = trace.graph.nodes[position]
    op = OPS.get(node.op)
    if op is None or op.kink is None:
        return False
    args = tuple(trace.values[a] for a in trace.graph.arg_indices[position])
    return any(op.kink(slot, args) for slot in range(len(args)))


def summarize(trace: Trace, tree: GroupTree) -> list[Summary]:
    """A `Summary` for every group of ``tree`` (a tree of ``trace.graph``), by group index."""
    graph, groups = trace.graph, tree.groups
    if tree.graph is not graph and tree.graph != graph:
        raise ValueError("the group tree is not of this trace's graph")
    count = len(groups)
    low, high = [math.inf] * count, [-math.inf] * count
    largest: list[tuple[float, int]] = [(-1.0, -1)] * count
    infs, nans, kinks = [0] * count, [0] * count, [0] * count
    inputs: list[set[int]] = [set() for _ in range(count)]
    outputs: list[set[int]] = [set() for _ in range(count)]
    receives, passes = [0.0] * count, [0.0] * count
    values, grads, args = trace.values, trace.grads, graph.arg_indices
    own = [[] for _ in range(count)]  # per group, its direct nodes
    for position, owner in enumerate(tree.of_node):
        if owner >= 0:
            own[owner].append(position)
    for index in range(count):
        for position in own[index]:
            value, grad = values[position], grads[position]
            if math.isfinite(value):
                low[index], high[index] = min(low[index], value), max(high[index], value)
            elif value != value:
                nans[index] += 1
            else:
                infs[index] += 1
            if math.isfinite(grad) and abs(grad) > largest[index][0]:
                largest[index] = (abs(grad), position)
            kinks[index] += kinked(trace, position)
    sets = {index: frozenset(tree.chain(index)) for index in range(count)}
    output, live = graph.index(graph.output), _program(graph).live
    for target in range(len(graph)):
        inner_target = tree.of_node[target]
        partials: tuple[float, ...] | None = None
        for slot, source in enumerate(args[target]):
            inner_source = tree.of_node[source]
            if inner_source == inner_target or graph.nodes[source].op == CONST:
                continue
            if partials is None:
                partials = trace.partials(graph.nodes[target].name)
            # as the engine adds it: 0 · inf is nan; an edge off the way to the output adds nothing
            contribution = grads[target] * partials[slot] if live[target] and live[source] else 0.0
            around_source, around_target = sets[inner_source], sets[inner_target]
            for group in tree.chain(inner_target):
                if group not in around_source:
                    inputs[group].add(source)
                    passes[group] += contribution
            for group in tree.chain(inner_source):
                if group not in around_target:
                    outputs[group].add(source)
                    receives[group] += contribution
    for group in tree.chain(tree.of_node[output]):
        outputs[group].add(output)
        receives[group] += 1.0
    for index in sorted(range(count), key=lambda i: -groups[i].depth):  # children before parents
        parent = groups[index].parent
        if parent >= 0:
            low[parent], high[parent] = min(low[parent], low[index]), max(high[parent], high[index])
            largest[parent] = max(largest[parent], largest[index], key=lambda pair: pair[0])
            infs[parent] += infs[index]
            nans[parent] += nans[index]
            kinks[parent] += kinks[index]
    names = [node.name for node in graph.nodes]
    return [Summary(groups[i].size, tuple(sorted(names[n] for n in inputs[i])),
                    tuple(sorted(names[n] for n in outputs[i])),
                    low[i] if low[i] <= high[i] else None, high[i] if low[i] <= high[i] else None,
                    grads[largest[i][1]] if largest[i][1] >= 0 else None,
                    names[largest[i][1]] if largest[i][1] >= 0 else None,
                    infs[i], nans[i], kinks[i], receives[i], passes[i]) for i in range(count)]
