"""Published textbook and paper examples, run as a user would: the formula language, the builder,
the command line and the importers must reproduce the numbers their authors printed."""

import json
import math

import pytest

import graphviz_grad as gg

from .conftest import EXAMPLE_1, SEED
from .test_cli import run as cli

# micrograd's README (karpathy/micrograd): g.data 24.7041, a.grad 138.8338, b.grad 645.5773.
# Our names are assigned once, so its `c += ...` lines become c1, c2, c3.
MICROGRAD_README = """c1 = a + b
d1 = a*b + b**3
c2 = c1 + c1 + 1
c3 = c2 + 1 + c2 + -a
d2 = d1 + d1*2 + relu(b + a)
d3 = d2 + 3*d2 + relu(b - a)
e = c3 - d3
f = e**2
g1 = f/2.0
g = g1 + 10.0/f"""
MICROGRAD_PRINTED = (24.7041, 138.8338, 645.5773)

# CS231n "Backpropagation, Intuitions": the sigmoid neuron at w = (2, -3, -3), x = (-1, -2)
NEURON = "f = 1/(1 + exp(-(w0*x0 + w1*x1 + w2)))"
NEURON_AT = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}
NEURON_PRINTED = {"w0": -0.2, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.2}

MLP = ("h1 = tanh(w11*x1 + w12*x2 + b1); h2 = tanh(w21*x1 + w22*x2 + b2); "
       "yhat = v1*h1 + v2*h2 + c; L = (yhat - t)**2")
MLP_AT = {"w11": 0.1, "w12": -0.2, "w21": 0.3, "w22": 0.4, "b1": 0.0, "b2": 0.1, "v1": 0.5, "v2": -0.5,
          "c": 0.0, "x1": 1.0, "x2": 2.0, "t": 1.0}
LOGISTIC = "p = sigmoid(w1*x1 + w2*x2 + b); L = -(y*log(p) + (1 - y)*log(1 - p))"
LOGISTIC_AT = {"w1": 0.5, "w2": -0.3, "b": 0.1, "x1": 2.0, "x2": 1.0, "y": 1.0}
SOFTMAX = "e1 = exp(a1); e2 = exp(a2); e3 = exp(a3); s = e1 + e2 + e3; L = -log(e1/s)"


def at(values):
    return ",".join(f"{name}={value!r}" for name, value in values.items())


def micrograd_readme(a, b, relu):
    """The README's program, line for line, over any number type with + - * / ** and relu."""
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + relu(b + a)
    d += 3 * d + relu(b - a)
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g


def test_micrograd_readme_as_a_formula_matches_the_printed_numbers():
    trace = gg.grad(MICROGRAD_README, a=-4.0, b=2.0)
    printed = (trace.output_value, trace.gradients["a"], trace.gradients["b"])
    assert [round(number, 4) for number in printed] == list(MICROGRAD_PRINTED)
    assert gg.check(MICROGRAD_README, a=-4.0, b=2.0).ok


def test_micrograd_readme_with_the_builder_and_with_gg_trace():
    a, b = gg.inputs("a b")
    built = gg.backward(gg.build(micrograd_readme(a, b, gg.relu).named("g")), {"a": -4.0, "b": 2.0})
    traced = gg.trace(lambda a, b: micrograd_readme(a, b, gg.relu), a=-4.0, b=2.0)
    for trace in (built, traced):
        printed = (trace.output_value, trace.gradients["a"], trace.gradients["b"])
        assert [round(number, 4) for number in printed] == list(MICROGRAD_PRINTED)


def test_micrograd_readme_imported_from_micrograd():
    engine = pytest.importorskip("micrograd.engine")
    a, b = engine.Value(-4.0), engine.Value(2.0)
    g = micrograd_readme(a, b, lambda value: value.relu())
    trace = gg.from_micrograd(g)
    assert round(trace.output_value, 4) == MICROGRAD_PRINTED[0]
    assert sorted(round(grad, 4) for grad in trace.gradients.values())[-2:] == list(MICROGRAD_PRINTED[1:])


def test_cs231n_circuit_and_sigmoid_neuron_on_the_command_line(capsys):
    code, out, _ = cli(capsys, "grad", "f = (x + y)*z", "--at", "x=-2,y=5,z=-4", "--json")
    assert code == 0 and json.loads(out)["gradients"] == {"x": -4.0, "y": -4.0, "z": 3.0}
    for formula in (NEURON, "f = sigmoid(w0*x0 + w1*x1 + w2)"):
        code, out, _ = cli(capsys, "grad", formula, "--at", at(NEURON_AT), "--json")
        data = json.loads(out)
        assert code == 0 and data["value"] == pytest.approx(0.73105857863)
        assert {name: round(grad, 2) for name, grad in data["gradients"].items()} == NEURON_PRINTED
    assert cli(capsys, "check", NEURON, "--at", at(NEURON_AT))[0] == 0


def test_cs231n_sigmoid_neuron_written_in_pytorch():
    torch = pytest.importorskip("torch")
    leaves = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True)
              for name, value in NEURON_AT.items()}
    w0, x0, w1, x1, w2 = leaves.values()
    f = 1 / (1 + torch.exp(-(w0 * x0 + w1 * x1 + w2)))  # `1/t` is a ReciprocalBackward0 node
    trace = gg.from_torch(f, names=leaves)
    f.backward()
    assert {name: round(grad, 2) for name, grad in trace.gradients.items()} == NEURON_PRINTED
    for name, tensor in leaves.items():
        assert trace.gradients[name] == pytest.approx(tensor.grad.item(), rel=1e-14)


def test_pytorch_activations_of_the_op_table_import():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    w = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    v = torch.tensor(-1.3, dtype=torch.float64, requires_grad=True)
    loss = (functional.gelu(w * v) + functional.silu(v) * functional.softplus(w) + functional.elu(v)
            + functional.leaky_relu(v) * w + torch.square(w))
    trace = gg.from_torch(loss, names={"w": w, "v": v})
    loss.backward()
    assert trace.output_value == pytest.approx(loss.item(), rel=1e-14)
    assert trace.gradients["w"] == pytest.approx(w.grad.item(), rel=1e-13)
    assert trace.gradients["v"] == pytest.approx(v.grad.item(), rel=1e-13)
    assert {node.op for node in trace.graph.nodes} >= {"gelu", "silu", "softplus", "elu", "leaky_relu"}


@pytest.mark.parametrize(("call", "what"), [
    (lambda t, w: t.nn.functional.gelu(w, approximate="tanh"), "approximate='tanh'"),
    (lambda t, w: t.nn.functional.softplus(w, beta=2.0), "beta=2"),
    (lambda t, w: t.nn.functional.elu(w, alpha=2.0), "alpha=2"),
    (lambda t, w: t.nn.functional.leaky_relu(w, 0.2), "negative_slope=0.2"),
])
def test_pytorch_activations_with_other_parameters_are_refused_by_name(call, what):
    torch = pytest.importorskip("torch")
    w = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    with pytest.raises(gg.GraphError, match=what.replace("(", r"\(")):
        gg.from_torch(call(torch, w))


def test_logistic_regression_loss():
    trace = gg.grad(LOGISTIC, **LOGISTIC_AT)
    z = 0.5 * 2.0 - 0.3 * 1.0 + 0.1
    p = 1 / (1 + math.exp(-z))
    assert trace.output_value == pytest.approx(-math.log(p))
    # dL/dw = (p - y)·x, dL/db = p - y, and dL/dy = -z
    assert trace.gradients["w1"] == pytest.approx((p - 1) * 2.0)
    assert trace.gradients["w2"] == pytest.approx((p - 1) * 1.0)
    assert trace.gradients["b"] == pytest.approx(p - 1)
    assert trace.gradients["y"] == pytest.approx(-z)
    assert gg.check(LOGISTIC, **LOGISTIC_AT).ok


def test_softmax_cross_entropy_gradient_is_softmax_minus_one_hot():
    logits = {"a1": 2.0, "a2": 1.0, "a3": 0.1}
    total = sum(math.exp(value) for value in logits.values())
    softmax = {name: math.exp(value) / total for name, value in logits.items()}
    trace = gg.grad(SOFTMAX, **logits)
    assert trace.output_value == pytest.approx(-math.log(softmax["a1"]))
    for name in logits:
        assert trace.gradients[name] == pytest.approx(softmax[name] - (name == "a1"), rel=1e-12)
    assert gg.check(SOFTMAX, **logits).ok


def test_two_layer_tanh_mlp_agrees_with_sympy_torch_and_its_hessian(capsys):
    code, out, _ = cli(capsys, "check", MLP, "--at", at(MLP_AT), "--json")
    assert code == 0 and json.loads(out)["ok"]
    torch = pytest.importorskip("torch")
    leaves = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True) for name, value in MLP_AT.items()}
    p = leaves
    h1 = torch.tanh(p["w11"] * p["x1"] + p["w12"] * p["x2"] + p["b1"])
    h2 = torch.tanh(p["w21"] * p["x1"] + p["w22"] * p["x2"] + p["b2"])
    loss = (p["v1"] * h1 + p["v2"] * h2 + p["c"] - p["t"]) ** 2
    loss.backward()
    trace = gg.grad(MLP, **MLP_AT)
    for name, tensor in leaves.items():
        assert trace.gradients[name] == pytest.approx(tensor.grad.item(), rel=1e-12, abs=1e-15)
    direction = {name: 0.1 * (k + 1) * (-1) ** k for k, name in enumerate(MLP_AT)}
    along = gg.tangents(MLP, MLP_AT, direction=direction).output_tangent
    assert along == pytest.approx(sum(trace.gradients[n] * d for n, d in direction.items()), rel=1e-12)
    assert gg.hessian(MLP, MLP_AT, wrt="w11,v1,b2").check().ok


def test_the_seed_everywhere(capsys):
    code, out, _ = cli(capsys, "hessian", SEED, "--at", at(EXAMPLE_1), "--wrt", "W1,W2,B", "--json")
    data = json.loads(out)
    assert code == 0 and data["eigenvalues"] == pytest.approx([0, 0, 252], abs=1e-9)
    code, out, _ = cli(capsys, "calc", "--json")
    assert code == 0 and json.loads(out)["curvature"]["stable_lr_below"] == pytest.approx(2 / 252)
