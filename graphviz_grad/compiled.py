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
(`graphviz_grad.engine.backward` is the reference; the tests compare both on random graphs).

Past `MAX_COMPILED_NODES` nodes the code would be large and slow to compile; `compile` then
returns a replay that runs the interpreter (``compiled`` is False), with the same results.
"""

from __future__ import annotations

import builtins
import operator
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

MAX_COMPILED_NODES = 20_000
"""Largest graph that `compile` turns into code; larger graphs replay with the interpreter."""
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
    """

    __slots__ = ("_function", "_quick", "compiled", "graph", "source")

    def __init__(self, graph: Graph, source: str | None, function: Callable[..., Any] | None,
                 quick: Callable[..., Any] | None = None):
        self.graph = graph
        self.source = source
        self.compiled = function is not None
        self._function = function
        self._quick = quick

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

    def value_and_gradients(self, values: Sequence[float]) -> tuple[float, tuple[float, ...]]:
        """The output's value and dL/dinput in ``graph.inputs`` order, for floats given in
        that order: the fast path for a loop (no `Trace`, no checks beyond the engine's)."""
        program = _program(self.graph)
        if self._quick is None:
            trace = backward(self.graph, values)
            return trace.output_value, tuple(trace.grads[i] for _, i in program.inputs)
        if (type(values) is not list or len(values) != len(program.inputs)
                or not set(map(type, values)) <= {float}):
            start = self._values(values)  # checked and converted as the engine does
            values = [start[i] for _, i in program.inputs]
        return self._quick(values)  # type: ignore[no-any-return]


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
    if len(graph) > MAX_COMPILED_NODES:
        replay = Replay(graph, None, None)
    else:
        source, namespace = generate(graph)
        code = builtins.compile(source, "<graphviz_grad compiled graph>", "exec")
        exec(code, namespace)  # the source is ours: positions, float reprs and table functions only
        replay = Replay(graph, source, namespace["replay"], namespace["quick"])
    graph._cache["compiled"] = replay
    return replay


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

    lines: list[str] = []  # the body both functions share: forward, then backward
    for i, rule, a, b in program.forward:
        arguments = (f"v{a}",) if b < 0 else (f"v{a}", f"v{b}")
        template = _INLINE.get(rule)
        expression = template.format(*arguments) if template else f"{function(rule)}({', '.join(arguments)})"
        lines.append(f"    v{i} = {expression}")
    live = program.live
    received: set[int] = set()

    def add(target: int, term: str) -> None:
        if not live[target]:
            return  # the interpreter hands constants partials, then zeroes them
        if target in received:
            lines.append(f"    g{target} += {term}")
        else:
            received.add(target)
            lines.append(f"    g{target} = 0.0 + {term}")  # 0.0 + x, as the interpreter's first sum

    def times(g: str, factor: str) -> str:
        """g * factor as source: x*1.0 is x and x*-1.0 is -x in IEEE arithmetic (bit for bit,
        up to the sign of a nan, which no output shows), so those products are left out."""
        if factor == "(1.0)":
            return g
        if factor == "(-1.0)":
            return f"-{g}" if g != "1.0" else "-1.0"
        return factor if g == "1.0" else f"{g} * {factor}"

    for i, kind, rule, a, b in program.backward:
        g = "1.0" if i == program.output else f"g{i}"
        if i != program.output and i not in received:
            received.add(i)
            lines.append(f"    g{i} = 0.0")
        if kind == _SWAPPED:
            add(a, times(g, f"v{b}"))
            add(b, times(g, f"v{a}"))
        elif kind == _FIXED_BINARY:
            add(a, times(g, _number(rule[0])))
            add(b, times(g, _number(rule[1])))
        elif kind == _FIXED_UNARY:
            add(a, times(g, _number(rule[0])))
        elif kind == _BINARY:
            lines.append(f"    p0, p1 = {function(rule)}(v{a}, v{b}, v{i})")
            add(a, times(g, "p0"))
            add(b, times(g, "p1"))
        elif kind == _UNARY:
            lines.append(f"    p0, = {function(rule)}(v{a}, v{i})")
            add(a, times(g, "p0"))
    gradients = ["1.0" if i == program.output else f"g{i}" if i in received else "0.0" for i in range(n)]
    inputs = [i for _, i in program.inputs]
    constants = [f"    v{i} = {_number(value)}" for i, value in enumerate(program.initial)
                 if i not in set(inputs) and graph.nodes[i].op == CONST]
    source = [
        "def replay(vals):",  # every node's value and gradient, from every node's starting value
        f"    {_targets(range(n), 'v')}, = vals",
        *lines,
        f"    return ({_targets(range(n), 'v')},), ({', '.join(gradients)},)",
        "",
        "def quick(xs):",  # the output's value and the inputs' gradients, from the inputs' values
        *([f"    {_targets(inputs, 'v')}, = xs"] if inputs else []),
        *constants,
        *lines,
        f"    return v{program.output}, ({''.join(gradients[i] + ', ' for i in inputs)})",
    ]
    return "\n".join(source) + "\n", namespace


def _targets(positions: Sequence[int], prefix: str) -> str:
    return ", ".join(f"{prefix}{i}" for i in positions)


def _number(value: float) -> str:
    """A float as source text: its repr, which reads back as the same float."""
    text = float.__repr__(float(value))
    if text in ("inf", "-inf", "nan"):
        raise GraphError(f"cannot write the partial {text} as a literal")  # table partials are finite
    return f"({text})"
