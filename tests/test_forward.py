"""Forward mode: tangents against gradient · direction, captions, statuses and the CLI contract."""

import json
import math
import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad import backward, build, forward, inputs
from graphviz_grad.cli import main
from graphviz_grad.forward import dotted, tangents
from tests.conftest import EXAMPLE_1, SEED
from tests.test_properties import NAMES, smooth_here, to_expr, trees


def test_the_seed_along_x_is_dL_dx():
    run = tangents(SEED, direction="x", **EXAMPLE_1)
    assert run.output_tangent == pytest.approx(0.4)
    assert run.tangent("z1") == pytest.approx(0.1) and run.tangent("z2") == 0.0
    assert run.direction == {"x": 1.0, "W1": 0.0, "y": 0.0, "W2": 0.0, "B": 0.0}


def test_a_mapping_direction_gives_gradient_dot_direction():
    direction = {"W1": 1.0, "W2": -2.0, "B": 0.5}
    run = tangents(SEED, EXAMPLE_1, direction=direction)
    gradients = gg.grad(SEED, **EXAMPLE_1).gradients
    assert run.output_tangent == pytest.approx(sum(gradients[n] * v for n, v in direction.items()))


def test_values_as_a_sequence_a_graph_an_expr_and_a_trace():
    graph = gg.parse(SEED)
    trace = gg.grad(graph, **EXAMPLE_1)
    x, y = inputs("x y")
    expected = tangents(SEED, direction="W2", **EXAMPLE_1).tangents
    assert tangents(graph, [EXAMPLE_1[n] for n in graph.inputs], direction="W2").tangents == expected
    assert tangents(trace, direction="W2").tangents == expected
    assert tangents((x * y).named("L"), direction="y", x=3, y=4).output_tangent == 3.0


def test_bad_directions_are_named():
    with pytest.raises(gg.InputValueError, match="'q', which is not an input"):
        tangents("L = x*y", direction="q", x=1, y=2)
    with pytest.raises(gg.InputValueError, match="finite number"):
        tangents("L = x*y", direction={"x": math.nan}, x=1, y=2)
    with pytest.raises(TypeError, match="direction must be"):
        tangents("L = x*y", direction=3, x=1, y=2)
    with pytest.raises(gg.InputValueError, match="carries its own values"):
        tangents(gg.grad("L = x*2", x=1), {"x": 2}, direction="x")


def test_captions_go_one_node_at_a_time_in_evaluation_order():
    run = tangents(SEED, direction={"x": 1, "W1": 0}, **EXAMPLE_1)
    captions = [step.caption() for step in run.steps]
    assert [step.node for step in run.steps] == ["z1", "z2", "z3", "z4", "L"]
    assert captions == ["ż1 = W1·ẋ + x·Ẇ1 = 0.1·1 + 5·0 = 0.1",
                        "ż2 = W2·ẏ + y·Ẇ2 = 0.2·0 + 10·0 = 0",
                        "ż3 = ż1 + ż2 = 0.1 + 0 = 0.1",
                        "ż4 = ż3 - Ḃ = 0.1 - 0 = 0.1",
                        "L̇ = ∂L/∂z4·ż4 = 4·0.1 = 0.4"]


def test_dotted_names():
    assert dotted("z3") == "ż3" and dotted("x") == "ẋ" and dotted("loss") == "l̇oss"


def test_a_kink_has_a_status_and_the_convention():
    run = tangents("L = relu(x)", direction="x", x=0)
    assert run.tangent_status("L") == "kink" and run.output_tangent == 0.0
    assert "kink" in run.steps[0].caption()
    assert tangents("L = relu(x)", direction="x", x=1).tangent_status("L") == "ok"


def test_inf_and_nan_tangents_have_statuses():
    run = tangents("L = log(x)", direction="x", x=0)
    assert run.output_tangent == math.inf and run.tangent_status("L") == "inf"
    run = tangents("L = x - x/x", direction="x", x=0)
    assert math.isnan(run.output_tangent) and run.tangent_status("L") == "nan"
    assert run.status("z1") == "domain"


def test_a_constant_subgraph_has_tangent_zero_not_nan():
    # sqrt(0) has an infinite derivative, but nothing moves it: its tangent is exactly 0
    run = tangents("L = x + sqrt(0*y)", direction="x", x=1, y=0)
    assert run.output_tangent == 1.0 and run.tangent("z2") == 0.0


@settings(max_examples=int(os.environ.get("GG_EXAMPLES", 150)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(trees(), st.fixed_dictionaries({name: st.floats(-3, 3) for name in NAMES}),
       st.fixed_dictionaries({name: st.floats(-2, 2) for name in NAMES}))
def test_tangents_equal_gradient_dot_direction_on_random_trees(tree, point, direction):
    expr = to_expr(tree, dict(zip(NAMES, inputs(NAMES))))
    assume(isinstance(expr, gg.Expr) and expr.op not in ("input", "const"))
    graph = build(expr.named("L"), inputs=list(NAMES))
    assume(smooth_here(graph, forward(graph, point)))
    trace = backward(graph, point)
    assume(all(math.isfinite(g) and abs(g) < 1e6 for g in trace.gradients.values()))
    run = tangents(trace, direction=direction)
    expected = sum(trace.gradients[name] * direction[name] for name in NAMES)
    assert run.output_tangent == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # and each node's tangent is the directional derivative of that node (central differences)
    h = 1e-6
    ahead = forward(graph, {n: point[n] + h * direction[n] for n in NAMES})
    behind = forward(graph, {n: point[n] - h * direction[n] for n in NAMES})
    estimate = (ahead[-1] - behind[-1]) / (2 * h)
    assert run.output_tangent == pytest.approx(estimate, rel=1e-4, abs=1e-4)


def test_cli_grad_tangent_json_contract(capsys):
    assert main(["grad", SEED, "--at", "x=5,y=10,W1=0.1,W2=0.2,B=0.5", "--tangent", "x=1,W1=0", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["tangent"]) == {"direction", "output", "nodes"}
    assert data["tangent_statuses"]["L"] == "ok"
    assert data["tangent"]["direction"] == {"x": 1.0, "W1": 0.0, "y": 0.0, "W2": 0.0, "B": 0.0}
    assert data["tangent"]["output"] == pytest.approx(0.4)
    assert data["tangent"]["output"] == pytest.approx(
        sum(data["gradients"][n] * v for n, v in data["tangent"]["direction"].items()))
    assert data["tangent"]["nodes"]["z3"] == pytest.approx(0.1)
    assert list(data["tangent"]["nodes"]) == [node["name"] for node in data["nodes"]]


def test_cli_grad_tangent_non_finite_numbers_are_strings(capsys):
    assert main(["grad", "L = log(x)", "--at", "x=0", "--tangent", "x=1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tangent"]["output"] == "inf"


@pytest.mark.parametrize("tangent, message", [("q=1", "'q', which is not an input"),
                                              ("x", "NAME=NUMBER"), ("x=1,x=2", "twice"),
                                              ("x=zz", "x")])
def test_cli_bad_tangent_is_a_usage_error(capsys, tangent, message):
    assert main(["grad", "L = x*y", "--at", "x=1,y=2", "--tangent", tangent]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_grad_tangent_table(capsys):
    assert main(["grad", SEED, "--at", "x=5,y=10,W1=0.1,W2=0.2,B=0.5", "--tangent", "B=1"]) == 0
    out = capsys.readouterr().out
    assert "tangent" in out.splitlines()[0] and "tangent of L along (B=1) = -4" in out


def test_dot_forward_and_both_modes():
    from graphviz_grad.dot import to_dot

    trace = gg.grad(SEED, **EXAMPLE_1)
    run = tangents(trace, direction="x")
    forward_dot = to_dot(trace, tangents=run, mode="forward")
    both = to_dot(trace, tangents=run, mode="both")
    assert "tangent = 0.4" in forward_dot and "grad = " not in forward_dot
    assert "fill = tangent" in forward_dot
    assert "tangent = 0.4" in both and "grad = 20" in both and "value = 4" in both
    assert to_dot(trace, tangents=run, mode="both") == both  # deterministic
    with pytest.raises(ValueError, match="needs the tangents"):
        to_dot(trace, mode="forward")
    with pytest.raises(ValueError, match="mode must be"):
        to_dot(trace, tangents=run, mode="sideways")


def test_forward_frames_go_one_node_at_a_time():
    from graphviz_grad.frames import frames

    trace = gg.grad(SEED, **EXAMPLE_1)
    sequence = frames(trace, backward=False, tangents=tangents(trace, direction="x"))
    assert [frame.view.current for frame in sequence] == [None, "z1", "z2", "z3", "z4", "L"]
    assert sequence[3].caption.startswith("ż3 = ż1 + ż2 = 0.1 + 0 = 0.1")
    assert "z3 = z1 + z2 = 0.5 + 2 = 2.5" in sequence[3].caption


def test_cli_render_modes(tmp_path, capsys):
    at = "x=5,y=10,W1=0.1,W2=0.2,B=0.5"
    out = tmp_path / "g.dot"
    assert main(["render", SEED, "--at", at, "--mode", "both", "--tangent", "x=1", "-o", str(out)]) == 0
    text = out.read_text()
    assert "tangent = 0.4" in text and "grad = 1" in text
    assert main(["render", SEED, "--at", at, "--mode", "forward", "--tangent", "x=1", "-o", str(out)]) == 0
    assert "grad = " not in out.read_text()
    assert main(["render", SEED, "--at", at, "--mode", "forward", "-o", str(out)]) == 2
    assert "--tangent" in capsys.readouterr().err


@pytest.mark.dot
def test_cli_render_forward_steps(tmp_path):
    at = "x=5,y=10,W1=0.1,W2=0.2,B=0.5"
    out = tmp_path / "f.svg"
    assert main(["render", SEED, "--at", at, "--mode", "forward", "--tangent", "x=1", "--steps",
                 "-o", str(out)]) == 0
    frames = sorted(tmp_path.glob("f-*.svg"))
    assert len(frames) == 6
    assert "ż3 = ż1 + ż2 = 0.1 + 0 = 0.1" in frames[3].read_text()


@pytest.mark.dot
def test_the_page_api_draws_tangents():
    from graphviz_grad.service import respond

    status, answer = respond("graph", {"mode": "both", "tangent": {"x": "1"}})
    assert status == 200 and answer["mode"] == "both" and answer["tangent"]["output"] == pytest.approx(0.4)
    captions = [frame["caption"] for frame in answer["frames"]]
    assert any(caption.startswith("ż3 = ż1 + ż2 = 0.1 + 0 = 0.1") for caption in captions)
    assert any(caption.startswith("dL/dz3") for caption in captions)  # and the backward pass
    status, answer = respond("graph", {"mode": "forward"})  # default direction: the first input
    assert status == 200 and answer["tangent"]["direction"]["x"] == 1.0
    assert all(frame["phase"] == "forward" for frame in answer["frames"])


@pytest.mark.dot
def test_the_page_api_takes_an_input_name_as_its_unit_vector():
    from graphviz_grad.service import respond

    status, answer = respond("graph", {"mode": "forward", "tangent": "W1"})
    assert status == 200 and answer["tangent"]["direction"] == {"x": 0.0, "W1": 1.0, "y": 0.0, "W2": 0.0, "B": 0.0}
    assert answer["tangent"]["output"] == 20.0  # dL/dW1
    status, answer = respond("graph", {"mode": "forward", "tangent": {"x": "1", "W1": "2"}})
    assert answer["tangent"]["output"] == pytest.approx(40.4)  # gradient · direction


@pytest.mark.parametrize("body, field", [({"mode": "up"}, "mode"), ({"mode": "both", "tangent": {"q": 1}}, "tangent"),
                                         ({"mode": "both", "tangent": "q"}, "tangent"),
                                         ({"mode": "both", "tangent": [1]}, "tangent")])
def test_the_page_api_refuses_bad_modes(body, field):
    from graphviz_grad.service import respond

    status, answer = respond("graph", body)
    assert status == 400 and answer["field"] == field


@pytest.mark.dot
def test_a_forward_frame_displays_its_tangents():
    from graphviz_grad.frames import frames

    trace = gg.grad("L = x*y", x=2, y=3)
    frame = frames(trace, backward=False, tangents=tangents(trace, direction="x"))[1]
    bundle = frame._repr_mimebundle_()
    assert bundle["text/plain"].startswith("L̇ = y·ẋ + x·ẏ = 3·1 + 2·0 = 3")
    assert "tangent = 3" in bundle["image/svg+xml"]


def test_a_tangent_line_is_a_record_of_the_step_model():
    from graphviz_grad.steps import Step

    run = tangents(SEED, direction="x", **EXAMPLE_1)
    record = run.steps[2].record()
    assert isinstance(record, Step) and record.phase == "tangent" and record.node == "z3"
    assert (record.lhs, record.symbols, record.numbers) == ("ż3", "ż1 + ż2", "0.1 + 0")
    assert record.value == pytest.approx(0.1) and record.text == run.steps[2].caption()
    assert record.terms == (("z3", 0), ("z3", 1))
    assert record.to_dict()["text"] == "ż3 = ż1 + ż2 = 0.1 + 0 = 0.1"
    # a constant argument is no term: the slots name the edges the line reads
    assert tangents("L = 2*x", direction="x", x=3).steps[0].record().terms == (("L", 1),)
    kink = tangents("L = relu(x)", direction="x", x=0).steps[0].record()
    assert kink.notes == ("at a kink: the engine's convention",) and "kink" in kink.annotated


def test_the_viewer_scene_shows_tangents():
    from graphviz_grad.scene import scene_data

    trace = gg.grad(SEED, **EXAMPLE_1)
    run = tangents(trace, direction="x")
    data = scene_data(trace, tangents=run, mode="forward")
    assert data["mode"] == "forward" and len(data["frames"]) == 6
    assert data["tangent"]["direction"]["x"] == 1.0 and "tangent" not in scene_data(trace)  # for the details
    z3 = data["nodes"][data["index"]["z3"]]
    assert z3["tangent"] == "ż3 = ż1 + ż2 = 0.1 + 0 = 0.1"
    assert z3["looks"][0]["rows"] == ["value = ?", "tangent = ?"]
    assert z3["looks"][2]["rows"] == ["value = 2.5", "tangent = 0.1"]
    assert data["frames"][3]["caption"].startswith("ż3 = ż1 + ż2")
    assert "tangent" not in data["nodes"][data["index"]["2"]]  # a constant has no line
    both = scene_data(trace, tangents=run, mode="both")
    assert len(both["frames"]) == 17
    assert both["nodes"][data["index"]["z3"]]["looks"][2]["rows"] == ["value = 2.5", "tangent = 0.1", "grad = 4"]
    assert "tangent" not in scene_data(trace)["nodes"][0] and scene_data(trace)["mode"] == "reverse"
    with pytest.raises(ValueError, match="needs the tangents"):
        scene_data(trace, mode="forward")


@pytest.mark.dot
def test_cli_render_html_plays_forward_mode(tmp_path):
    at = "x=5,y=10,W1=0.1,W2=0.2,B=0.5"
    out = tmp_path / "f.html"
    assert main(["render", SEED, "--at", at, "--mode", "forward", "--tangent", "x=1", "-o", str(out)]) == 0
    page = out.read_text()
    assert "ż3 = ż1 + ż2 = 0.1 + 0 = 0.1" in page and "tangent = 0.4" in page


def test_cli_hessian_and_render_read_from_json(tmp_path, capsys):
    at = "x=5,y=10,W1=0.1,W2=0.2,B=0.5"
    assert main(["grad", SEED, "--at", at, "--json"]) == 0
    saved = tmp_path / "trace.json"
    saved.write_text(capsys.readouterr().out)
    assert main(["hessian", SEED, "--at", at, "--json"]) == 0
    direct = json.loads(capsys.readouterr().out)
    assert main(["hessian", "--from-json", str(saved), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == direct
    out = tmp_path / "g.dot"
    assert main(["render", "--from-json", str(saved), "--mode", "both", "--tangent", "x=1", "-o", str(out)]) == 0
    assert "tangent = 0.4" in out.read_text()


def test_a_direction_component_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="direction component 'x' must be a finite number, not '1'"):
        tangents(SEED, EXAMPLE_1, direction={"x": "1"})
    with pytest.raises(ValueError, match="direction component 'x' must be a finite number, not nan"):
        tangents(SEED, EXAMPLE_1, direction={"x": math.nan})
