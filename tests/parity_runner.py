"""Run builder programs and formula texts with whichever ``graphviz_grad`` is importable and
print what a user can read of each result, as one JSON line per program (stdin: one JSON
program per line). `tests/test_old_engine_parity.py` runs it on the package before the
column graph (a subprocess) and on this one, and compares the lines.

A program is ``{"text": formula}`` or ``{"steps": [...], "root": k, "also": [...],
"inputs": [...]}``, whose steps are ``["input", name]``, ``["const", number]``,
``["op", op, arg, ...]`` (an arg is an earlier step's position or ``{"num": number}``),
``["named", position, name]``, ``["push", group]`` and ``["pop"]``.
"""

from __future__ import annotations

import json
import math
import pickle
import sys
from typing import Any

import graphviz_grad as gg


def _number(value: float) -> float | str:
    return value if math.isfinite(value) else repr(value)


def _built(program: dict[str, Any]) -> gg.Graph:
    exprs: list[gg.Expr] = []
    groups: list[Any] = []
    try:
        for step in program["steps"]:
            kind = step[0]
            if kind == "input":
                exprs.append(gg.inputs([step[1]])[0])
            elif kind == "const":
                exprs.append(gg.const(step[1]))
            elif kind == "op":
                exprs.append(gg.apply(step[1], *(exprs[a] if isinstance(a, int) else a["num"] for a in step[2:])))
            elif kind == "named":
                exprs[step[1]].named(step[2])
            elif kind == "push":
                groups.append(gg.group(step[1]))
                groups[-1].__enter__()
            elif groups:
                groups.pop().__exit__(None, None, None)
    finally:
        while groups:
            groups.pop().__exit__(None, None, None)
    options: dict[str, Any] = {}
    if program.get("also"):
        options["also"] = [exprs[k] for k in program["also"]]
    if program.get("inputs") is not None:
        options["inputs"] = program["inputs"]
    return gg.build(exprs[program["root"]], **options)


def run(program: dict[str, Any]) -> dict[str, Any]:
    """Everything public about the program's graph and its trace at a fixed point, or its error."""
    try:
        graph = gg.parse(program["text"]) if "text" in program else _built(program)
    except gg.GraphvizGradError as error:
        return {"error": type(error).__name__, "message": str(error)}
    seen: dict[str, Any] = {
        "nodes": [list(node) for node in graph.nodes], "inputs": list(graph.inputs), "output": graph.output,
        "text": str(graph), "args": [list(args) for args in graph.arg_indices], "size": len(graph),
        "pickled": pickle.loads(pickle.dumps(graph)) == graph,
        "rebuilt": gg.Graph(graph.nodes, graph.output) == graph,
    }
    trace = gg.backward(graph, [0.3 + 0.1 * k for k in range(len(graph.inputs))])
    seen["values"] = list(map(_number, trace.values))
    seen["grads"] = list(map(_number, trace.grads))
    seen["gradients"] = {name: _number(grad) for name, grad in trace.gradients.items()}
    seen["status"] = [trace.status(node.name) for node in graph.nodes]
    seen["steps"] = [[step.index, step.node, _number(step.grad), [[edge.source, edge.slot] for edge in step.received],
                      [[edge.target, edge.slot] for edge in step.sent]] for step in trace.steps]
    seen["edges"] = [[edge.source, edge.target, edge.slot, None if edge.local is None else _number(edge.local),
                      None if edge.contribution is None else _number(edge.contribution)] for edge in trace.edges]
    return seen


if __name__ == "__main__":
    for line in sys.stdin:
        print(json.dumps(run(json.loads(line))))
