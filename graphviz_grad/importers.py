"""Graphs from elsewhere: a micrograd `Value` graph, or a plain Python function run on our
inputs. The gradients are always ours (the engine's), so they can be compared with the
source's own.

>>> import math
>>> def f(x, y):
...     return math.exp(x) * y + max(x, y)
>>> trace(f, x=0.0, y=2.0).gradients
{'x': 2.0, 'y': 2.0}

micrograd is an optional extra (``pip install graphviz-grad[micrograd]``); nothing here
imports it: `from_micrograd` reads any object with micrograd's ``data``, ``_prev`` and
``_op`` attributes.
"""

from __future__ import annotations

import builtins
import gc
import math
import operator
import re
import types
from collections.abc import Callable
from typing import Any

from . import graph as builder
from .engine import Trace, backward
from .errors import GraphError, GraphTypeError
from .graph import CONST, INPUT, MAX_NAME_LENGTH, Graph, Node, constant_name

MAX_IMPORT_NODES = 5_000_000
"""Most nodes an imported graph may have."""

_MICROGRAD_OPS = {"+": "add", "*": "mul", "ReLU": "relu", "tanh": "tanh", "exp": "exp", "log": "log"}
_POWER = re.compile(r"\*\*(-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)")


def from_micrograd(root: Any) -> Trace:
    """The `Trace` of a micrograd ``Value`` graph, at its stored data, with our gradients.

    Leaves become inputs named by their ``label`` where it is set (``v1, v2, ...``
    otherwise, in the order a walk from the root meets them); operations ``+ * **k ReLU``
    (and ``tanh``, ``exp`` of the lecture version) become our ops; other nodes are
    named ``z1, z2, ...`` unless labelled, and the root is the output.

    >>> from micrograd.engine import Value
    >>> a, b = Value(2.0), Value(3.0)
    >>> a.label = "a"
    >>> from_micrograd((a * b + a).relu()).gradients
    {'a': 4.0, 'v1': 2.0}
    """
    if not all(hasattr(root, attribute) for attribute in ("data", "_prev", "_op")):
        raise GraphTypeError(f"from_micrograd needs a micrograd Value, not {type(root).__name__}")
    collecting = gc.isenabled()
    gc.disable()  # micrograd's closures make cycles: each collection would rescan its whole graph
    try:
        return _import_micrograd(root)
    finally:
        if collecting:
            gc.enable()


def _import_micrograd(root: Any) -> Trace:
    order, children = _post_order(root)
    leaves = [v for v in order if not v._prev]
    operations = [v for v in order if v._prev]
    used: set[str] = set()
    names: dict[int, str] = {}
    for value in order:  # labels first, so generated names step around them
        label = getattr(value, "label", "")
        if isinstance(label, str) and label:
            if label in used or len(label) > MAX_NAME_LENGTH or not label.isprintable():
                raise GraphError(f"micrograd label {label!r} is used twice or is not a valid node name")
            used.add(label)
            names[id(value)] = label
    counter = {"v": 0, "z": 0}

    def fresh(prefix: str) -> str:
        while True:
            counter[prefix] += 1
            name = f"{prefix}{counter[prefix]}"
            if name not in used:
                used.add(name)
                return name

    make = tuple.__new__
    nodes: list[Node] = []
    values: list[float] = []
    for leaf in leaves:
        name = names.get(id(leaf)) or fresh("v")
        names[id(leaf)] = name
        nodes.append(make(Node, (name, INPUT, (), None)))
        values.append(_number(leaf.data, name))
    constants: dict[str, Node] = {}
    body: list[Node] = []
    for value in operations:
        op, args = _micrograd_op(value, [names[id(child)] for child in children[id(value)]])
        if op == "pow":
            exponent = float(_POWER.fullmatch(value._op).group(1))  # type: ignore[union-attr]
            constant = constant_name(exponent)
            if constant in used and constant not in constants:
                raise GraphError(f"micrograd label {constant!r} is also the name of a constant")
            constants.setdefault(constant, make(Node, (constant, CONST, (), exponent)))
            used.add(constant)
            args = (*args, constant)
        name = names.get(id(value)) or fresh("z")
        names[id(value)] = name
        body.append(make(Node, (name, op, args, None)))
    graph = Graph._built([*nodes, *constants.values(), *body], names[id(root)])
    return backward(graph, values)


def _post_order(root: Any) -> tuple[list[Any], dict[int, list[Any]]]:
    """Every value the root depends on, arguments before their results, without recursion,
    and each one's arguments in a fixed order (micrograd keeps them in a set)."""
    order: list[Any] = []
    children: dict[int, list[Any]] = {}
    done: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        value, expanded = stack.pop()
        if id(value) in done:
            continue
        if expanded:
            done.add(id(value))
            order.append(value)
            if len(order) > MAX_IMPORT_NODES:
                raise GraphError(f"the graph has more than {MAX_IMPORT_NODES:,} nodes")
            continue
        stack.append((value, True))
        arguments = children[id(value)] = _children(value)
        stack.extend((child, False) for child in reversed(arguments))
    return order, children


def _children(value: Any) -> list[Any]:
    children = list(value._prev)
    if len(children) == 2:
        a, b = children
        if _order_key(a) > _order_key(b):
            return [b, a]  # leaves first, then by label, then by value: the same order every run
    return children


def _order_key(value: Any) -> tuple[bool, str, float]:
    label = getattr(value, "label", "")
    data = value.data
    return (bool(value._prev), label if isinstance(label, str) else "",
            data if isinstance(data, int | float) and data == data else 0.0)


def _micrograd_op(value: Any, names: list[str]) -> tuple[str, tuple[str, ...]]:
    args = tuple(names)
    code = value._op
    if isinstance(code, str) and _POWER.fullmatch(code) and len(args) == 1:
        return "pow", args
    op = _MICROGRAD_OPS.get(code) if isinstance(code, str) else None
    if op is None:
        raise GraphError(f"micrograd op {code!r} is not supported (supported: + * **k ReLU tanh exp log)")
    arity = 2 if op in ("add", "mul") else 1
    if arity == 2 and len(args) == 1:
        args = (args[0], args[0])  # x + x or x * x: micrograd's set of children holds x once
    if len(args) != arity:
        raise GraphError(f"micrograd op {code!r} has {len(args)} arguments, expected {arity}")
    return op, args


def _number(data: Any, name: str) -> float:
    if isinstance(data, bool) or not isinstance(data, int | float):
        raise GraphError(f"micrograd value {name!r} holds {data!r}, not a number")
    return float(data)


# --- trace: a plain Python function run on our inputs ------------------------------

_MATH = {"exp": builder.exp, "log": builder.log, "sqrt": builder.sqrt, "sin": builder.sin,
         "cos": builder.cos, "tanh": builder.tanh, "fabs": abs, "pow": operator.pow, "pi": math.pi,
         "e": math.e}
_BUILTINS = {"max": builder.max, "min": builder.min}


class _Math(types.SimpleNamespace):
    """Stands in for the `math` module while a traced function runs."""

    def __getattr__(self, name: str) -> Any:
        raise GraphError(f"math.{name} is not supported in a traced function "
                         f"(supported: {', '.join(f'math.{n}' for n in _MATH)})")


def trace(fn: Callable[..., Any], /, **values: float) -> Trace:
    """Run ``fn`` on graph inputs named after its keyword arguments and return the `Trace`
    at ``values``: calls of ``math.exp``, ``math.log``, ... (and ``from math import exp``),
    ``abs``, ``max`` and ``min`` become graph nodes; anything else that needs a number
    (a comparison, ``if``, another library) is a clear error.

    >>> trace(lambda w, x: (w * x - 1) ** 2, w=0.5, x=4.0).gradients
    {'w': 8.0, 'x': 1.0}
    """
    if not callable(fn):
        raise GraphTypeError(f"trace needs a function, not {type(fn).__name__}")
    if not values:
        raise GraphError("trace needs the values of the function's inputs as keywords")
    function = _with_graph_math(fn)
    leaves = builder.inputs(list(values))
    try:
        result = function(**dict(zip(values, leaves, strict=True)))
    except GraphError:
        raise
    except TypeError as error:
        raise GraphError(f"tracing {getattr(fn, '__name__', 'the function')} failed: {error} "
                         "(only + - * / **, abs, max, min and math functions can be recorded)") from None
    if not isinstance(result, builder.Expr):
        raise GraphError(f"the traced function returned {type(result).__name__}, not an expression of "
                         "its inputs")
    if not result.args:
        result = result * 1.0  # the output is an input itself: make it an operation
    return backward(builder.build(result, inputs=leaves), values)


def _with_graph_math(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with `math`, the math functions it imported and max/min swapped for graph ones."""
    if not isinstance(fn, types.FunctionType):
        return fn
    namespace = dict(fn.__globals__)
    mapping = {id(getattr(math, name)): graph_function for name, graph_function in _MATH.items()
               if callable(getattr(math, name))}
    for key, item in fn.__globals__.items():
        if item is math:
            namespace[key] = _Math(**_MATH)
        elif id(item) in mapping and getattr(item, "__module__", None) == "math":
            namespace[key] = mapping[id(item)]
    for name in fn.__code__.co_names:
        if name in _BUILTINS and namespace.get(name, getattr(builtins, name)) is getattr(builtins, name):
            namespace[name] = _BUILTINS[name]
    return types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
