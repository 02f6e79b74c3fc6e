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
import itertools
import math
import operator
import re
import types
from collections.abc import Callable
from typing import Any

from . import graph as builder
from .engine import Trace, backward
from .errors import GraphError, GraphTypeError
from .graph import CONST, INPUT, MAX_NAME_LENGTH, Graph, constant_name

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
    size = len(order)
    labels: dict[int, str] = {}  # labels first, so generated names step around them
    found = list(map(getattr, order, itertools.repeat("label"), itertools.repeat("")))
    for position in itertools.compress(range(size), found):
        label = found[position]
        if isinstance(label, str):
            labels[position] = label
    used = set(labels.values())
    if len(used) != len(labels) or not all(map(_valid_name, used)):  # as Graph checks any name
        bad = next(label for label in labels.values() if list(labels.values()).count(label) > 1
                   or not _valid_name(label))
        raise GraphError(f"micrograd label {bad!r} is used twice or is not a valid node name")
    is_operation = list(map(bool, children))
    leaves = list(itertools.compress(range(size), map(operator.not_, is_operation)))
    body = list(itertools.compress(range(size), is_operation))
    count = 0
    input_names: list[str] = []
    for position in leaves:
        name = labels.get(position)
        if name is None:
            count += 1
            name = f"v{count}"
            while name in used:
                count += 1
                name = f"v{count}"
            used.add(name)
        input_names.append(name)
    values = [_number(order[position].data, name) for position, name in zip(leaves, input_names, strict=True)]
    codes = list(map(_OP_CODE, map(order.__getitem__, body)))
    kids = list(map(children.__getitem__, body))
    if not all(map(str.__instancecheck__, codes)):
        bad = next(code for code in codes if not isinstance(code, str))
        _micrograd_op(bad, 1)  # raises, naming it
    known: dict[str, tuple[str, float | None]] = {}
    for code, arguments in dict.fromkeys(zip(codes, map(len, kids), strict=True)):  # once per argument count
        known[code] = _micrograd_op(code, arguments)
    constants: dict[str, float] = {}
    for code in dict.fromkeys(codes):  # constants in order of first use
        exponent = known[code][1]
        if exponent is not None:
            constant = constant_name(exponent)
            if constant in used:
                raise GraphError(f"micrograd label {constant!r} is also the name of a constant")
            constants[constant] = exponent
    ops = [known[code][0] for code in codes]
    base = len(leaves) + len(constants)
    where = dict(zip(leaves, range(len(leaves)), strict=True))
    where.update(zip(body, range(base, base + len(body)), strict=True))
    first = [-1] * base + list(map(where.__getitem__, map(_FIRST, kids)))
    second = [-1] * base + list(map(where.__getitem__, map(_LAST, kids)))  # x + x: one child, twice
    constant_at = {name: len(leaves) + k for k, name in enumerate(constants)}
    for k in itertools.compress(range(len(ops)), map(_NOT_BINARY.__contains__, ops)):
        exponent = known[codes[k]][1]
        second[base + k] = -1 if exponent is None else constant_at[constant_name(exponent)]
    given = {where[position]: label for position, label in labels.items() if children[position]}
    namer = builder._Namer([*input_names, *constants], given, None)
    out = where[size - 1]
    output = input_names[out] if out < len(leaves) else given.get(out)
    if output is None:  # the root's name, without naming every node now
        output = namer.last(input_names, base + len(body))
    graph = Graph._from_columns([INPUT] * len(leaves) + [CONST] * len(constants) + ops, first, second,
                                dict(zip(constant_at.values(), constants.values(), strict=True)), namer, out,
                                output, tuple(input_names), True)
    return backward(graph, values)


def _valid_name(label: str) -> bool:
    return len(label) <= MAX_NAME_LENGTH and label.isprintable() and label == label.strip()


_OP_CODE = operator.attrgetter("_op")
_FIRST, _LAST = operator.itemgetter(0), operator.itemgetter(-1)


def _post_order(root: Any) -> tuple[list[Any], list[list[int]]]:
    """Every value the root depends on, arguments before their results, without recursion,
    and each one's arguments as positions in that order, in a fixed order (micrograd keeps
    them in a set). The root comes last."""
    order: list[Any] = []
    children: list[list[int]] = []
    done: dict[int, int] = {}  # id -> position in the order
    pending: dict[int, list[Any]] = {}  # id -> arguments, while they are being visited
    stack = [root]
    push, pop, extend = stack.append, stack.pop, stack.extend
    while stack:
        value = pop()
        key = id(value)
        if key in done:
            continue
        kids = pending.pop(key, None)
        if kids is None:
            kids = _children(value._prev)
            todo = []
            for child in kids:  # leaves come first in that order: a new one is done at once
                if id(child) not in done:
                    if child._prev:
                        todo.append(child)
                    else:
                        children.append([])
                        done[id(child)] = len(order)
                        order.append(child)
            if todo:
                pending[key] = kids
                push(value)  # again, once its arguments are done
                extend(reversed(todo))
                continue
        children.append([done[id(child)] for child in kids])
        done[key] = len(order)
        order.append(value)
        if len(order) > MAX_IMPORT_NODES:
            raise GraphError(f"the graph has more than {MAX_IMPORT_NODES:,} nodes")
    return order, children


def _children(prev: Any) -> list[Any]:
    """The arguments in a fixed order: leaves first, then by label, then by value (the same
    order every run, whatever order micrograd's set gives)."""
    children = list(prev)
    if len(children) != 2:
        return children
    a, b = children
    leaf_a, leaf_b = not a._prev, not b._prev
    if leaf_a != leaf_b:
        return children if leaf_a else [b, a]
    label_a, label_b = getattr(a, "label", ""), getattr(b, "label", "")
    if label_a != label_b and type(label_a) is str and type(label_b) is str:
        return children if label_a < label_b else [b, a]
    data_a, data_b = a.data, b.data
    if type(data_a) is float and type(data_b) is float and data_a == data_a and data_b == data_b:
        return children if data_a <= data_b else [b, a]
    return [b, a] if _order_key(a) > _order_key(b) else children


def _order_key(value: Any) -> tuple[bool, str, float]:
    label = getattr(value, "label", "")
    data = value.data
    return (bool(value._prev), label if isinstance(label, str) else "",
            data if isinstance(data, int | float) and data == data else 0.0)


_BINARY = frozenset(("add", "mul"))
_NOT_BINARY = frozenset(op for op in _MICROGRAD_OPS.values() if op not in _BINARY) | {"pow"}


def _micrograd_op(code: Any, arguments: int) -> tuple[str, float | None]:
    """Our op for micrograd's op text, and the exponent of a power (else None)."""
    power = _POWER.fullmatch(code) if isinstance(code, str) else None
    if power and arguments == 1:
        return "pow", float(power.group(1))
    op = _MICROGRAD_OPS.get(code) if isinstance(code, str) else None
    if op is None:
        raise GraphError(f"micrograd op {code!r} is not supported (supported: + * **k ReLU tanh exp log)")
    arity = 2 if op in _BINARY else 1
    if arguments != arity and not (arity == 2 and arguments == 1):
        raise GraphError(f"micrograd op {code!r} has {arguments} arguments, expected {arity}")
    return op, None


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
