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

from .errors import GraphError
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
        raise GraphError(f"a node name must be a string, not {type(name).__name__}")
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
    """

    __slots__ = ("__weakref__", "_args", "_cache", "_index", "input_set", "inputs", "nodes", "output")

    def __init__(self, nodes: Iterable[Node], output: str):
        if not isinstance(nodes, Iterable) or isinstance(nodes, (str, bytes)):
            raise GraphError(f"a Graph needs an iterable of Node objects, not {type(nodes).__name__}")
        if not isinstance(output, str):
            raise GraphError(f"the output must be a node name, not {output!r}")
        index: dict[str, int] = {}
        args: list[tuple[int, ...]] = []
        checked: list[Node] = []
        for position, node in enumerate(nodes):
            node = self._validate(node, index)
            checked.append(node)
            args.append(tuple(index[arg] for arg in node.inputs))
            index[node.name] = position
        self.nodes: tuple[Node, ...] = tuple(checked)
        self._finish(index, args, output)

    @classmethod
    def _built(cls, nodes: list[Node], output: str, args: list[tuple[int, ...]] | None = None,
               inputs: tuple[str, ...] | None = None) -> Graph:
        """A graph from `build` or `parse`, whose nodes are valid by construction: skip the
        checks. ``args`` are the argument positions when the caller already has them."""
        graph = cls.__new__(cls)
        graph.nodes = tuple(nodes)
        index = dict(zip([node[0] for node in graph.nodes], range(len(graph.nodes)), strict=True))
        if len(index) != len(graph.nodes):  # build() keeps names unique; this guards the promise
            raise GraphError("two nodes share a name")
        if args is None:
            position_of = index.__getitem__
            args = [tuple(map(position_of, node.inputs)) for node in graph.nodes]
        graph._finish(index, args, output, inputs)
        return graph

    def _finish(self, index: dict[str, int], args: list[tuple[int, ...]], output: str,
                inputs: tuple[str, ...] | None = None) -> None:
        if output not in index:
            raise GraphError(f"the output {output!r} is not a node of the graph")
        self.output: str = output
        if inputs is None:
            inputs = tuple(node.name for node in self.nodes if node.op == INPUT)
        self.inputs: tuple[str, ...] = inputs
        """Names of the input nodes, in order."""
        self.input_set: frozenset[str] = frozenset(self.inputs)
        self._index = index
        self._args = tuple(args)
        self._cache: dict[str, Any] = {}  # derived data memoised by other modules

    def __reduce__(self) -> tuple[Any, ...]:
        return (Graph, (self.nodes, self.output))  # the cache is rebuilt, not pickled

    @staticmethod
    def _validate(node: Node, index: dict[str, int]) -> Node:
        """Check one node against the nodes before it; return it with a float value."""
        if not isinstance(node, Node):
            raise GraphError(f"graph nodes must be Node objects, not {type(node).__name__}")
        name = _check_name(node.name)
        if name in index:
            raise GraphError(f"two nodes are named {name!r}")
        if not isinstance(node.inputs, tuple) or not all(isinstance(arg, str) for arg in node.inputs):
            raise GraphError(f"node {name!r}: inputs must be a tuple of node names")
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
    def arg_indices(self) -> tuple[tuple[int, ...], ...]:
        """For each node, the positions of its arguments."""
        return self._args

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
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self.output == other.output and self.nodes == other.nodes

    def __hash__(self) -> int:
        return hash((self.output, len(self.nodes), self.nodes[-1]))

    def __repr__(self) -> str:
        return f"<Graph of {len(self.nodes)} nodes, output {self.output!r}>"

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

    __slots__ = ("_seq", "args", "group", "name", "op", "value")

    def __init__(self, op: str, args: tuple[Expr, ...] = (), value: float | None = None,
                 name: str | None = None):
        self.op = op
        self.args = args
        self.value = value
        self.group = _GROUP.get() if op != CONST else ""  # constants are shared: in no group
        self.name = _check_name(self.group + name) if name is not None and self.group else name
        self._seq = next(_creation_order)

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

    def __add__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        return _make("add", (self, other))

    def __radd__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        return _make("add", (other, self))

    def __sub__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        return _make("sub", (self, other))

    def __rsub__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        return _make("sub", (other, self))

    def __mul__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        return _make("mul", (self, other))

    def __rmul__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        return _make("mul", (other, self))

    def __truediv__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        return _make("div", (self, other))

    def __rtruediv__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        return _make("div", (other, self))

    def __pow__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        return _make("pow", (self, other))

    def __rpow__(self, other: Any) -> Expr:
        if type(other) is not Expr:
            other = _operand(other)
            if other is None:
                return NotImplemented
        return _make("pow", (other, self))

    def __neg__(self) -> Expr:
        return _make("neg", (self,))

    def __pos__(self) -> Expr:
        return self

    def __abs__(self) -> Expr:
        return _make("abs", (self,))

    def __bool__(self) -> bool:
        raise TypeError("an Expr has no truth value: use max/min/relu instead of comparisons")


def _make(op: str, args: tuple[Expr, ...]) -> Expr:
    """A new operation, without `Expr.__init__`'s keyword handling (operators make millions)."""
    expr = _new_expr(Expr)
    expr.op = op
    expr.args = args
    expr.value = expr.name = None
    expr.group = _GROUP.get()
    expr._seq = _next_seq()
    return expr


def _operand(value: Any) -> Expr | None:
    """The value as an expression (numbers become constants), or None if it cannot be one."""
    kind = type(value)
    if kind is Expr:
        return value
    if kind is float and -_BIG <= value <= _BIG:  # the common case, finite, without const()'s checks
        expr = _new_expr(Expr)
        expr.op, expr.args, expr.value, expr.name, expr._seq = CONST, (), value, None, _next_seq()
        expr.group = ""  # constants are shared: in no group
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
        raise GraphError(f"a constant must be a real number, not {value!r}")
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
    if not isinstance(names, str) and not (isinstance(names, Sequence) and not isinstance(names, bytes)):
        raise GraphError(f"inputs takes a string of names or a sequence of names, not {names!r}")
    listed = names.split() if isinstance(names, str) else names
    return tuple(Expr(INPUT, name=_check_name(name)) for name in listed)  # prefixed inside a group


def apply(op: str, *args: Any) -> Expr:
    """Apply the op called ``op`` (a key of `graphviz_grad.ops.OPS`) to expressions or numbers.

    >>> apply("max", inputs("a")[0], 0).op
    'max'
    """
    rule = OPS.get(op) if isinstance(op, str) else None
    if rule is None:
        raise GraphError(f"unknown op {op!r}")
    if len(args) != rule.arity:
        raise GraphError(f"{op} takes {rule.arity} argument(s), got {len(args)}")
    operands = tuple(_operand(arg) for arg in args)
    for arg, operand in zip(args, operands, strict=True):
        if operand is None:
            raise GraphError(f"{op} needs expressions or real numbers, not {arg!r}")
    return Expr(op, operands)  # type: ignore[arg-type]


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


def _reading_order(roots: Sequence[Expr]) -> tuple[list[Expr], list[Expr], bool]:
    """One walk from the roots: every operation they depend on, the leaves in the order a
    reader meets them (left to right, depth first), and whether an operation other than
    the first root has a name of its own (then statements decide the leaves' order)."""
    seen: set[Expr] = set()
    add = seen.add
    operations: list[Expr] = []
    leaves: list[Expr] = []
    named_inside = len(roots) > 1
    first = roots[0]
    stack = list(reversed(roots))
    while stack:
        expr = stack.pop()
        if expr in seen:
            continue
        add(expr)
        args = expr.args
        if args:
            operations.append(expr)
            if expr.name is not None and expr is not first:
                named_inside = True
            stack += args[::-1]
        else:
            leaves.append(expr)
    return operations, leaves, named_inside


def _leaves_in_reading_order(roots: Sequence[Expr]) -> list[Expr]:
    """Leaves in the order a reader meets them: statement by statement (a statement being
    a named operation, an extra root or the output, in creation order), left to right."""
    seen = set(roots)
    leaves: list[Expr] = []
    for root in roots:
        stack = list(reversed(root.args)) if root.args else [root]
        if not root.args:
            seen.discard(root)
        while stack:
            expr = stack.pop()
            if expr in seen:
                continue
            seen.add(expr)
            if expr.args:
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
        raise GraphError(f"build needs an Expr, not {type(output).__name__}")
    extra: list[Expr] = []
    if type(also) is Expr:
        raise GraphError("'also' takes a sequence of expressions, not Expr")
    if also:
        if not isinstance(also, Sequence):
            raise GraphError(f"'also' takes a sequence of expressions, not {type(also).__name__}")
        extra = list(also)
        for expr in extra:
            if not isinstance(expr, Expr):
                raise GraphError(f"'also' takes expressions, not {type(expr).__name__}")
    elif also is not None and not isinstance(also, Sequence):
        raise GraphError(f"'also' takes a sequence of expressions, not {type(also).__name__}")
    collecting = gc.isenabled()
    gc.disable()  # a build makes no cycles; the collector would only rescan the new nodes
    try:
        return _freeze(output, inputs, extra)
    finally:
        if collecting:
            gc.enable()


def _freeze(output: Expr, given: Sequence[Expr | str] | None, extra: list[Expr]) -> Graph:
    operations, leaves, statements = _reading_order([output, *extra])
    creation = operator.attrgetter("_seq")
    operations.sort(key=creation)  # in evaluation order already, for one expression: a linear pass
    named = [e for e in operations if e.name is not None]
    if statements:
        leaves = _leaves_in_reading_order(sorted({*named, output, *extra}, key=creation))

    input_names = _input_order(leaves, given)
    names: dict[Expr, str] = {}
    constants: dict[str, float] = {}
    constant_names: dict[float, str] = {}  # chains repeat a constant many times
    for leaf in leaves:
        if leaf.op == INPUT:
            names[leaf] = leaf.name  # type: ignore[assignment]
        else:
            value: float = leaf.value  # type: ignore[assignment]
            name = constant_names.get(value) if value else None  # 0.0 == -0.0, names differ
            if name is None:
                name = constant_names[value] = constant_name(value)
            names[leaf] = name
            constants.setdefault(name, value)
    in_use = set(input_names)
    if not in_use.isdisjoint(constants):
        clash = sorted(in_use.intersection(constants))[0]
        raise GraphError(f"an input is named {clash!r}, which is the name of a constant")
    in_use.update(constants)
    for expr in named:
        if expr.name in in_use:
            raise GraphError(f"two nodes are named {expr.name!r}")
        in_use.add(expr.name)  # type: ignore[arg-type]
    if output.args and output.name is None and output.group + OUTPUT_NAME not in in_use:
        names[output] = output.group + OUTPUT_NAME  # like the formula's bare last expression
        in_use.add(names[output])
    make = tuple.__new__  # Node(...) without the keyword handling: a million nodes add up
    nodes = [make(Node, (name, INPUT, (), None)) for name in input_names]
    nodes += [make(Node, (name, CONST, (), value)) for name, value in constants.items()]
    node_names = [node.name for node in nodes]
    position = {name: i for i, name in enumerate(node_names)}
    where: dict[Expr, int] = {leaf: position[names[leaf]] for leaf in leaves}
    args: list[tuple[int, ...]] = [()] * len(nodes)
    append_node, append_args, append_name = nodes.append, args.append, node_names.append
    name_at, where_of = node_names.__getitem__, where.__getitem__
    output_name = names.get(output)
    count = 0
    for i, expr in enumerate(operations, len(nodes)):
        name = expr.name
        if name is None:
            if expr is output and output_name is not None:
                name = output_name  # "L" (in the output's group)
            else:
                count += 1
                name = f"{expr.group}z{count}"
                while name in in_use:
                    count += 1
                    name = f"{expr.group}z{count}"
        where[expr] = i
        positions = tuple(map(where_of, expr.args))
        append_args(positions)
        append_name(name)
        append_node(make(Node, (name, expr.op, tuple(map(name_at, positions)), None)))
    return Graph._built(nodes, node_names[where[output]], args, tuple(input_names))


def _input_order(leaves: list[Expr], given: Sequence[Expr | str] | None) -> list[str]:
    read = list(dict.fromkeys(e.name for e in leaves if e.op == INPUT))  # type: ignore[misc]
    if given is None:
        return read  # type: ignore[return-value]
    if isinstance(given, str):
        given = given.split()
    if isinstance(given, Expr) or not isinstance(given, Sequence):
        raise GraphError(f"'inputs' takes a sequence of inputs or names, not {type(given).__name__}")
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
