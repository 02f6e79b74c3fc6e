"""Read back what ``grad --json`` writes: a `Trace` (or a `Graph`) from the JSON contract.

>>> import json
>>> from graphviz_grad import grad
>>> from graphviz_grad.serialize import trace_to_dict
>>> original = grad("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=0.5)
>>> loaded = load(json.dumps(trace_to_dict(original)))
>>> loaded == original, loaded.gradients["W1"]
(True, 20.0)

The JSON object has ``output`` (a node name) and ``nodes``: a list, in topological order,
of ``{name, op, inputs, value, grad}`` (``status``, ``edges``, ``steps``, ``value`` and
``gradients`` may be there and are derived, so they are not read). Non-finite numbers are
the strings ``"nan"``, ``"inf"``, ``"-inf"``. When every node has a value and a gradient the
result is a `Trace` holding exactly those numbers (so `check` checks the file's gradients,
whoever computed them); when no node has them it is a `Graph` (a constant then takes its
value from ``value`` or its name).

Untrusted input is bounded: at most `MAX_BYTES` of text and `MAX_NODES` nodes, names as
for any graph, and nesting that Python's JSON reader cannot follow is an error, never a
crash. Every problem is one `LoadError` line naming it.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from .engine import Trace
from .errors import GraphError, GraphvizGradError
from .graph import CONST, Graph, Node

MAX_BYTES = 64_000_000
"""Largest JSON text read."""
MAX_NODES = 1_000_000
"""Most nodes in a loaded graph."""
_NUMBERS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class LoadError(GraphvizGradError, ValueError):
    """JSON that is not a trace or graph in the ``grad --json`` contract."""


class LoadTypeError(LoadError, TypeError):
    """Neither JSON text nor a file path given to `load` (a TypeError)."""


def load(source: str | bytes | os.PathLike[str]) -> Trace | Graph:
    """A `Trace` or `Graph` from JSON text (it starts with ``{`` or ``[``) or from a file path."""
    if isinstance(source, bytes):
        text = _decode(source, "the JSON")
    elif isinstance(source, os.PathLike) or (isinstance(source, str) and source.lstrip()[:1] not in "{["):
        text = _read(os.fspath(source))
    elif isinstance(source, str):
        text = source
    else:
        raise LoadTypeError(f"load takes JSON text or a file path, not {type(source).__name__}")
    if len(text) > MAX_BYTES:
        raise LoadError(f"the JSON has {len(text):,} characters, over the limit of {MAX_BYTES:,}")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise LoadError("the JSON nests too deeply to be a trace") from None
    except json.JSONDecodeError as error:
        raise LoadError(f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
    except ValueError as error:  # an integer of more digits than Python converts
        raise LoadError(f"not valid JSON: {str(error).splitlines()[0]}") from None
    return from_dict(data)


def _read(path: str) -> str:
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_BYTES + 1)
    except OSError as error:
        raise LoadError(f"cannot read JSON file {path!r}: {error.strerror or error}") from None
    if len(data) > MAX_BYTES:
        raise LoadError(f"JSON file {path!r} is over the limit of {MAX_BYTES:,} bytes")
    return _decode(data, f"JSON file {path!r}")


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LoadError(f"{source} is not UTF-8 text") from None


def _no_constant(name: str) -> Any:
    raise LoadError(f"{name} is not JSON: write non-finite numbers as the strings \"nan\", \"inf\", \"-inf\"")


def from_dict(data: Any) -> Trace | Graph:
    """A `Trace` or `Graph` from the already-decoded JSON object."""
    if not isinstance(data, dict):
        raise LoadError(f"the JSON must be an object with 'output' and 'nodes', not {type(data).__name__}")
    output, items = data.get("output"), data.get("nodes")
    if not isinstance(output, str):
        raise LoadError("the JSON needs 'output', the name of the output node")
    if not isinstance(items, list) or not items:
        raise LoadError("the JSON needs 'nodes', a non-empty list of nodes")
    if len(items) > MAX_NODES:
        raise LoadError(f"the JSON has {len(items):,} nodes, over the limit of {MAX_NODES:,}")
    nodes, values, grads = [], [], []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise LoadError(f"node {position} is not an object")
        name, op, inputs = item.get("name"), item.get("op"), item.get("inputs", [])
        label = f"node {name!r}" if isinstance(name, str) else f"node {position}"
        if not isinstance(name, str) or not isinstance(op, str):
            raise LoadError(f"{label} needs a 'name' and an 'op' (strings)")
        if not isinstance(inputs, list) or not all(isinstance(arg, str) for arg in inputs):
            raise LoadError(f"{label}: 'inputs' must be a list of node names")
        value = _number(item.get("value"), label, "value")
        values.append(value)
        grads.append(_number(item.get("grad"), label, "grad"))
        constant = None
        if op == CONST:
            constant = value if value is not None else _number_from_name(name, label)
        nodes.append(Node(name, op, tuple(inputs), constant))
    try:
        graph = Graph(nodes, output)
    except GraphError as error:
        raise LoadError(f"not a valid graph: {error}") from None
    given = sum(v is not None and g is not None for v, g in zip(values, grads, strict=True))
    if given == 0 and all(v is None for v in values) and all(g is None for g in grads):
        return graph
    if given != len(nodes):
        missing = next(n for n, v, g in zip(nodes, values, grads, strict=True) if v is None or g is None)
        raise LoadError(f"node {missing.name!r} has no value or no grad, while others have: "
                        "a trace needs both on every node, a graph on none")
    return Trace(graph, tuple(values), tuple(grads))  # type: ignore[arg-type]


def _number(value: Any, label: str, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, str) and value in _NUMBERS:
        return _NUMBERS[value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LoadError(f"{label}: '{field}' must be a number or \"nan\", \"inf\", \"-inf\", not {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise LoadError(f"{label}: '{field}' {value} is too large for float64") from None


def _number_from_name(name: str, label: str) -> float:
    try:
        return float(name)
    except ValueError:
        raise LoadError(f"{label}: a constant needs a 'value'") from None
