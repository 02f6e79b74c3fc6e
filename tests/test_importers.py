"""Graphs imported from micrograd and from plain Python functions: our gradients agree with
the source framework's (micrograd's MLP demo) and with hand-checked values."""

import math
import random

import pytest

import graphviz_grad as gg

micrograd = pytest.importorskip("micrograd.engine")  # the 'micrograd' extra (also in 'test')
from micrograd.engine import Value  # noqa: E402
from micrograd.nn import MLP  # noqa: E402


def test_from_micrograd_reproduces_micrograds_gradients_on_the_mlp_demo():
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    rng = random.Random(7)
    samples = [(rng.uniform(-2, 2), rng.uniform(-2, 2)) for _ in range(20)]
    targets = [rng.uniform(-1, 1) for _ in samples]
    loss = sum((model([Value(a), Value(b)]) - y) ** 2 for (a, b), y in zip(samples, targets))
    loss.backward()
    trace = gg.from_micrograd(loss)
    assert trace.output_value == pytest.approx(loss.data, rel=1e-12)
    graph = trace.graph
    by_id = {}
    for p in model.parameters():  # each parameter is a leaf; find it by its value and gradient
        by_id[id(p)] = p
    leaves = [node.name for node in graph if node.op == "input"]
    assert len(leaves) >= len(model.parameters())
    ours = sorted((trace.value(n), trace.grad(n)) for n in leaves)
    theirs = sorted((float(p.data), float(p.grad)) for p in model.parameters())
    matched = 0
    for value, grad in theirs:
        close = [g for v, g in ours if v == value]
        assert any(g == pytest.approx(grad, rel=1e-9, abs=1e-12) for g in close)
        matched += 1
    assert matched == len(model.parameters())


def test_labels_name_the_nodes_and_x_times_x_keeps_both_arguments():
    a = Value(3.0)
    a.label = "a"
    b = a * a + a
    b.label = "b"
    c = (b ** 2).relu()
    trace = gg.from_micrograd(c)
    c.backward()
    assert trace.graph.output == "z2" or trace.output_value == c.data
    assert trace.gradients == {"a": pytest.approx(a.grad)}
    assert "b" in trace.graph and trace.graph["b"].op == "add"
    mul = next(node for node in trace.graph if node.op == "mul")
    assert mul.inputs == ("a", "a")
    assert trace.graph[next(n.name for n in trace.graph if n.op == "pow")].inputs[1] == "2"


def test_relu_at_zero_and_unsupported_ops():
    x = Value(0.0)
    y = x.relu()
    y.backward()
    assert gg.from_micrograd(y).gradients == {"v1": 0.0} == {"v1": float(x.grad)}
    odd = Value(1.0, (x,), "sinh")
    with pytest.raises(gg.GraphError, match="micrograd op 'sinh' is not supported"):
        gg.from_micrograd(odd)
    with pytest.raises(gg.GraphError, match="needs a micrograd Value"):
        gg.from_micrograd(3.0)


def test_a_deep_chain_imports_without_recursion():
    x = Value(1.0)
    x.label = "x"
    y = x
    for _ in range(20_000):
        y = y * 0.5 + 0.5
    trace = gg.from_micrograd(y)
    assert len(trace.graph) > 40_000 and trace.gradients["x"] == 0.5**20_000


def test_trace_runs_a_python_function_with_math_calls():
    def loss(w, b, x):
        return (math.tanh(w * x + b) - 0.5) ** 2 + abs(w) + max(w, b)

    trace = gg.trace(loss, w=0.3, b=-0.1, x=2.0)
    t = math.tanh(0.3 * 2.0 - 0.1)
    assert trace.output_value == pytest.approx(loss(0.3, -0.1, 2.0))
    assert trace.gradients["b"] == pytest.approx(2 * (t - 0.5) * (1 - t * t))
    assert trace.gradients["w"] == pytest.approx(2 * (t - 0.5) * (1 - t * t) * 2.0 + 1.0 + 1.0)
    assert gg.check(trace.graph, trace.gradients and {"w": 0.3, "b": -0.1, "x": 2.0}).ok


def test_trace_errors_are_one_line_and_name_the_problem():
    with pytest.raises(gg.GraphError, match=r"math\.atan is not supported"):
        gg.trace(lambda x: math.atan(x), x=1.0)
    with pytest.raises(gg.GraphError, match=r"tracing .* failed"):
        gg.trace(lambda x: x if x > 0 else -x, x=1.0)
    with pytest.raises(gg.GraphError, match="returned float"):
        gg.trace(lambda x: 3.0, x=1.0)
    with pytest.raises(gg.GraphError, match="needs a function"):
        gg.trace(5, x=1.0)
    assert gg.trace(lambda x: x, x=2.0).gradients == {"x": 1.0}


def test_importers_given_the_wrong_kind_of_object_raise_type_errors():
    with pytest.raises(TypeError, match="trace needs a function, not int"):
        gg.trace(5, x=1.0)
    with pytest.raises(TypeError, match="from_torch needs a PyTorch tensor, not float"):
        gg.from_torch(1.0)
    with pytest.raises(TypeError):
        gg.from_micrograd(1.0)


def test_trace_records_math_pow_as_a_power():
    traced = gg.trace(lambda x, y: math.pow(x, 2) + math.pow(y, x), x=3.0, y=2.0)
    assert traced.output_value == 17.0
    assert traced.gradients == pytest.approx({"x": 6 + 8 * math.log(2), "y": 12.0})
