"""Traces as plain JSON-ready data, following the contract in docs/cli/index.md (the JSON of grad).

>>> from graphviz_grad import grad
>>> data = trace_to_dict(grad("y = 1/x", x=0))
>>> data["output"], data["value"], data["gradients"]
('y', 'inf', {'x': '-inf'})
>>> data["nodes"][2]
{'name': 'y', 'op': 'div', 'inputs': ['1', 'x'], 'value': 'inf', 'grad': 1.0, 'status': 'inf'}
"""

from __future__ import annotations

import math
from typing import Any

from .engine import Edge, Trace


def json_number(value: float | None) -> float | str | None:
    """A float for JSON: finite numbers as they are, others as ``"nan"``, ``"inf"``, ``"-inf"``.

    >>> json_number(2.5), json_number(float("-inf")), json_number(None)
    (2.5, '-inf', None)
    """
    if value is None or math.isfinite(value):
        return value
    return "nan" if value != value else ("inf" if value > 0 else "-inf")


def _edge(edge: Edge) -> dict[str, Any]:
    return {"source": edge.source, "target": edge.target, "slot": edge.slot,
            "local": json_number(edge.local), "contribution": json_number(edge.contribution)}


def trace_to_dict(trace: Trace) -> dict[str, Any]:
    """``output``, ``value``, ``gradients`` and ``nodes`` as the contract says, plus
    ``edges`` (local derivatives and contributions) and ``steps`` (the backward pass; each
    step lists the positions in ``edges`` of what it received and sent)."""
    graph = trace.graph
    nodes = [{"name": node.name, "op": node.op, "inputs": list(node.inputs),
              "value": json_number(value), "grad": json_number(grad), "status": trace.status(node.name)}
             for node, value, grad in zip(graph.nodes, trace.values, trace.grads, strict=True)]
    edges = trace.edges
    position = {(edge.target, edge.slot): k for k, edge in enumerate(edges)}
    steps = [{"node": step.node, "grad": json_number(step.grad),
              "received": [position[edge.target, edge.slot] for edge in step.received],
              "sent": [position[edge.target, edge.slot] for edge in step.sent]} for step in trace.steps]
    return {
        "output": graph.output,
        "value": json_number(trace.output_value),
        "gradients": {name: json_number(value) for name, value in trace.gradients.items()},
        "nodes": nodes,
        "edges": [_edge(edge) for edge in edges],
        "steps": steps,
    }
