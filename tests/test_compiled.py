"""Compiled replay gives the interpreter's trace bit for bit: values, gradients, statuses,
kink conventions and strict-mode errors, on random graphs and at special points."""

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad import compiled
from graphviz_grad.errors import NumericError

from .trees import NAMES, to_expr
from .trees import trees as _trees

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.5, 1e300, -1e300, 1e-310, math.inf, -math.inf, math.nan]


def trees():
    return _trees(constants=(0.5, 2.0, 3.0, -1.5, 0.0, -2.0), max_leaves=12)


def bits(numbers):
    """Exact bit patterns, except that every nan is one nan (payloads are not a promise)."""
    return tuple("nan" if x != x else struct.pack("<d", x) for x in numbers)


def assert_same(graph, values):
    expected = gg.backward(graph, values)
    got = gg.compile(graph).backward(values)
    assert bits(got.values) == bits(expected.values)
    assert bits(got.grads) == bits(expected.grads)
    assert [got.status(n.name) for n in graph] == [expected.status(n.name) for n in graph]
    point = [float(values[name]) for name in graph.inputs] if isinstance(values, dict) else list(values)
    value, gradients = gg.compile(graph).value_and_gradients(point)
    assert bits([value, *gradients]) == bits([expected.output_value, *expected.gradients.values()])
    try:
        gg.backward(graph, values, strict=True)
    except NumericError as error:
        with pytest.raises(NumericError) as raised:
            gg.compile(graph).backward(values, strict=True)
        assert str(raised.value) == str(error)
    else:
        assert gg.compile(graph).backward(values, strict=True) == expected


@settings(max_examples=300, deadline=None)
@given(trees(), st.lists(st.sampled_from(SPECIAL) | st.floats(-4, 4), min_size=3, max_size=3))
def test_compiled_replay_is_the_interpreter_bit_for_bit(tree, point):
    leaves = dict(zip(NAMES, gg.inputs(NAMES)))
    expr = to_expr(tree, leaves)
    if not isinstance(expr, gg.Expr) or not expr.args:
        expr = expr + 0.0
    graph = gg.build(expr, inputs=list(NAMES))
    assert_same(graph, point)


@pytest.mark.parametrize("formula, values", [
    ("y = relu(x)", {"x": 0.0}),
    ("y = abs(x)", {"x": 0.0}),
    ("y = max(x, z)", {"x": 1.0, "z": 1.0}),
    ("y = sqrt(x)", {"x": 0.0}),
    ("y = x**0", {"x": 0.0}),
    ("y = x*x + x", {"x": -0.0}),
    ("y = log(x) + 1/x", {"x": -1.0}),
    ("L = (x*W1 + y*W2 - B)**2", {"x": 5, "y": 10, "W1": 0.1, "W2": 0.2, "B": 0.5}),
    ("a = 2*3; b = x*0; y = a + b", {"x": math.inf}),
    ("x", {"x": 2.0}),
    ("2", {}),
])
def test_kinks_statuses_and_corner_graphs(formula, values):
    assert_same(gg.parse(formula), values)


def test_names_never_reach_the_generated_source():
    hostile = "x\"); import os; os.system('true') #"
    x = gg.inputs([hostile])[0]
    graph = gg.build((x * 2 + 1).named("__import__('os')"))
    replay = gg.compile(graph)
    assert replay.compiled and "os" not in replay.source and "import" not in replay.source
    assert replay.backward([3.0]).gradients == {hostile: 2.0}


def test_compiling_is_cached_and_large_graphs_fall_back_to_the_interpreter(monkeypatch):
    graph = gg.parse("y = x*x")
    assert gg.compile(graph) is gg.compile(graph)
    monkeypatch.setattr(compiled, "MAX_COMPILED_NODES", 2)
    big = gg.parse("y = x*x + 1")
    replay = gg.compile(big)
    assert not replay.compiled and replay.source is None
    assert replay.backward([3.0]) == gg.backward(big, [3.0])
    assert replay.value_and_gradients([3.0]) == (10.0, (6.0,))


def test_code_past_the_line_cap_falls_back_to_the_interpreter(monkeypatch):
    # whole powers write ~9 lines per node per function: at the node cap, 10 MB of source and
    # 1.1 GB to compile it; a chain of general binary operations of the same length fits
    monkeypatch.setattr(compiled, "MAX_COMPILED_NODES", 12)
    monkeypatch.setattr(compiled, "MAX_COMPILED_LINES", 8 * 12)
    def chain(step):
        return "\n".join(["s0 = x" + step, *(f"s{k} = s{k - 1}{step}" for k in range(1, 10))])

    divisions, powers = gg.parse(chain("/y")), gg.parse(chain("**3"))
    assert len(divisions) == len(powers) == 12
    assert gg.compile(divisions).compiled
    replay = gg.compile(powers)
    assert not replay.compiled and replay.source is None
    assert replay.backward([1.5]) == gg.backward(powers, [1.5])


def test_forward_and_value_and_gradients_match_the_engine():
    graph = gg.parse("c = a*b; L = sin(c) + a")
    replay = gg.compile(graph)
    assert replay.forward({"a": 2, "b": 3}) == gg.forward(graph, {"a": 2, "b": 3})
    trace = gg.backward(graph, [2.0, 3.0])
    assert replay.value_and_gradients([2.0, 3.0]) == (trace.output_value, tuple(trace.gradients.values()))
    assert "Replay (compiled)" in repr(replay)


def test_compile_takes_only_a_graph():
    with pytest.raises(gg.GraphError, match="compile needs a Graph"):
        gg.compile("y = x")


def test_descend_compiles_long_runs_with_the_same_history(monkeypatch):
    seed = "L = (x*W1 + y*W2 - B)**2"
    start = {"x": 5, "y": 10, "W1": 0.1, "W2": 0.2, "B": 0.5}
    monkeypatch.setattr(compiled, "PAYS_AFTER_RUNS", 10**9)
    interpreted = gg.descend(seed, start, steps=50)
    monkeypatch.setattr(compiled, "PAYS_AFTER_RUNS", 1)
    graph = gg.parse(seed)
    run = gg.descend(graph, start, steps=50)
    assert "compiled" in graph._cache  # the run used compiled code
    assert run.history == interpreted.history and run.message == interpreted.message


@st.composite
def programs(draw):
    """Programs whose statements read earlier statements (fan-out, shared subexpressions,
    statements the output never reads): where gradients are constants, aliases and sums."""
    statements: list[str] = []
    for k in range(draw(st.integers(1, 5))):
        names = [*NAMES, *(f"s{j}" for j in range(k))]
        tree = draw(_trees(constants=(0.5, 2.0, -1.0, 1.0, 0.0), max_leaves=6))
        statements.append(f"s{k} = {_text(tree, names, draw)} + 0")
    return "\n".join(statements)


def _text(tree, names, draw):
    if isinstance(tree, str):
        return draw(st.sampled_from(names))
    if isinstance(tree, float):
        return f"({tree!r})"
    op, *args = tree
    return f"{op}({', '.join(_text(arg, names, draw) for arg in args)})" if op in gg.ops.FUNCTIONS else \
        f"({_text(args[0], names, draw)} {gg.ops.OPS[op].operator} {_text(args[-1], names, draw)})" \
        if len(args) == 2 else f"(-{_text(args[0], names, draw)})"


@settings(max_examples=300, deadline=None)
@given(programs(), st.lists(st.sampled_from(SPECIAL) | st.floats(-4, 4), min_size=3, max_size=3))
def test_programs_with_fan_out_replay_bit_for_bit(program, point):
    graph = gg.parse(program)
    values = dict(zip(NAMES, point, strict=True))
    assert_same(graph, {name: values[name] for name in graph.inputs})


def test_a_constant_gradient_past_float64_is_written_as_inf():
    # each statement doubles x's gradient: 2**1100 overflows to inf, a literal Python cannot write
    text = "\n".join(["s0 = x + x", *(f"s{k} = s{k - 1} + s{k - 1}" for k in range(1, 1100))])
    graph = gg.parse(text)
    assert_same(graph, {"x": 1.0})
    assert gg.compile(graph).value_and_gradients([1.0])[1] == (math.inf,)


@pytest.mark.parametrize("values", [[2, 3], (2.0, 3.0), {"a": 2, "b": 3.0}, [2.0, 3], [True, 3.0], [2.0],
                                    ["2", 3.0], [2.0, 10**400], "ab"])
def test_value_and_gradients_checks_and_converts_as_the_engine_does(values):
    graph = gg.parse("L = a*b + a")
    try:
        trace = gg.backward(graph, values)
    except gg.InputValueError as error:
        with pytest.raises(gg.InputValueError) as raised:
            gg.compile(graph).value_and_gradients(values)
        assert str(raised.value) == str(error)
    else:
        value, gradients = gg.compile(graph).value_and_gradients(values)
        assert bits([value, *gradients]) == bits([trace.output_value, *trace.gradients.values()])
