"""Explicit, named, immutable computation graphs, and the Python-operator builder that makes them.

Write the function with Python operators on inputs, then freeze it into a `Graph`:

>>> x, y, W1, W2, B = inputs("x y W1 W2 B")
>>> graph = build(((x*W1 + y*W2 - B)**2).named("L"))
>>> print(graph)
z1 = x*W1
z2 = y*W2
z3 = z1 + z2
z4 = z3 - B
L = z4**2
>>> graph.inputs
('x', 'W1', 'y', 'W2', 'B')

Every operation is its own node. Unnamed operations are called ``z1, z2, ...`` in
creation order (left operand first, innermost first), skipping names in use, so the
builder and the formula parser give the same graph for the same expression.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import itertools
import math
import operator
import sys
from collections.abc import Iterable, Iterator, Sequence
from numbers import Real
from typing import Any, NamedTuple

from .errors import GraphError, GraphTypeError
from .ops import FUNCTIONS, OPS

INPUT = "input"
CONST = "const"
OUTPUT_NAME = "L"
"""The name an unnamed output gets, when it is free."""
MAX_NAME_LENGTH = 256


class Node(NamedTuple):
    """One node: an input, a constant, or one operation applied to earlier nodes.

    An immutable record (a named tuple, cheap to make by the million).

    >>> Node("z1", "mul", ("x", "W1"))
    Node(name='z1', op='mul', inputs=('x', 'W1'), value=None)
    """

    name: str
    op: str
    """A key of `graphviz_grad.ops.OPS`, ``"input"`` or ``"const"``."""
    inputs: tuple[str, ...] = ()
    """Names of the argument nodes, in argument order."""
    value: float | None = None
    """The value of a constant; ``None`` for other nodes."""


def constant_name(value: float) -> str:
    """The name of a constant node: its shortest exact decimal text.

    >>> constant_name(2.0), constant_name(0.1), constant_name(-1e-300)
    ('2', '0.1', '-1e-300')
    """
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise GraphTypeError(f"a node name must be a string, not {type(name).__name__}")
    if not name or not name.isprintable() or name != name.strip():
        raise GraphError(
            f"invalid node name {name!r}: names must be non-empty printable text "
            "without leading or trailing spaces"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise GraphError(f"node name of {len(name)} characters is over the limit of {MAX_NAME_LENGTH}")
    return name


class Graph:
    """Named nodes in topological order and the name of the output node.

    Any topological order is valid; `build` and `parse` put the inputs first (in order of
    first appearance), then constants, then the operations in evaluation order. A graph
    validates itself and never changes.

    >>> g = Graph([Node("a", "input"), Node("b", "input"), Node("c", "add", ("a", "b"))], "c")
    >>> g.inputs, g["c"].op, len(g)
    (('a', 'b'), 'add', 3)

    Inside, a graph is columns (per node its op, first and second argument position, and the
    constants' values); `nodes`, the names `build` gives (``z1, z2, ...``) and the index by
    name are made from them the first time they are read, so building and differentiating
    a graph once never makes them.
    """

    __slots__ = (
        "__weakref__",
        "_a",
        "_all_reach",
        "_arg_tuples",
        "_b",
        "_cache",
        "_consts",
        "_index_map",
        "_input_set",
        "_inputs",
        "_namer",
        "_names",
        "_nodes",
        "_ops",
        "_out",
        "_output",
    )

    def __init__(self, nodes: Iterable[Node], output: str):
        if not isinstance(nodes, Iterable) or isinstance(nodes, (str, bytes)):
            raise GraphTypeError(f"a Graph needs an iterable of Node objects, not {type(nodes).__name__}")
        if not isinstance(output, str):
            raise GraphTypeError(f"the output must be a node name, not {output!r}")
        index: dict[str, int] = {}
        args: list[tuple[int, ...]] = []
        checked: list[Node] = []
        for position, node in enumerate(nodes):
            node = self._validate(node, index)
            checked.append(node)
            args.append(tuple(index[arg] for arg in node.inputs))
            index[node.name] = position
        self._from_nodes(tuple(checked), index, args, output)

    @classmethod
    def _built(cls, nodes: list[Node], output: str, args: list[tuple[int, ...]] | None = None,
               inputs: tuple[str, ...] | None = None) -> Graph:
        """A graph of nodes that are valid by construction (an importer's): skip the checks.
        ``args`` are the argument positions when the caller already has them."""
        graph = cls.__new__(cls)
        nodes = tuple(nodes)
        index = dict(zip([node[0] for node in nodes], range(len(nodes)), strict=True))
        if len(index) != len(nodes):  # importers keep names unique; this guards the promise
            raise GraphError("two nodes share a name")
        if args is None:
            position_of = index.__getitem__
            args = [tuple(map(position_of, node.inputs)) for node in nodes]
        graph._from_nodes(nodes, index, args, output, inputs)
        return graph

    @classmethod
    def _from_columns(cls, ops: list[str], first: list[int], second: list[int], consts: dict[int, float],
                      namer: Any, out: int, output: str | None, inputs: tuple[str, ...],
                      all_reach: bool) -> Graph:
        """A graph from `build` or `parse` as columns, valid by construction: per node its op
        and argument positions (-1: none), the constants' values by position, and ``namer``,
        which gives every node's name when one is first read. ``output`` is None when only the
        namer knows the output's name; ``all_reach``: every operation reaches the output."""
        graph = cls.__new__(cls)
        graph._ops, graph._a, graph._b, graph._consts = ops, first, second, consts
        graph._nodes = graph._names = graph._index_map = graph._arg_tuples = graph._input_set = None
        graph._namer, graph._out, graph._all_reach = namer, out, all_reach
        graph._inputs = inputs
        graph._cache = {}
        graph._output = graph._node_names()[out] if output is None else output
        return graph

    def _from_nodes(self, nodes: tuple[Node, ...], index: dict[str, int], args: list[tuple[int, ...]],
                    output: str, inputs: tuple[str, ...] | None = None) -> None:
        if output not in index:
            raise GraphError(f"the output {output!r} is not a node of the graph")
        self._nodes: tuple[Node, ...] | None = nodes
        self._names: list[str] | None = [node[0] for node in nodes]
        self._index_map: dict[str, int] | None = index
        self._arg_tuples: tuple[tuple[int, ...], ...] | None = tuple(args)
        self._ops: list[str] = [node[1] for node in nodes]
        self._a: list[int] = [arg[0] if arg else -1 for arg in args]
        self._b: list[int] = [arg[1] if len(arg) > 1 else -1 for arg in args]
        self._consts: dict[int, float] = {i: node[3] for i, node in enumerate(nodes) if node[1] == CONST}
        self._namer: Any = None
        self._all_reach = False  # not known: the engine works it out
        self._out: int = index[output]
        self._output = output
        self._inputs = tuple(node[0] for node in nodes if node[1] == INPUT) if inputs is None else inputs
        self._input_set: frozenset[str] | None = None
        self._cache: dict[Any, Any] = {}  # derived data memoised by other modules

    def __reduce__(self) -> tuple[Any, ...]:
        return (Graph, (self.nodes, self.output))  # the cache is rebuilt, not pickled

    @staticmethod
    def _validate(node: Node, index: dict[str, int]) -> Node:
        """Check one node against the nodes before it; return it with a float value."""
        if not isinstance(node, Node):
            raise GraphTypeError(f"graph nodes must be Node objects, not {type(node).__name__}")
        name = _check_name(node.name)
        if name in index:
            raise GraphError(f"two nodes are named {name!r}")
        if not isinstance(node.inputs, tuple) or not all(isinstance(arg, str) for arg in node.inputs):
            raise GraphTypeError(f"node {name!r}: inputs must be a tuple of node names")
        if node.op == CONST:
            value = node.value
            try:
                finite = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)
            except OverflowError:
                finite = False
            if not finite:
                raise GraphError(f"constant {name!r} needs a finite real value, not {value!r}")
            if node.inputs:
                raise GraphError(f"constant {name!r} cannot have arguments")
            return node._replace(value=float(value))
        if node.value is not None:
            raise GraphError(f"node {name!r}: only a constant has a value")
        if node.op == INPUT:
            if node.inputs:
                raise GraphError(f"input {name!r} cannot have arguments")
            return node
        op = OPS.get(node.op) if isinstance(node.op, str) else None
        if op is None:
            raise GraphError(f"node {name!r} has unknown op {node.op!r}")
        if len(node.inputs) != op.arity:
            raise GraphError(f"node {name!r}: {op.name} takes {op.arity} argument(s), got {len(node.inputs)}")
        missing = [arg for arg in node.inputs if arg not in index]
        if missing:
            raise GraphError(f"node {name!r} reads {missing[0]!r}, which is not an earlier node")
        return node

    @property
    def output(self) -> str:
        """The output node's name."""
        return self._output

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the input nodes, in order."""
        return self._inputs

    def _node_names(self) -> list[str]:
        """Every node's name, in order (made on first use for a built graph)."""
        names = self._names
        if names is None:
            namer = self._namer
            if namer is None:  # another thread named them after our first look
                return self._names  # type: ignore[return-value]
            names = self._names = namer(self)  # set before the namer is dropped (threads)
            self._namer = None
        return names

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The nodes, in topological order."""
        nodes = self._nodes
        if nodes is None:
            names = self._node_names()
            make, value = tuple.__new__, self._consts.get
            nodes = self._nodes = tuple(
                make(Node, (name, op, (), value(i)) if a < 0 else
                     (name, op, (names[a],) if b < 0 else (names[a], names[b]), None))
                for i, name, op, a, b in zip(itertools.count(), names, self._ops, self._a, self._b))
        return nodes

    @property
    def _index(self) -> dict[str, int]:
        index = self._index_map
        if index is None:
            index = self._index_map = dict(zip(self._node_names(), range(len(self._ops)), strict=True))
        return index

    @property
    def input_set(self) -> frozenset[str]:
        """The input names, as a set."""
        found = self._input_set
        if found is None:
            found = self._input_set = frozenset(self.inputs)
        return found

    @property
    def arg_indices(self) -> tuple[tuple[int, ...], ...]:
        """For each node, the positions of its arguments."""
        args = self._arg_tuples
        if args is None:
            args = self._arg_tuples = tuple(() if a < 0 else (a,) if b < 0 else (a, b)
                                            for a, b in zip(self._a, self._b, strict=True))
        return args

    def index(self, name: str) -> int:
        """Position of the node called ``name``."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no node named {name!r}") from None

    def __getitem__(self, name: str) -> Node:
        return self.nodes[self.index(name)]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        if self is other:
            return True
        return (self.output == other.output and self._ops == other._ops and self._a == other._a
                and self._b == other._b and self.nodes == other.nodes)

    def __hash__(self) -> int:
        return hash((self.output, len(self._ops), self._ops[-1]))

    def __repr__(self) -> str:
        return f"<Graph of {len(self._ops)} nodes, output {self.output!r}>"

    def statement(self, name: str) -> str:
        """The node as a formula statement: ``'z1 = x*W1'``; a leaf is just its name."""
        node = self[name]
        if node.op in (INPUT, CONST):
            return node.name
        return f"{node.name} = {OPS[node.op].text.format(*node.inputs)}"

    def __str__(self) -> str:
        """The graph as a program in the formula language (one statement per operation)."""
        lines = [self.statement(node.name) for node in self.nodes if node.op not in (INPUT, CONST)]
        return "\n".join(lines) if lines else self.output


# --- the builder -----------------------------------------------------------------

_creation_order = itertools.count()
_new_expr = object.__new__
_next_seq = _creation_order.__next__
_BIG = sys.float_info.max
_GROUP: contextvars.ContextVar[str] = contextvars.ContextVar("graphviz_grad_group", default="")
"""The dotted prefix (``"layer1.n3."``) of the `group` being built, or ``""``."""
_group = _GROUP.get


@contextlib.contextmanager
def group(name: str) -> Iterator[str]:
    """Put everything built inside the ``with`` block into the group ``name`` (nested
    blocks nest): inputs and named operations get the prefix ``name.``, unnamed ones are
    called ``name.z1, name.z2, ...``. Groups are only dotted names, so a graph keeps them
    through JSON and formula text (see `graphviz_grad.groups`).

    >>> with group("layer1"):
    ...     w, = inputs("w")
    ...     h = (w * 2).named("h")
    ...     s = h + 1
    >>> print(build(s))
    layer1.h = layer1.w*2
    layer1.L = layer1.h + 1
    """
    _check_name(name)
    if any(not part.strip() or part != part.strip() for part in name.split(".")):
        raise GraphError(f"invalid group name {name!r}: dotted parts must be non-empty, without spaces at "
                         "their ends")
    full = _GROUP.get() + name
    if len(full) > MAX_NAME_LENGTH - 12:  # room for ".z" and a node count after it
        raise GraphError(f"the group name {full[:40]!r}... of {len(full)} characters (with the groups "
                         f"around it) is over the limit of {MAX_NAME_LENGTH - 12}: the names inside would "
                         "be too long")
    token = _GROUP.set(full + ".")
    try:
        yield _GROUP.get()[:-1]
    finally:
        _GROUP.reset(token)


class Expr:
    """A node under construction: combine with ``+ - * / **``, unary ``-``, `abs` and
    the functions of this module, then freeze with `build`.

    >>> a, b = inputs("a b")
    >>> e = (a + b) * (b + 1)
    >>> e.op, [arg.op for arg in e.args]
    ('mul', ['add', 'add'])
    """

    __slots__ = ("_seq", "a", "b", "group", "name", "op", "value")

    def __init__(self, op: str, args: tuple[Expr, ...] = (), value: float | None = None,
                 name: str | None = None):
        self.op = op
        self.a = args[0] if args else None
        self.b = args[1] if len(args) > 1 else None
        self.value = value
        self.group = _GROUP.get() if op != CONST else ""  # constants are shared: in no group
        self.name = _check_name(self.group + name) if name is not None and self.group else name
        self._seq = _next_seq()

    @property
    def args(self) -> tuple[Expr, ...]:
        """The argument expressions, in order (``()`` for an input or a constant)."""
        a, b = self.a, self.b
        return () if a is None else (a,) if b is None else (a, b)

    def named(self, name: str) -> Expr:
        """Give this operation a name (once) and return it.

        >>> x, = inputs("x")
        >>> (x * 2).named("double").name
        'double'
        """
        if self.op in (INPUT, CONST):
            raise GraphError(f"an {self.op} keeps its own name; only operations can be named")
        _check_name(name)
        name = _check_name(_GROUP.get() + name)
        if self.name is not None and self.name != name:
            raise GraphError(f"this node is already named {self.name!r}; it cannot also be {name!r}")
        self.name = name
        return self

    def __repr__(self) -> str:
        label = self.name or (constant_name(self.value) if self.value is not None else "?")
        return f"<Expr {self.op} {label}>"

    # The operators: the other operand is an Expr (the usual case, checked first), a float
    # (a constant, made inline) or another real number; anything else is NotImplemented.

    def __add__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        expr = _new_expr(Expr)
        expr.op, expr.a, expr.b, expr.value, expr.name, expr.group, expr._seq = (
            "add", self, other, None, None, _group(), _next_seq())
        return expr

    def __radd__(self, other: Any) -> Expr:
        other = _operand(other)
        return NotImplemented if other is None else _node("add", other, self)

    def __sub__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        return _node("sub", self, other)

    def __rsub__(self, other: Any) -> Expr:
        other = _operand(other)
        return NotImplemented if other is None else _node("sub", other, self)

    def __mul__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        expr = _new_expr(Expr)
        expr.op, expr.a, expr.b, expr.value, expr.name, expr.group, expr._seq = (
            "mul", self, other, None, None, _group(), _next_seq())
        return expr

    def __rmul__(self, other: Any) -> Expr:
        other = _operand(other)
        return NotImplemented if other is None else _node("mul", other, self)

    def __truediv__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        return _node("div", self, other)

    def __rtruediv__(self, other: Any) -> Expr:
        other = _operand(other)
        return NotImplemented if other is None else _node("div", other, self)

    def __pow__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        return _node("pow", self, other)

    def __rpow__(self, other: Any) -> Expr:
        other = _operand(other)
        return NotImplemented if other is None else _node("pow", other, self)

    def __neg__(self) -> Expr:
        return _node("neg", self, None)

    def __pos__(self) -> Expr:
        return self

    def __abs__(self) -> Expr:
        return _node("abs", self, None)

    def __bool__(self) -> bool:
        raise TypeError("an Expr has no truth value: use max/min/relu instead of comparisons")


def _node(op: str, a: Expr, b: Expr | None) -> Expr:
    """A new operation on ``a`` (and ``b``), without `Expr.__init__`'s keyword handling
    (operators make millions)."""
    expr = _new_expr(Expr)
    expr.op, expr.a, expr.b, expr.value, expr.name, expr.group, expr._seq = (
        op, a, b, None, None, _group(), _next_seq())
    return expr


def _make(op: str, args: tuple[Expr, ...]) -> Expr:
    """A new operation on the argument expressions ``args`` (one or two)."""
    return _node(op, args[0], args[1] if len(args) > 1 else None)


def _operand(value: Any) -> Expr | None:
    """The value as an expression (numbers become constants), or None if it cannot be one."""
    kind = type(value)
    if kind is Expr:
        return value  # type: ignore[no-any-return]
    if kind is float and -_BIG <= value <= _BIG:  # the common case, finite, without const()'s checks
        expr = _new_expr(Expr)
        expr.op, expr.a, expr.b, expr.value, expr.name, expr.group, expr._seq = (
            CONST, None, None, value, None, "", _next_seq())  # constants are shared: in no group
        return expr
    if kind in (float, int) or (isinstance(value, Real) and not isinstance(value, bool)):
        return const(value)
    return None


def const(value: float) -> Expr:
    """A constant node; plain numbers in expressions become constants automatically.

    >>> const(0.5).value
    0.5
    """
    kind = type(value)
    if kind is not float and kind is not int and (kind is bool or not isinstance(value, Real)):
        raise GraphTypeError(f"a constant must be a real number, not {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise GraphError(f"a constant must be finite, not {number!r}")
    return Expr(CONST, value=number)


def inputs(names: str | Sequence[str]) -> tuple[Expr, ...]:
    """Several inputs at once, from a space-separated string or a sequence of names.

    Inputs with the same name are the same input.

    >>> [x.name for x in inputs("x y")]
    ['x', 'y']
    """
    kind = type(names)
    if kind is not list and kind is not tuple and not isinstance(names, str) and not (
            isinstance(names, Sequence) and not isinstance(names, bytes)):
        raise GraphTypeError(f"inputs takes a string of names or a sequence of names, not {names!r}")
    listed = names.split() if isinstance(names, str) else names
    group = _group()
    made = []
    for name in listed:
        if type(name) is not str or not name.isprintable() or not 0 < len(name) <= MAX_NAME_LENGTH \
                or name != name.strip():
            _check_name(name)  # the usual names pass the same checks inline; this says what is wrong
        if group:
            name = _check_name(group + name)
        expr = _new_expr(Expr)
        expr.op, expr.a, expr.b, expr.value, expr.name, expr.group, expr._seq = (
            INPUT, None, None, None, name, group, _next_seq())
        made.append(expr)
    return tuple(made)


def apply(op: str, *args: Any) -> Expr:
    """Apply the op called ``op`` (a key of `graphviz_grad.ops.OPS`) to expressions or numbers.

    >>> apply("max", inputs("a")[0], 0).op
    'max'
    """
    if not isinstance(op, str):
        raise GraphTypeError(f"apply takes the op's name, not {type(op).__name__}")
    rule = OPS.get(op)
    if rule is None:
        raise GraphError(f"unknown op {op!r}")
    if len(args) != rule.arity:
        raise GraphError(f"{op} takes {rule.arity} argument(s), got {len(args)}")
    operands = [_operand(arg) for arg in args]
    if None in operands:
        bad = args[operands.index(None)]
        raise GraphTypeError(f"{op} needs expressions or real numbers, not {bad!r}")
    return _node(op, operands[0], operands[1] if len(operands) > 1 else None)  # type: ignore[arg-type]


def _function(op: str) -> Any:
    def call(*args: Any) -> Expr:
        return apply(op, *args)

    call.__name__ = call.__qualname__ = op
    call.__doc__ = f"``{FUNCTIONS[op].text.format(*'ab')}`` as a graph node."
    return call


BUILDERS: dict[str, Any] = {name: _function(name) for name in FUNCTIONS if name != "abs"}
"""A builder function per function of the op table, ``exp(x)``, ``max(a, b)`` (``abs`` is
Python's own, through `Expr.__abs__`); each is also a name of this module."""
globals().update(BUILDERS)  # exp, log, ..., max, min: adding an op adds its builder


def _reading_order(roots: Sequence[Expr]) -> tuple[list[Expr], list[Expr], list[Expr]]:
    """One walk from the roots: every operation they depend on, the leaves in the order a
    reader meets them (left to right, depth first), and the operations with a name of
    their own."""
    seen: set[Expr] = set()
    add = seen.add
    operations: list[Expr] = []
    leaves: list[Expr] = []
    named: list[Expr] = []
    operation, leaf = operations.append, leaves.append
    stack = list(reversed(roots))
    pop, push = stack.pop, stack.append
    while stack:
        expr = pop()
        if expr in seen:
            continue
        while True:  # down the first arguments, the second ones kept for later
            add(expr)
            first = expr.a
            if first is None:
                leaf(expr)
                break
            operation(expr)
            if expr.name is not None:
                named.append(expr)
            second = expr.b
            if second is not None and second not in seen:
                push(second)
            if first in seen:
                break
            expr = first
    return operations, leaves, named


def _leaves_in_reading_order(roots: Sequence[Expr]) -> list[Expr]:
    """Leaves in the order a reader meets them: statement by statement (a statement being
    a named operation, an extra root or the output, in creation order), left to right."""
    seen = set(roots)
    leaves: list[Expr] = []
    for root in roots:
        stack = list(reversed(root.args)) if root.a is not None else [root]
        if root.a is None:
            seen.discard(root)
        while stack:
            expr = stack.pop()
            if expr in seen:
                continue
            seen.add(expr)
            if expr.a is not None:
                stack.extend(reversed(expr.args))
            else:
                leaves.append(expr)
    return leaves


def build(output: Expr, *, inputs: Sequence[Expr | str] | None = None,
          also: Sequence[Expr] = ()) -> Graph:
    """Freeze the expression ``output`` (and everything it reads) into a `Graph`.

    ``inputs`` fixes the order of the inputs and may add inputs the output does not
    read (their gradient is 0); by default inputs appear in reading order. ``also``
    keeps extra operations in the graph even when the output does not read them.

    >>> a, b = inputs("a b")
    >>> c = (a + b).named("c"); d = (b + 1).named("d")
    >>> print(build((c * d).named("e")))
    c = a + b
    d = b + 1
    e = c*d
    """
    if type(output) is not Expr:
        raise GraphTypeError(f"build needs an Expr, not {type(output).__name__}")
    extra: list[Expr] = []
    if type(also) is Expr:
        raise GraphTypeError("'also' takes a sequence of expressions, not Expr")
    if also:
        if not isinstance(also, Sequence):
            raise GraphTypeError(f"'also' takes a sequence of expressions, not {type(also).__name__}")
        extra = list(also)
        for expr in extra:
            if not isinstance(expr, Expr):
                raise GraphTypeError(f"'also' takes expressions, not {type(expr).__name__}")
    elif also is not None and type(also) is not tuple and not isinstance(also, Sequence):
        raise GraphTypeError(f"'also' takes a sequence of expressions, not {type(also).__name__}")
    collecting = gc.isenabled()
    gc.disable()  # a build makes no cycles; the collector would only rescan the new nodes
    try:
        return _freeze(output, inputs, extra)
    finally:
        if collecting:
            gc.enable()


_creation = operator.attrgetter("_seq")
_op_of, _first_of, _second_of = (operator.attrgetter(name) for name in ("op", "a", "b"))
_group_of, _name_of = operator.attrgetter("group"), operator.attrgetter("name")


def _freeze(output: Expr, given: Sequence[Expr | str] | None, extra: list[Expr]) -> Graph:
    """The graph as columns: leaves first (inputs in reading order, then constants), then
    the operations in creation order, with argument positions looked up in one dict. The
    names ``z1, z2, ...`` are left to `_Namer`, for the first time a name is read."""
    roots = [output, *extra]
    operations, leaves, named = _reading_order(roots)
    operations.sort(key=_creation)  # in evaluation order already, for one expression: a linear pass
    if extra or any(expr is not output for expr in named):  # statements decide the leaves' order
        leaves = _leaves_in_reading_order(sorted({*named, output, *extra}, key=_creation))
    kinds = list(map(_op_of, leaves))
    input_leaves = list(itertools.compress(leaves, map(INPUT.__eq__, kinds)))
    read = list(map(_name_of, input_leaves))
    input_names = _input_order(list(dict.fromkeys(read)), given)
    count = len(input_names)
    position = dict(zip(input_names, range(count), strict=True))
    where: dict[Expr | None, int] = dict(zip(input_leaves, map(position.__getitem__, read), strict=True))
    where[None] = -1
    constants: dict[str, float] = {}
    constant_names: dict[float, str] = {}  # chains repeat a constant many times
    for leaf in itertools.compress(leaves, map(CONST.__eq__, kinds)):
        value: float = leaf.value  # type: ignore[assignment]
        name = constant_names.get(value) if value else None  # 0.0 == -0.0, names differ
        if name is None:
            name = constant_names[value] = constant_name(value)
        if name not in constants:
            constants[name] = value
            position[name] = count + len(constants) - 1
        where[leaf] = position[name]
    if not constants.keys().isdisjoint(input_names):
        clash = sorted(set(input_names).intersection(constants))[0]
        raise GraphError(f"an input is named {clash!r}, which is the name of a constant")
    base = count + len(constants)
    where.update(zip(operations, range(base, base + len(operations)), strict=True))
    given_names: dict[int, str] = {}
    taken = set(constants)
    named.sort(key=_creation)
    for expr in named:
        if expr.name in taken or expr.name in position:
            raise GraphError(f"two nodes are named {expr.name!r}")
        taken.add(expr.name)  # type: ignore[arg-type]
        given_names[where[expr]] = expr.name  # type: ignore[assignment]
    out = where[output]
    leaf_names = [*input_names, *constants]
    output_name = leaf_names[out] if out < base else output.name
    if output_name is None:
        free = output.group + OUTPUT_NAME  # like the formula's bare last expression
        if free not in position and free not in taken:
            output_name = given_names[out] = free
    ops = [INPUT] * count + [CONST] * len(constants)
    ops += map(_op_of, operations)
    first = [-1] * base
    first += map(where.__getitem__, map(_first_of, operations))
    second = [-1] * base
    second += map(where.__getitem__, map(_second_of, operations))
    groups = None
    if any(map(_group_of, operations)):
        groups = dict(zip(range(base, len(ops)), map(_group_of, operations), strict=True))
    namer = _Namer(leaf_names, given_names, groups)
    values = dict(zip(range(count, base), constants.values(), strict=True))
    return Graph._from_columns(ops, first, second, values, namer, out, output_name, tuple(input_names),
                               not extra)


class _Namer:
    """The names of a built graph's nodes, made when first read: leaves by their own names,
    operations by the names given to them, the others ``z1, z2, ...`` (with the group's
    prefix) in order, skipping names in use."""

    __slots__ = ("given", "groups", "leaves")

    def __init__(self, leaves: list[str], given: dict[int, str], groups: dict[int, str] | None):
        self.leaves, self.given, self.groups = leaves, given, groups

    def last(self, inputs: Sequence[str], size: int) -> str:
        """The name `__call__` gives the last of ``size`` nodes when it has no name of its own
        and no groups are used, without naming the others: the k-th ``z`` number not in use.

        >>> _Namer(["x", "z2"], {}, None).last(["x"], 4)
        'z3'
        """
        in_use = {*inputs, *self.leaves[len(inputs):], *self.given.values()}
        taken = sorted(int(name[1:]) for name in in_use
                       if name[:1] == "z" and name[1:].isascii() and name[1:].isdigit() and name[1:2] != "0")
        count = size - len(self.leaves) - len(self.given)
        for number in taken:
            if number <= count:
                count += 1
        return f"z{count}"

    def __call__(self, graph: Graph) -> list[str]:
        names = list(self.leaves)
        given, groups = self.given, self.groups
        in_use = graph.input_set.union(names[len(graph.inputs):], given.values())
        count = 0
        for i in range(len(names), len(graph)):
            name = given.get(i)
            if name is None:
                prefix = groups[i] if groups else ""
                count += 1
                name = f"{prefix}z{count}"
                while name in in_use:
                    count += 1
                    name = f"{prefix}z{count}"
            names.append(name)
        return names


def _input_order(read: list[str], given: Sequence[Expr | str] | None) -> list[str]:
    """The inputs' order: as read (each name once), or as ``given``, which must list them all."""
    if given is None:
        return read
    if isinstance(given, str):
        given = given.split()
    if isinstance(given, Expr) or not isinstance(given, Sequence):
        raise GraphTypeError(f"'inputs' takes a sequence of inputs or names, not {type(given).__name__}")
    for item in given:
        if isinstance(item, Expr) and item.op != INPUT:
            raise GraphError(f"'inputs' lists an {item.op} node; it takes inputs or their names")
    order = [_check_name(item.name if isinstance(item, Expr) else item) for item in given]
    if len(set(order)) != len(order):
        raise GraphError("an input is listed twice in 'inputs'")
    listed = set(order)
    unlisted = [name for name in read if name not in listed]
    if unlisted:
        raise GraphError(f"the output reads input {unlisted[0]!r}, which is not listed in 'inputs'")
    return order  # type: ignore[return-value]
