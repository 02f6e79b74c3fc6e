"""Compiled replay: a graph turned into one straight-line Python function, for graphs that
are evaluated many times (gradient descent, sliders, a calculator).

>>> from graphviz_grad import parse
>>> run = compile(parse("L = (x*W1 + y*W2 - B)**2"))
>>> trace = run.backward(dict(x=5, y=10, W1=0.1, W2=0.2, B=0.5))
>>> trace.gradients
{'x': 0.4, 'W1': 20.0, 'y': 0.8, 'W2': 40.0, 'B': -4.0}
>>> run.value_and_gradients([5.0, 0.1, 10.0, 0.2, 0.5])
(4.0, (0.4, 20.0, 0.8, 40.0, -4.0))

The code is generated from the op table and the graph's structure only: a node is a local
variable named by its position (``v3``, its gradient ``g3``), constants are written with
``float.__repr__`` of the validated float, and every rule that is not plain ``+ - *`` or
negation is called as the op table's own function. No node name or other user text ever
reaches the generated source, so a name cannot inject code.

The result is the interpreter's, bit for bit: the same rules, the same accumulation order
(every gradient starts at 0.0 and receives its contributions in the interpreter's order),
so the same values, gradients, statuses, kink conventions and strict-mode errors
(`graphviz_grad.engine.backward` is the reference; the tests compare both on random graphs
and programs). Work whose result is the same at every point is done while generating: a
gradient that is a constant (what ``+``, ``-`` and negation pass on from the output) is a
literal, and a gradient that is just another node's finished gradient is that variable.

Past `MAX_COMPILED_NODES` nodes (or `MAX_COMPILED_LINES` lines of code) the code would be large
and slow to compile; `compile` then returns a replay that runs the interpreter (``compiled`` is
False), with the same results.
"""

from __future__ import annotations

import builtins
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .engine import (
    _BINARY,
    _FIXED_BINARY,
    _FIXED_UNARY,
    _SWAPPED,
    _UNARY,
    Trace,
    _check_gradients,
    _check_values,
    _program,
    _start,
    backward,
)
from .errors import GraphError
from .graph import CONST, Graph
from .ops import _pow, _pow_partials

MAX_COMPILED_NODES = 20_000
"""Largest graph that `compile` turns into code; larger graphs replay with the interpreter."""
MAX_COMPILED_LINES = 8 * MAX_COMPILED_NODES
"""Longest generated source that `compile` compiles, in lines (past it: the interpreter).
Python's compiler needs about 100 bytes of memory per source character: 20,000 general binary
operations make 160,000 lines (5 MB, 0.6 GB to compile), but a power to a whole number writes
its forward and backward passes inline and took 360,000 lines (10 MB, 1.1 GB) at 20,000 nodes."""
PAYS_AFTER_RUNS = 1_000
"""Compiling costs about as much as a thousand runs of the interpreter, at any size (measured
by benchmarks/bench_engine.py): `replay_for` compiles only for at least this many runs."""

# Rules that Python's own operators compute bit for bit the same: written inline.
_INLINE: dict[Any, str] = {operator.add: "{0} + {1}", operator.sub: "{0} - {1}",
                           operator.mul: "{0} * {1}", operator.neg: "-{0}"}


class Replay:
    """A graph ready to be evaluated many times; from `compile`.

    ``source`` is the generated Python code (``None`` when the graph was too large to
    compile and the interpreter runs instead).

    ``value_and_gradients(values)`` gives the output's value and dL/dinput in ``graph.inputs``
    order: the fast path for a loop (no `Trace`). Values are a list of floats in that order
    (anything else, a mapping by name included, is checked and converted as the engine does).
    On a compiled replay it *is* the generated function, which checks its argument's types
    itself: no call in between.
    """

    __slots__ = ("_function", "compiled", "graph", "source", "value_and_gradients")

    value_and_gradients: Callable[[Mapping[str, Any] | Sequence[Any]], tuple[float, tuple[float, ...]]]

    def __init__(self, graph: Graph, source: str | None, function: Callable[..., Any] | None,
                 quick: Callable[..., Any] | None = None):
        self.graph = graph
        self.source = source
        self.compiled = function is not None
        self._function = function
        self.value_and_gradients = quick or self._interpreted

    def __repr__(self) -> str:
        how = "compiled" if self.compiled else "interpreted"
        return f"<Replay ({how}) of {len(self.graph)} nodes, output {self.graph.output!r}>"

    def _values(self, values: Mapping[str, Any] | Sequence[Any]) -> list[float]:
        return _start(self.graph, _program(self.graph), values)

    def backward(self, values: Mapping[str, Any] | Sequence[Any], *, strict: bool = False) -> Trace:
        """The same `Trace` as `graphviz_grad.engine.backward` (values as there: a mapping by
        input name or a sequence in input order)."""
        if self._function is None:
            return backward(self.graph, values, strict=strict)
        vals, grads = self._function(self._values(values))
        if strict:
            _check_values(self.graph, vals)
        trace = Trace(self.graph, vals, grads)
        if strict:
            _check_gradients(trace)
        return trace

    def forward(self, values: Mapping[str, Any] | Sequence[Any]) -> tuple[float, ...]:
        """Every node's value, as `graphviz_grad.engine.forward` gives them."""
        return self.backward(values).values

    def _interpreted(self, values: Mapping[str, Any] | Sequence[Any]) -> tuple[float, tuple[float, ...]]:
        """`value_and_gradients` of a replay that was not compiled."""
        trace = backward(self.graph, values)
        return trace.output_value, tuple(trace.grads[i] for _, i in _program(self.graph).inputs)


def compile(graph: Graph) -> Replay:  # noqa: A001 - the verb users look for
    """Generate, compile and cache straight-line code for ``graph``'s forward and backward
    passes. The result is cached on the graph: compiling twice costs nothing.

    >>> from graphviz_grad import parse
    >>> compile(parse("y = relu(x)")).backward({"x": 0.0}).gradients  # relu'(0) = 0 kept
    {'x': 0.0}
    """
    if not isinstance(graph, Graph):
        raise GraphError(f"compile needs a Graph (from parse or build), not {type(graph).__name__}")
    cached = graph._cache.get("compiled")
    if cached is not None:
        return cached
    source, namespace = generate(graph) if len(graph) <= MAX_COMPILED_NODES else ("", {})
    if not source or source.count("\n") > MAX_COMPILED_LINES:
        replay = Replay(graph, None, None)
    else:
        code = builtins.compile(source, "<graphviz_grad compiled graph>", "exec")
        exec(code, namespace)  # the source is ours: positions, float reprs and table functions only
        replay = Replay(graph, source, namespace["replay"], namespace["quick"])
    graph._cache["compiled"] = replay
    return replay


def _converter(graph: Graph, inputs: list[int]) -> Callable[[Any], list[float]]:
    """A function of the values a replay is given: the inputs' floats, checked and converted
    as the engine does (a mapping by name or a sequence in input order; an error otherwise)."""
    program = _program(graph)

    def convert(values: Any) -> list[float]:
        return [*map(_start(graph, program, values).__getitem__, inputs)]

    return convert


def replay_for(graph: Graph, runs: int) -> Replay:
    """A replay of ``graph`` for about ``runs`` evaluations: compiled when that pays.

    >>> from graphviz_grad import parse
    >>> replay_for(parse("y = x*x"), 10).compiled, replay_for(parse("y = x*x"), 10_000).compiled
    (False, True)
    """
    if runs >= PAYS_AFTER_RUNS or "compiled" in graph._cache:
        return compile(graph)
    return Replay(graph, None, None)


def generate(graph: Graph) -> tuple[str, dict[str, Any]]:
    """The source of ``replay(vals) -> (values, gradients)`` and the namespace it runs in
    (the op table's functions, under generated names)."""
    lines, gradients, constants, namespace = body(graph)
    program = _program(graph)
    n = len(graph)
    inputs = [i for _, i in program.inputs]
    unpack = f"{_targets(inputs, 'v')}, = " if inputs else ""
    floats = " or ".join(f"type(v{i}) is not float" for i in inputs)
    namespace.update(type=type, float=float, list=list, len=len, convert=_converter(graph, inputs))
    source = [
        "def replay(vals):",  # every node's value and gradient, from every node's starting value
        f"    {_targets(range(n), 'v')}, = vals",
        *lines,
        f"    return ({_targets(range(n), 'v')},), ({', '.join(gradients)},)",
        "",
        "def quick(xs):",  # the output's value and the inputs' gradients, from the inputs' values
        *([f"    if type(xs) is list and len(xs) == {len(inputs)}:",  # floats in input order: no call
           f"        {unpack}xs",
           f"        if {floats}:",
           f"            {unpack}convert(xs)",
           "    else:",
           f"        {unpack}convert(xs)"] if inputs else
          ["    if type(xs) is not list or xs:", "        convert(xs)"]),
        *constants,
        *lines,
        f"    return v{program.output}, ({''.join(gradients[i] + ', ' for i in inputs)})",
    ]
    return "\n".join(source) + "\n", namespace


def body(graph: Graph) -> tuple[list[str], list[str], list[str], dict[str, Any]]:
    """The forward-then-backward statements (indented once), each node's gradient as an
    expression, the constants' assignments, and the namespace the statements need."""
    program = _program(graph)
    n = len(graph)
    namespace: dict[str, Any] = {"__builtins__": {}}
    functions: dict[int, str] = {}  # id of a rule -> its name in the namespace

    def function(rule: Any) -> str:
        name = functions.get(id(rule))
        if name is None:
            name = functions[id(rule)] = f"f{len(functions)}"
            namespace[name] = rule
        return name

    def power(b: int) -> float | None:
        """The exponent when node ``b`` is a constant whole number other than 0, else None."""
        value = program.initial[b]
        if graph.nodes[b].op != CONST or not math.isfinite(value) or value != math.floor(value) or not value:
            return None
        return float(value)

    def raised(target: str, scale: str, base: int, exponent: float) -> list[str]:
        """``target = scale * _pow(v{base}, exponent)`` as _pow computes it for a whole exponent
        (its only branch then is ``**`` and the two errors it turns into numbers)."""
        namespace["PowErrors"] = (ZeroDivisionError, OverflowError)
        literal = _number(exponent)
        return ["    try:", f"        {target} = {scale}v{base} ** {literal}", "    except PowErrors:",
                f"        {target} = {scale}{function(_pow)}(v{base}, {literal})"]

    lines: list[str] = []  # the body both functions share: forward, then backward
    for i, rule, a, b in program.forward:
        if rule is _pow and power(b) is not None:
            lines += raised(f"v{i}", "", a, power(b))  # type: ignore[arg-type]
            continue
        arguments = (f"v{a}",) if b < 0 else (f"v{a}", f"v{b}")
        template = _INLINE.get(rule)
        expression = template.format(*arguments) if template else f"{function(rule)}({', '.join(arguments)})"
        lines.append(f"    v{i} = {expression}")
    gradient = _Gradients(program.live, program.output, lines, namespace)
    for i, kind, rule, a, b in program.backward:
        g = gradient.of(i)  # final: every node that reads node i came earlier in this loop
        if kind == _SWAPPED:
            gradient.add(a, g, f"v{b}")
            gradient.add(b, g, f"v{a}")
        elif kind == _FIXED_BINARY:
            gradient.add(a, g, rule[0])
            gradient.add(b, g, rule[1])
        elif kind == _FIXED_UNARY:
            gradient.add(a, g, rule[0])
        elif kind == _BINARY and rule is _pow_partials and power(b) is not None:
            exponent = power(b)  # d/da a**c = c*a**(c-1), 2*a for a square; d/dc is not needed
            if exponent == 2.0:
                lines.append(f"    p0 = 2.0 * v{a}")
            else:
                lines += raised("p0", f"{_number(exponent)} * ", a, exponent - 1.0)  # type: ignore[operator]
            gradient.add(a, g, "p0")
        elif kind == _BINARY:
            lines.append(f"    p0, p1 = {function(rule)}(v{a}, v{b}, v{i})")
            gradient.add(a, g, "p0")
            gradient.add(b, g, "p1")
        elif kind == _UNARY:
            lines.append(f"    p0, = {function(rule)}(v{a}, v{i})")
            gradient.add(a, g, "p0")
    gradients = [gradient.text(gradient.of(i)) for i in range(n)]
    inputs = {i for _, i in program.inputs}
    read = {*re.findall(r"\bv(\d+)\b", "\n".join(lines)), str(program.output)}  # not: only an exponent
    constants = [f"    v{i} = {_number(value)}" for i, value in enumerate(program.initial)
                 if i not in inputs and graph.nodes[i].op == CONST and str(i) in read]
    return lines, gradients, constants, namespace


class _Gradients:
    """The backward pass's gradients while its code is written: a gradient that is the same
    number at every point (the output's 1, and what add, sub and neg pass on from it) is
    worked out here, in the interpreter's order, and written as a literal; a gradient whose
    only contribution is another node's finished gradient is that variable (no statement);
    any other is a variable ``g{i}`` that starts at ``0.0 + first contribution``, as the
    interpreter's sum does, and adds the others in the interpreter's order.

    Both shortcuts are the interpreter's bits: ``0.0 + x`` is ``x`` unless ``x`` is -0.0, and a
    finished gradient never is -0.0 (its sum started at +0.0); ``x*1.0`` is ``x`` and
    ``x*-1.0`` is ``-x`` (up to the sign of a nan, which no output shows)."""

    def __init__(self, live: Sequence[bool], output: int, lines: list[str], namespace: dict[str, Any]):
        self.live, self.lines, self.namespace = live, lines, namespace
        self.known: dict[int, float] = {output: 1.0}  # gradients that are constants
        self.alias: dict[int, str] = {}  # gradients that are another's finished gradient
        self.variable: set[int] = set()  # gradients held in g{i}

    def of(self, i: int) -> float | str:
        """Node i's gradient so far: a number, or the name of the variable that holds it."""
        if i in self.variable:
            return f"g{i}"
        return self.alias.get(i) or self.known.get(i, 0.0)

    def text(self, value: float | str) -> str:
        """A gradient as source text (a literal, or a variable of the namespace if not finite)."""
        if type(value) is str:
            return value
        if math.isfinite(value):  # type: ignore[arg-type]
            return _number(value)  # type: ignore[arg-type]
        name = f"k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def add(self, target: int, g: float | str, factor: float | str) -> None:
        """Add the contribution ``g * factor`` (g: a gradient from `of`; factor: a number or
        the source of a value) to node ``target``'s gradient."""
        if not self.live[target]:
            return  # the interpreter hands constants partials, then zeroes them
        if type(g) is float and type(factor) is float:
            term: float | str = g * factor  # as the interpreter multiplies: same bits
        elif factor == 1.0:
            term = g
        elif g == 1.0:
            term = factor
        elif factor == -1.0 or g == -1.0:
            term = f"-{self.text(g if factor == -1.0 else factor)}"
        else:
            term = f"{self.text(g)} * {self.text(factor)}"
        finished = type(term) is str and type(g) is str and term == g  # another's finished gradient
        if target in self.variable:
            self.lines.append(f"    g{target} += {self.text(term)}")
        elif target in self.known or target in self.alias:
            before = self.of(target)
            if type(before) is float and type(term) is float:
                self.known[target] = before + term
                return
            self.known.pop(target, None)
            self.alias.pop(target, None)
            self.variable.add(target)
            self.lines.append(f"    g{target} = {self.text(before)} + {self.text(term)}")
        elif type(term) is float:
            self.known[target] = 0.0 + term
        elif finished:
            self.alias[target] = term  # type: ignore[assignment]
        else:
            self.variable.add(target)
            self.lines.append(f"    g{target} = 0.0 + {term}")  # 0.0 + x, as the interpreter's first sum


def _targets(positions: Sequence[int], prefix: str) -> str:
    return ", ".join(f"{prefix}{i}" for i in positions)


def _number(value: float) -> str:
    """A float as source text: its repr, which reads back as the same float."""
    text = float.__repr__(float(value))
    if text in ("inf", "-inf", "nan"):
        raise GraphError(f"cannot write the partial {text} as a literal")  # table partials are finite
    return f"({text})"
