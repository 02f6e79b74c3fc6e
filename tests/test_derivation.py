"""The worked derivation: the seed page's lines, fan-out sums, numbers that match the trace, escaping."""

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad.derivation import code_span, derive

from .conftest import EXAMPLE_1, SEED

SEED_FORWARD = [
    "z1 = x·W1 = 5·0.1 = 0.5",
    "z2 = y·W2 = 10·0.2 = 2",
    "z3 = z1 + z2 = 0.5 + 2 = 2.5",
    "z4 = z3 - B = 2.5 - 0.5 = 2",
    "L = z4**2 = 2**2 = 4",
]
SEED_BACKWARD = [
    "dL/dL = 1",
    "dL/dz4 = ∂L/∂z4 = 2·z4 = 4",
    "dL/dz3 = dL/dz4 · ∂z4/∂z3 = dL/dz4 · 1 = 4 · 1 = 4",
    "dL/dz2 = dL/dz3 · ∂z3/∂z2 = dL/dz3 · 1 = 4 · 1 = 4",
    "dL/dz1 = dL/dz3 · ∂z3/∂z1 = dL/dz3 · 1 = 4 · 1 = 4",
    "dL/dB = dL/dz4 · ∂z4/∂B = dL/dz4 · (-1) = 4 · (-1) = -4",
    "dL/dW2 = dL/dz2 · ∂z2/∂W2 = dL/dz2 · y = 4 · 10 = 40",
    "dL/dy = dL/dz2 · ∂z2/∂y = dL/dz2 · W2 = 4 · 0.2 = 0.8",
    "dL/dW1 = dL/dz1 · ∂z1/∂W1 = dL/dz1 · x = 4 · 5 = 20",
    "dL/dx = dL/dz1 · ∂z1/∂x = dL/dz1 · W1 = 4 · 0.1 = 0.4",
]


@pytest.fixture(scope="module")
def seed():
    return derive(gg.grad(SEED, **EXAMPLE_1))


def test_the_seed_lines_are_the_seed_pages(seed):
    assert [line.text for line in seed.forward] == SEED_FORWARD
    assert [line.text for line in seed.backward] == SEED_BACKWARD
    assert seed.to_text().splitlines() == ["Forward pass", *("  " + t for t in SEED_FORWARD),
                                           "Backward pass", *("  " + t for t in SEED_BACKWARD)]


def test_each_line_keeps_its_parts_and_the_numbers_substituted(seed):
    z1 = seed.forward[0]
    assert (z1.phase, z1.node, z1.lhs, z1.formula, z1.numbers, z1.value) == (
        "forward", "z1", "z1", "x·W1", "5·0.1", 0.5)
    w1 = next(line for line in seed.backward if line.node == "W1")
    assert (w1.lhs, w1.formula, w1.numbers, w1.value) == ("dL/dW1", "dL/dz1 · x", "4 · 5", 20.0)
    b = next(line for line in seed.backward if line.node == "B")
    assert b.numbers == "4 · (-1)"


def test_a_node_read_twice_sums_its_terms():
    derivation = derive(gg.grad("e = (a+b)*(b+1)", a=2, b=1))
    b = next(line for line in derivation.backward if line.node == "b")
    assert b.text == "de/db = de/dz1 · ∂z1/∂b + de/dz2 · ∂z2/∂b = de/dz1 · 1 + de/dz2 · 1 = 2 · 1 + 3 · 1 = 5"
    assert b.numbers == "2 · 1 + 3 · 1"
    square = next(line for line in derive(gg.grad("y = x*x", x=3)).backward if line.node == "x")
    assert square.text == "dy/dx = ∂y/∂x + ∂y/∂x = x + x = 3 + 3 = 6"  # each slot's own local derivative, summed


def test_local_derivatives_are_formulas_in_argument_names():
    derivation = derive(gg.grad("y = sin(a)/b - a*(-2)", a=0.5, b=2))
    texts = {line.node: line.text for line in derivation.backward}
    assert texts["z1"] == "dy/dz1 = dy/dz2 · ∂z2/∂z1 = dy/dz2 · 1/b = 1 · 0.5 = 0.5"
    assert texts["b"] == ("dy/db = dy/dz2 · ∂z2/∂b = dy/dz2 · (-z1/b**2) = 1 · (-0.1198563847)"
                          " = -0.1198563847")
    assert texts["z3"] == "dy/dz3 = ∂y/∂z3 = -1"  # the output's local derivative alone: nothing left to write
    forward = {line.node: line.text for line in derivation.forward}
    assert forward["z3"] == "z3 = a·(-2) = 0.5·(-2) = -1"


def test_a_graph_without_inputs_has_no_backward_lines():
    derivation = derive(gg.grad("L = 2*3"))
    assert [line.text for line in derivation.lines] == ["L = 2·3 = 6"]  # no inputs: no backward steps
    assert derivation.to_text().splitlines()[-1] == "  (no inputs: nothing to differentiate)"


def test_digits_and_non_finite_numbers():
    derivation = derive(gg.grad("y = log(x)/3", x=2), digits=3)
    assert derivation.forward[0].text == "z1 = log(x) = log(2) = 0.693"
    pole = derive(gg.grad("y = 1/x", x=0))
    assert pole.forward[0].text == "y = 1/x = 1/0 = inf"
    assert pole.backward[-1].text == "dy/dx = ∂y/∂x = -1/x**2 = -inf"
    assert pole.backward[-1].notes == ("the gradient is -inf",)
    assert r"-\infty" in pole.to_latex()


def test_latex(seed):
    latex = seed.to_latex()
    assert latex.startswith("\\begin{align*}") and latex.endswith("\\end{align*}")
    assert "z_{1} &= x \\cdot W_{1} = 0.5" in latex
    assert "\\frac{\\partial L}{\\partial B} &= \\frac{\\partial L}{\\partial z_{4}} \\cdot \\left(-1\\right) = -4" in latex
    small = derive(gg.grad("y = x*1e-8", x=1)).to_latex()
    assert "1 \\times 10^{-8}" in small


def test_markdown_and_json(seed):
    markdown = seed.to_markdown()
    assert "1. `z1 = x·W1 = 5·0.1 = 0.5`" in markdown and f"6. `{SEED_BACKWARD[5]}`" in markdown
    data = json.loads(seed.to_json())
    assert [line["text"] for line in data["backward"]] == SEED_BACKWARD
    assert data["forward"][0] == {"phase": "forward", "node": "z1", "lhs": "z1", "symbols": "x·W1",
                                  "formula": "x·W1", "numbers": "5·0.1", "value": 0.5,
                                  "text": "z1 = x·W1 = 5·0.1 = 0.5", "terms": [], "notes": [], "note": ""}
    nan = json.loads(derive(gg.grad("y = log(x)", x=-1)).to_json())
    assert nan["forward"][0]["value"] == "nan"


def test_hostile_names_stay_text():
    a, b = gg.inputs(["<b>x</b>", "50%`$"])
    graph = gg.build((a * b).named("<script>"))
    derivation = derive(gg.grad(graph, [2.0, 3.0]))
    assert derivation.forward[0].text == "<script> = <b>x</b>·50%`$ = 2·3 = 6"
    markdown = derivation.to_markdown()
    outside_code = re.sub(r"(`+) .*? \1|`[^`]*`", "", markdown)
    assert "<" not in outside_code and "$" not in outside_code
    latex = derivation.to_latex()
    assert "50\\%" in latex and "\\$" in latex and "<b>" in latex  # inside \text{...}: printed as is
    assert "\\text{50\\%`\\$}" in latex


def test_code_span_fences_around_backticks():
    assert code_span("a``b") == "``` a``b ```"
    assert code_span("plain") == "`plain`"


def test_derive_needs_a_trace():
    with pytest.raises(TypeError, match="derive needs a Trace"):
        derive(gg.parse(SEED))


_names = st.sampled_from(["a", "b", "c"])
_unary = st.sampled_from(["exp", "sin", "cos", "tanh", "sigmoid", "-"])
_binary = st.sampled_from(["+", "-", "*"])


@st.composite
def _formula(draw, depth=3):
    if depth == 0 or draw(st.booleans()):
        return draw(st.one_of(_names, st.integers(1, 3).map(str)))
    if draw(st.booleans()):
        op = draw(_unary)
        inner = draw(_formula(depth=depth - 1))
        return f"-({inner})" if op == "-" else f"{op}({inner})"
    return f"({draw(_formula(depth=depth - 1))} {draw(_binary)} {draw(_formula(depth=depth - 1))})"


@given(_formula(), st.floats(-2, 2), st.floats(-2, 2), st.floats(-2, 2))
def test_every_line_matches_the_trace(text, a, b, c):
    graph = gg.parse(f"L = {text} + a*b*c")
    trace = gg.backward(graph, {name: {"a": a, "b": b, "c": c}[name] for name in graph.inputs})
    derivation = derive(trace, digits=17)
    for line in derivation.forward:
        assert line.value == trace.value(line.node) or line.value != line.value
        assert line.text.startswith(f"{line.node} = ")
    steps = {step.node: step for step in trace.steps}
    assert [line.node for line in derivation.backward] == [step.node for step in trace.steps]
    for line in derivation.backward:
        step = steps[line.node]
        assert line.value == step.grad
        if step.received:
            assert line.formula.count(" + ") >= len(step.received) - 1
            terms = [float(t.split(" · ")[-1].strip("()")) * (float(t.split(" · ")[0].strip("()"))
                     if " · " in t else 1.0) for t in line.numbers.split(" + ")]
            assert sum(terms) == pytest.approx(step.grad, rel=1e-12, abs=1e-12)


def test_a_local_derivative_that_is_a_sum_is_grouped():
    # review: "dL/dz1 · 1 - tanh(x)**2" read as written is another number
    texts = {line.node: line.text for line in derive(gg.grad("L = 3*tanh(x)", x=1)).backward}
    assert texts["x"] == ("dL/dx = dL/dz1 · ∂z1/∂x = dL/dz1 · (1 - tanh(x)**2) = 3 · 0.4199743416"
                          " = 1.259923025")
    two = {line.node: line.text for line in derive(gg.grad("y = 1/x + x", x=2)).backward}
    assert two["x"] == ("dy/dx = dy/dz1 · ∂z1/∂x + ∂y/∂x = dy/dz1 · (-1/x**2) + 1"
                         " = 1 · (-0.25) + 1 = 0.75")
    many = {line.node: line.text for line in derive(gg.grad("y = x*x - x", x=2)).backward}
    assert many["x"] == ("dy/dx = dy/dz1 · ∂z1/∂x + dy/dz1 · ∂z1/∂x + ∂y/∂x = dy/dz1 · x + dy/dz1 · x + (-1)"
                          " = 1 · 2 + 1 · 2 + (-1) = 3")


def test_latex_keeps_constant_operations_and_does_not_repeat_a_value():
    latex = derive(gg.grad("L = 2*3")).to_latex()
    assert "L &= 2 \\cdot 3 = 6" in latex
    assert "&= 3 = 3" not in derive(gg.grad("L = 3*x", x=1)).to_latex()
    assert "\\frac{\\partial L}{\\partial x} &= 3" in derive(gg.grad("L = 3*x", x=1)).to_latex()


def test_huge_and_tiny_constants_print_as_floats():
    texts = [line.text for line in derive(gg.grad("L = x*1e308*10", x=1e-300)).backward]
    assert all(len(text) < 80 for text in texts), texts
    assert "dL/dz1 = ∂L/∂z1 = 10" in texts and any("1.0e+308" in text or "1.00000000000000e+308" in text
                                          for text in texts)


def test_a_large_graph_has_a_line_per_step():
    # one SymPy derivative per (op, constants) pattern, not per node: 0.3 s for these 8,000 nodes
    formula = " + ".join(f"w{k}*x{k}" for k in range(2000))
    trace = gg.grad(gg.parse(f"L = {formula}"), [1.0] * 4000)
    derivation = derive(trace)
    assert len(derivation.backward) == len(trace.steps) == 7999
    assert derivation.backward[-1].text == "dL/dw0 = dL/dz1 · ∂z1/∂w0 = dL/dz1 · x0 = 1 · 1 = 1"


def test_a_step_at_a_kink_says_so_and_names_the_convention():
    relu = {line.node: line for line in derive(gg.grad("L = relu(w*x - b)", w=1, x=1, b=1)).backward}
    assert relu["z2"].annotated == ("dL/dz2 = ∂L/∂z2 = Heaviside(z2) = 0  [not differentiable here; the engine's convention "
                               "(PyTorch): relu'(0) = 0]")
    assert relu["z1"].note == ""  # only the step whose own local derivative sits on the kink
    tie = {line.node: line for line in derive(gg.grad("L = max(a, b)", a=1, b=1)).backward}
    assert tie["a"].note.endswith("a tie splits the gradient 0.5/0.5") and tie["a"].value == 0.5
    smooth = derive(gg.grad("L = relu(x) + max(a, b)", x=1, a=1, b=2))
    assert all(line.note == "" for line in smooth.backward)
    base_zero = {line.node: line for line in derive(gg.grad("L = x**y", x=0, y=2)).backward}
    assert base_zero["y"].note and not base_zero["x"].note  # d/dy = x**y*log(x) has no value at x = 0
