"""The one step model: a step reads the same in the frames, the derivation, the viewer's data and the JSON."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad.derivation import derive
from graphviz_grad.frames import frames
from graphviz_grad.scene import scene_data
from graphviz_grad.steps import build, compound, grouped, line

from .conftest import EXAMPLE_1, SEED


def same_everywhere(trace):
    story = build(trace)
    captions = [frame.caption.removeprefix("Backward pass: ") for frame in frames(trace)]
    derivation = derive(trace, digits=4)
    data = scene_data(trace)
    for step in story.forward + story.backward:
        assert step.annotated in captions  # with its notes (a kink's convention, a nan), as in the derivation
    assert [step.text for step in derivation.lines] == [step.text for step in story.forward + story.backward]
    by_name = {node["name"]: node for node in data["nodes"]}
    for step in story.forward:
        assert by_name[step.node]["forward"] == step.text
    for step in story.backward:
        assert by_name[step.node]["backward"] == step.text
    texts = {edge["id"]: edge["text"] for edge in data["edges"]}
    for edge in story.edges:
        assert texts[f"e{trace.graph.index(edge.target)}_{edge.slot}"] == edge.text


def test_the_seed_reads_the_same_everywhere():
    trace = gg.grad(SEED, EXAMPLE_1)
    same_everywhere(trace)
    story = build(trace)
    assert story.edge("z1", 0).text == "∂z1/∂x = W1 = 0.1"  # the page's edge and the player's: one text
    assert story.of("z3")[1].text == "dL/dz3 = dL/dz4 · ∂z4/∂z3 = dL/dz4 · 1 = 4 · 1 = 4"
    assert story.to_dict()["backward"][0] == {
        "phase": "backward", "node": "L", "lhs": "dL/dL", "symbols": "", "formula": "", "numbers": "",
        "value": 1.0, "text": "dL/dL = 1", "terms": [], "notes": [], "note": ""}


def test_notes_name_kinks_and_non_finite_numbers():
    story = build(gg.grad("L = relu(x) + log(y)", x=0, y=-1))
    x = story.of("x")[1]
    assert x.notes == ("not differentiable here; the engine's convention (PyTorch): relu'(0) = 0",)
    assert story.of("z2")[0].notes == ("nan born here: outside the domain",)


def test_a_kink_reads_the_same_in_the_frames_and_the_derivation():
    trace = gg.grad("L = relu(x) + abs(y)", x=0, y=0)
    same_everywhere(trace)
    captions = [frame.caption for frame in frames(trace)]
    assert ("dL/dx = dL/dz1 · ∂z1/∂x = dL/dz1 · Heaviside(x) = 1 · 0 = 0  "
            "[not differentiable here; the engine's convention (PyTorch): relu'(0) = 0]") in captions


def test_bad_arguments():
    with pytest.raises(TypeError, match="Trace"):
        build("y = x")
    with pytest.raises(ValueError, match="digits"):
        build(gg.grad("y = x*2", x=1), digits=0)


def test_line_and_grouping():
    assert line("a", "", "b", "b", "1") == "a = b = 1"
    assert grouped("x + 1") == "(x + 1)" and not compound("exp(-x)")


FUNCTIONS = ["exp", "tanh", "sigmoid", "relu", "abs", "sin"]


@st.composite
def formulas(draw):
    names = ["a", "b", "c"]
    parts = [draw(st.sampled_from(names))]
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["op", "fn"]))
        if kind == "op":
            parts = [f"({parts[0]} {draw(st.sampled_from('+-*'))} {draw(st.sampled_from([*names, '2']))})"]
        else:
            parts = [f"{draw(st.sampled_from(FUNCTIONS))}({parts[0]})"]
    return f"L = {parts[0]}"


@settings(max_examples=25, deadline=None)
@given(formulas(), st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_random_formulas_read_the_same_everywhere(formula, values):
    graph = gg.parse(formula)
    trace = gg.grad(graph, dict(zip(graph.inputs, values, strict=False)))
    same_everywhere(trace)
