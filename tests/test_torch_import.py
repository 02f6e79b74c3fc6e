"""gg.from_torch on scalar PyTorch losses: our gradients equal torch's (float64 tensors),
constants PyTorch keeps or we recover, and one-line errors for what cannot be imported."""

import math

import pytest

import graphviz_grad as gg

torch = pytest.importorskip("torch")  # the 'torch' extra (also in 'test')


def scalar(value, grad=True):
    return torch.tensor(value, dtype=torch.float64, requires_grad=grad)


def test_a_small_scalar_model_matches_torch():
    w1, b1, w2, b2 = scalar(0.3), scalar(-0.2), scalar(1.5), scalar(0.1)
    data = [(0.5, 0.2), (-1.0, 0.4), (2.0, -0.3)]
    terms = []
    for x, y in data:
        x, y = scalar(x, grad=False), scalar(y, grad=False)
        hidden = torch.tanh(w1 * x + b1)
        out = torch.sigmoid(w2 * hidden + b2)
        terms.append((out - y) ** 2)  # y is kept by PyTorch only as part of the saved out - y
    loss = (terms[0] + terms[1] + terms[2]) / 3 + 0.01 * (w1 * w1 + w2 ** 2) + torch.relu(b1) - torch.exp(-b2) / 2.0
    trace = gg.from_torch(loss, names={"w1": w1, "b1": b1, "w2": w2, "b2": b2})
    loss.backward()
    assert trace.output_value == pytest.approx(loss.item(), rel=1e-14)
    for name, tensor in {"w1": w1, "b1": b1, "w2": w2, "b2": b2}.items():
        assert trace.gradients[name] == pytest.approx(tensor.grad.item(), rel=1e-12, abs=1e-15)
    assert gg.check(trace).ok


def test_every_mapped_op_and_kink_conventions():
    a, b = scalar(0.0), scalar(2.0)
    c = torch.tensor(3.0, dtype=torch.float64)
    loss = (torch.relu(a) + torch.abs(a) + torch.maximum(a, a) + torch.minimum(b, c) + torch.log(b)
            + torch.sqrt(b) + torch.sin(b) * torch.cos(a) - (-b) / c + 2.0 - b + (5.0 - a) * b + b ** b)
    trace = gg.from_torch(loss, names={"a": a, "b": b})
    loss.backward()
    assert trace.gradients["a"] == pytest.approx(a.grad.item())  # relu'(0) = abs'(0) = 0, tie 0.5/0.5
    assert trace.gradients["b"] == pytest.approx(b.grad.item())
    assert trace.output_value == pytest.approx(loss.item())


def test_unsupported_ops_and_non_scalars_are_one_line_errors():
    w = scalar(1.0)
    with pytest.raises(gg.GraphError, match=r"PyTorch operation .*Backward.* is not supported"):
        gg.from_torch(torch.atan(w))
    with pytest.raises(gg.GraphError, match="scalar loss, not a tensor of shape"):
        gg.from_torch(torch.ones(2, requires_grad=True) * 2)
    vector = torch.ones(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(gg.GraphError, match=r"shape \(3,\)|not supported"):
        gg.from_torch((vector * 2).sum())
    with pytest.raises(gg.GraphError, match="no grad_fn"):
        gg.from_torch(torch.tensor(1.0))
    with pytest.raises(gg.GraphError, match="needs a PyTorch tensor"):
        gg.from_torch(1.0)
    freed = torch.exp(w) * 2.0
    freed.backward()
    with pytest.raises(gg.GraphError, match="freed"):
        gg.from_torch(freed)
    lost = torch.exp((w * 2.0 + 1.0) * 3.0)  # 1.0 is neither kept nor saved inside a sum
    with pytest.raises(gg.GraphError, match="did not keep a constant operand of AddBackward"):
        gg.from_torch(lost)


def test_unnamed_leaves_are_p1_p2_and_float32_is_read_exactly():
    w = torch.tensor(0.1, requires_grad=True)  # float32
    trace = gg.from_torch(w * 3.0 + 1.0)
    assert list(trace.gradients) == ["p1"]
    assert trace.value("p1") == float(torch.tensor(0.1).item()) != 0.1
    assert math.isclose(trace.gradients["p1"], 3.0)


def test_constants_inside_a_reciprocal_or_exp_are_recovered_as_the_decimals_written():
    w = scalar(0.7)
    for loss, constant in [(torch.exp(w + 0.1), 0.1), (1 / (1 + torch.exp(-w)), 1.0),
                           (torch.log(w * 3.0 + 0.3), 0.3), (torch.sin(w + 1e-9), 1e-9)]:
        trace = gg.from_torch(loss, names={"w": w})
        constants = [node.value for node in trace.graph.nodes if node.op == "const"]
        assert constant in constants  # 0.3, not 0.2999999999999998 from (3w + 0.3) - 3w
        assert trace.output_value == loss.item()
