"""Exercises: right answers are accepted within the documented tolerance, wrong ones are
explained by the chain-rule step and the factor that was off."""

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad.cli import main
from graphviz_grad.dot import to_dot
from graphviz_grad.exercises import READY, Exercise, exercise

from .test_properties import NAMES, to_expr, trees

SEED_GRADS = {"dL/dz4": 4, "dL/dz3": 4, "dL/dz2": 4, "dL/dz1": 4, "dL/dB": -4, "dL/dW2": 40, "dL/dy": 0.8,
              "dL/dW1": 20, "dL/dx": 0.4}
FANOUT = {"z1": 3, "de/dz1": 2, "de/dz2": 3, "de/da": 2, "de/db": 5}
NEURON = {"z4": 0, "y": 0.5, "dy/dz4": 0.25, "dy/dz3": 0.25, "dy/dz2": 0.25, "dy/dz1": 0.25, "dy/db": 0.25,
          "dy/dw2": 0.25, "dy/dx2": 0.125, "dy/dw1": 0.5, "dy/dx1": -0.25}


@pytest.mark.parametrize(("name", "answers"), [("seed", SEED_GRADS), ("fanout", FANOUT), ("neuron", NEURON)])
def test_the_ready_exercises_accept_hand_worked_answers(name, answers):
    made = exercise(name)
    assert set(made.blanks) == set(answers)
    marks = made.check(answers)
    assert marks.all_right and marks.score == f"{len(answers)} of {len(answers)} right", marks.to_text()
    assert all(mark.text == f"{mark.key} = {mark.text.split(' = ')[1]}" and mark.text.endswith(" is right.")
               for mark in marks)


def test_answers_typed_as_text_with_rounding_inside_the_tolerance_are_right():
    made = exercise("y = 1/x", {"x": 3}, hide=["y", "dy/dx"])  # y = 0.3333.., dy/dx = -0.1111..
    assert made.check({"y": " 0.3333 ", "dy/dx": "-0.1111"}).all_right
    assert not made.check({"y": "0.33", "dy/dx": "-0.11"}).right  # two digits are not enough
    strict = exercise("y = 1/x", {"x": 3}, hide=["y"], rel_tol=0, abs_tol=1e-12)
    assert not strict.check(y=0.3333).all_right and strict.check(y=1 / 3).all_right


def test_the_tolerance_is_absolute_plus_relative():
    made = Exercise("y = x*1", {"x": 0}, hide=["y"], rel_tol=0.1, abs_tol=0.01)
    assert made.close(0.01, 0.0) and not made.close(0.0101, 0.0)
    assert made.close(110.0, 100.0) and not made.close(110.02, 100.0)  # 0.01 + 0.1·100
    assert made.close(math.inf, math.inf) and not made.close(1e308, math.inf)


def _why(made, key, answer, **others):
    mark = made.check({key: answer, **others})[key]
    assert not mark.right
    return mark.text


def test_a_wrong_local_factor_is_named_with_the_factor_the_learner_used():
    text = _why(exercise("seed"), "dL/dW1", 2)
    assert text == ("dL/dW1 = 2 is not right. The step: dL/dW1 = dL/dz1 · ∂z1/∂W1. "
                    "You used dL/dz1 = 4 but ∂z1/∂W1 should be 5 (= x).")
    assert _why(exercise("seed"), "dL/dz3", 5).endswith("You used dL/dz4 = 4 but ∂z4/∂z3 should be 1.")
    assert _why(exercise("seed"), "dL/dz4", 2).endswith("∂L/∂z4 should be 4 (= 2·z4).")


def test_a_missing_factor_is_named():
    assert _why(exercise("seed"), "dL/dW1", 4).endswith("You used dL/dz1 = 4 but left out ∂z1/∂W1 = 5 (= x).")
    assert _why(exercise("seed"), "dL/dW1", 5).endswith("You left out the factor dL/dz1 = 4.")


def test_a_wrong_sign_is_named():
    assert _why(exercise("seed"), "dL/dB", 4).endswith("The sign is off: ∂z4/∂B = -1 is negative.")
    assert _why(exercise("neuron"), "dy/dx1", 0.25).endswith("The sign is off: ∂z1/∂x1 = -1 (= w1) is negative.")
    assert _why(exercise("seed"), "dL/dz4", -4).endswith("The sign is off: check the sign of each factor.")
    assert _why(exercise("fanout"), "z1", -3).endswith("The step: z1 = a + b = 2 + 1. The sign is off.")


def test_forgetting_a_fan_out_path_names_the_path_left_out():
    assert _why(exercise("fanout"), "de/db", 3).endswith(
        "You counted only the path through z2; b also feeds z1: add every path's contribution (fan-out sums).")
    assert "only the path through z1; b also feeds z2" in _why(exercise("fanout"), "de/db", 2)


def test_a_right_step_on_the_learners_own_wrong_answer_is_told_apart():
    made = exercise("seed")
    marks = made.check({"dL/dz4": 5, "dL/dz3": 5})
    assert marks["dL/dz3"].text.endswith("Your step is right, but it uses your dL/dz4 = 5, which should be 4.")
    fan = exercise("fanout").check({"z1": 4, "de/dz2": 4})  # de/dz2 = z1: right on their own z1
    assert "Your step is right, but" not in fan["de/dz2"].text  # a gradient's inputs are gradients, not values
    value = exercise("y = (x + 1)*2", {"x": 1}, hide="values").check({"z1": 3, "y": 6})
    assert value["y"].text.endswith("Your step is right, but it uses your z1 = 3, which should be 2.")


def test_answers_are_remembered_between_checks_and_bad_text_is_named():
    made = exercise("fanout")
    made.check(z1=3)
    marks = made.check({"de/db": "abc"})
    assert marks["z1"].right and marks["de/db"].text == "de/db: the value 'abc' is not a number."
    assert marks["de/da"].text == "de/da: no answer yet." and marks["de/da"].answer is None


def test_bad_exercises_and_keys_are_refused_with_one_line():
    with pytest.raises(gg.InputValueError, match="'q' names no node"):
        exercise("y = x**2", {"x": 1}, hide=["q"])
    with pytest.raises(gg.InputValueError, match="'x' is an input"):
        exercise("y = x**2", {"x": 1}, hide=["x"])
    with pytest.raises(gg.InputValueError, match="not one of this exercise's blanks"):
        exercise("seed").check({"dL/dq": 1})
    with pytest.raises(gg.InputValueError, match="hide takes"):
        exercise("y = x**2", {"x": 1}, hide="everything")
    with pytest.raises(TypeError):
        exercise("y = x**2", {"x": 1}, hide=[3])
    assert exercise("y = x**2", {"x": 1}).check({"dy/dx": True})["dy/dx"].answer is None


def test_the_diagram_and_the_derivation_show_each_blank_as_a_question_mark():
    made = exercise("fanout")
    source = to_dot(made.trace, view=made.view(), edge_labels=made.edge_labels)
    assert source.count("value = ?") == 1 and source.count("grad = ?") == 4  # z1's value; four gradients
    assert "∂" not in source  # a hidden value would show through its edges' local derivatives
    assert made.derivation()[0] == "z1 = a + b = ?" and "de/db = de/dz1 · 1 + de/dz2 · 1 = ?" in made.derivation()
    seed = exercise("seed")
    assert "∂z1/∂W1 = 5" in to_dot(seed.trace, view=seed.view(), edge_labels=seed.edge_labels)
    assert str(seed).splitlines()[0].startswith("Exercise: z1 = x*W1;")
    assert "  dL/dW1 = dL/dz1 · x = ?" in str(seed).splitlines()


@pytest.mark.dot
def test_the_notebook_bundle_has_the_picture_and_the_text_form():
    bundle, metadata = exercise("neuron")._repr_mimebundle_()
    assert "value = ?" in bundle["image/svg+xml"] and bundle["text/plain"].startswith("Exercise: ")
    assert metadata["image/svg+xml"]["alt"] == bundle["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in bundle  # the live form, where ipywidgets is


def test_the_form_marks_what_is_typed_in_its_boxes():
    pytest.importorskip("ipywidgets")
    made = exercise("fanout")
    made.form()
    boxes = made._form["boxes"]
    boxes["de/db"].value = "3"
    boxes["z1"].value = "3"
    made._form["button"].click()
    shown = made._form["result"].value
    assert "<b>1 of 5 right</b>" in shown and "b also feeds z1" in shown
    assert "<li style='color:#080'>z1 = 3 is right.</li>" in shown


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["L = (x*W1 + y*W2 - B)**2", "e = (a+b)*(b+1)", "y = sigmoid(x1*w1 + b)*x1",
                        "y = exp(sin(x)*x) - log(x*x + 1)", "y = tanh(x)**3 / (x*x + 2)"]),
       st.floats(-3, 3), st.floats(1e-2, 0.5))
def test_exact_answers_are_right_and_answers_off_by_more_than_the_tolerance_are_wrong(formula, point, off):
    graph = gg.parse(formula)
    made = exercise(graph, dict.fromkeys(graph.inputs, point), hide=["values", "grads"])
    exact = {key: made.expected(key) for key in made.blanks}
    assert made.check(exact).all_right
    shifted = {key: value + off * (abs(value) + 1) for key, value in exact.items()}
    marks = made.check(shifted)
    assert marks.right == 0, marks.to_text()
    assert all(mark.text.startswith(f"{mark.key} = ") and " is not right. " in mark.text for mark in marks)


def test_every_ready_exercise_names_its_task():
    for name in READY:
        made = exercise(name)
        assert made.task and made.task in made.to_text()


def test_the_command_line_prints_the_blanks_and_marks_answers(capsys):
    assert main(["exercise", "fanout"]) == 0
    assert "de/db = de/dz1 · 1 + de/dz2 · 1 = ?" in capsys.readouterr().out
    assert main(["exercise", "fanout", "--answer", "z1=3,de/dz1=2", "--answer", "de/dz2=3",
                 "--answer", "de/da=2", "--answer", "de/db=5"]) == 0
    assert capsys.readouterr().out.startswith("5 of 5 right")
    assert main(["exercise", "y = x**3", "--at", "x=2", "--answer", "dy/dx=4"]) == 1
    assert "∂y/∂x should be 12 (= 3·x**2)" in capsys.readouterr().out
    assert main(["exercise", "seed", "--answer", "dL/dz4"]) == 2
    assert capsys.readouterr().err.strip() == ("graphviz-grad: error: --answer expects KEY=NUMBER "
                                               "(such as dL/dz3=4), got 'dL/dz4'")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(), st.fixed_dictionaries({name: st.floats(-3, 3) for name in NAMES}), st.floats(-5, 5))
def test_on_random_expression_trees_exact_answers_pass_and_any_wrong_answer_is_explained(tree, point, wrong):
    expr = to_expr(tree, dict(zip(NAMES, gg.inputs(NAMES))))
    assume(isinstance(expr, gg.Expr) and expr.op not in ("input", "const"))
    graph = gg.build(expr.named("L"), inputs=list(NAMES))
    made = exercise(graph, point, hide=["values", "grads"])
    exact = {key: made.expected(key) for key in made.blanks}
    assert made.check(exact).all_right  # nan and inf included: the same non-finite value is right
    marks = exercise(graph, point, hide=["values", "grads"]).check(dict.fromkeys(made.blanks, wrong))
    for mark in marks:
        assert mark.right == made.close(wrong, mark.expected)
        if not mark.right:
            assert mark.text.startswith(f"{mark.key} = ") and " is not right. " in mark.text
            assert "The step: " in mark.text or "does not reach" in mark.text


def test_a_nan_or_infinite_result_is_answered_with_nan_or_inf():
    made = exercise("y = log(x)", {"x": -1}, hide=["y"])
    assert made.check(y="nan").all_right and made.check(y=float("nan")).all_right
    assert not made.check(y="1").all_right and not made.check(y="inf").all_right
    pole = exercise("y = 1/x", {"x": 0}, hide=["y"])
    assert pole.check(y=" inf ").all_right and not pole.check(y="-inf").all_right
    assert not pole.check(y="1e308").all_right


def test_the_local_derivative_named_is_the_edges_own_when_a_node_reads_an_input_twice():
    made = exercise("y = x**x", {"x": 2}, hide=["dy/dx"])  # slot 0: x*x**(x-1), slot 1: x**x*log(x)
    text = made.check({"dy/dx": 1})["dy/dx"].text
    assert "∂y/∂x + ∂y/∂x" in text and text.endswith("With numbers: 1 · 4 + 1 · 2.773.")
    assert made.check({"dy/dx": 4})["dy/dx"].text.endswith(
        "You counted only the path through y's argument 1; x also feeds y's argument 2: "
        "add every path's contribution (fan-out sums).")


def test_the_outputs_own_gradient_as_a_blank_is_explained_in_words():
    mark = exercise("y = 2*x", {"x": 1}, hide=["dy/dy"]).check({"dy/dy": 2})["dy/dy"]
    assert mark.text == "dy/dy = 2 is not right. dy/dy = 1: the output's gradient with respect to itself."


def test_the_local_derivative_texts_are_made_once_per_exercise_not_once_per_wrong_answer(monkeypatch):
    import graphviz_grad.symbolic as symbolic

    calls = []
    made_texts = symbolic.local_derivative_texts
    monkeypatch.setattr(symbolic, "local_derivative_texts", lambda graph: calls.append(1) or made_texts(graph))
    graph = gg.parse("y = " + " + ".join(f"sin(x{i})" for i in range(30)))
    made = exercise(graph, dict.fromkeys(graph.inputs, 0.1), hide="grads")
    marks = made.check(dict.fromkeys(made.blanks, 7))  # each wrong: each names its local derivative
    assert marks.right == 0 and sum("(= cos(x" in mark.text for mark in marks) == 30
    assert len(calls) == 1  # not one pass over the graph per blank (quadratic in its size)


def test_a_right_earlier_answer_is_never_called_wrong_in_a_later_steps_feedback():
    made = exercise("seed")  # dL/dz4 = 4.004 is right (within 0.004001); dL/dz3 = 4.0041 is not
    marks = made.check({"dL/dz4": 4.004, "dL/dz3": 4.0041})
    assert marks["dL/dz4"].right and not marks["dL/dz3"].right
    assert "which should be" not in marks["dL/dz3"].text
    assert marks["dL/dz3"].text.endswith("That is close, but not within the tolerance of ±0.004001 here: "
                                         "check the last digits.")
    neuron = exercise("neuron")
    marks = neuron.check({"z4": 1e-7, "y": 0.6})  # z4 is right: y's slip is not blamed on it
    assert marks["z4"].right and "your z4" not in marks["y"].text


def test_rounding_too_far_is_named_and_so_is_a_number_of_the_wrong_kind():
    made = exercise("y = 1/x", {"x": 3}, hide=["y", "dy/dx"])
    text = made.check({"y": "0.33", "dy/dx": "nan"})
    assert text["y"].text.endswith("That is the right number rounded to 2 significant digits, which is not "
                                   "within the tolerance of ±0.0003343 here: give more digits.")
    assert text["dy/dx"].text.endswith("The step: dy/dx = ∂y/∂x. Its exact value is a finite number.")
    pole = exercise("y = log(x)", {"x": -1}, hide=["y"])
    assert pole.check(y=0)["y"].text.endswith("Its exact value is not a finite number: answer nan, inf or -inf.")


def test_a_value_steps_numbers_read_as_the_derivation_writes_them():
    made = exercise("y = (x*w)**2 + sigmoid(-x)", {"x": -2, "w": 1}, hide="values")
    texts = [mark.text for mark in made.check(dict.fromkeys(made.blanks, 100))]
    assert "The step: z1 = x·w = (-2)·1." in texts[0]  # a product with ·, a negative factor in ( )
    assert "The step: z2 = z1**2 = (-2)**2." in texts[1]  # not -2**2, which is -4
    assert "The step: z4 = sigmoid(z3) = sigmoid(2)." in texts[3]


def test_answers_of_any_real_type_are_read_and_infinity_is_an_answer():
    np = pytest.importorskip("numpy")
    from decimal import Decimal
    from fractions import Fraction

    made = exercise("y = 2*x", {"x": 1})
    for answer in (np.float32(2), np.int64(2), Fraction(2), Decimal("2"), 2, 2.0, "2"):
        assert made.check({"dy/dx": answer}).all_right, answer
    assert made.check({"dy/dx": 10**400})["dy/dx"].text.endswith("Its exact value is a finite number.")
    pole = exercise("y = 1/x", {"x": 0}, hide=["y"])
    assert pole.check(y="Infinity").all_right and pole.check(y="+inf").all_right
    assert made.check({"dy/dx": 2j})["dy/dx"].text == "dy/dx: 2j is not a number."


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"hide": 5}, TypeError, "hide takes a list of keys, 'grads' or 'values', not int"),
    ({"rel_tol": "0.1"}, TypeError, "rel_tol must be a number, not str"),
    ({"abs_tol": math.nan}, ValueError, "abs_tol must be a number >= 0, not nan"),
    ({"digits": "4"}, TypeError, "digits must be an int, not str"),
    ({"digits": 0}, ValueError, "digits must be between 1 and 17, not 0"),
    ({"task": 5}, TypeError, "task must be text"),
    ({"edge_labels": "no"}, TypeError, "edge_labels True, False or None"),
])
def test_options_of_the_wrong_type_are_refused_when_the_exercise_is_made(options, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        exercise("y = 2*x", {"x": 1}, **options)


def test_an_answers_key_that_is_not_text_is_a_type_error():
    with pytest.raises(TypeError, match="an answer's key is a str"):
        exercise("y = 2*x", {"x": 1}).check({1: 2})


@pytest.mark.parametrize(("argv", "message"), [
    (["exercise", "seeds"], "no ready exercise 'seeds' (ready: seed, fanout, neuron); or give a formula "
                            "and its values with --at"),
    (["exercise", "seed", "--at", "x=1"], "the ready exercise 'seed' has its own values: --at is for a formula"),
    (["exercise", "fanout", "--answer", "z1=3", "--answer", "z1=4"], "--answer gives 'z1' twice"),
])
def test_the_command_line_names_a_mistyped_exercise_and_a_doubled_answer(capsys, argv, message):
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"graphviz-grad: error: {message}"


def test_every_upstream_factor_left_out_is_named_and_an_edge_to_the_output_has_no_dy_dy():
    made = exercise("L = sin(x)*exp(x)", {"x": 0.5}, hide=["dL/dx"])  # x feeds z1 = sin(x) and z2 = exp(x)
    text = made.check({"dL/dx": math.cos(0.5) + math.exp(0.5)})["dL/dx"].text  # the locals, summed
    assert text.endswith("You left out the factors dL/dz1 = 1.649 and dL/dz2 = 0.4794.")
    tie = exercise("y = max(a, b)", {"a": 1, "b": 1}, hide=["dy/da"])
    text = tie.check({"dy/da": 1})["dy/da"].text
    assert "dy/dy" not in text and text.endswith("∂y/∂a should be 0.5 (= Heaviside(a - b)).")


def test_a_wide_fan_outs_feedback_lists_a_few_terms_and_counts_the_rest():
    made = exercise("y = " + " + ".join(f"sin({i}*x)" for i in range(1, 301)), {"x": 0.1}, hide=["dy/dx"])
    text = made.check({"dy/dx": 7})["dy/dx"].text
    assert text.count("∂z") == 8 and "· ∂z21/∂x + … (300 in all). With numbers: " in text
    assert text.endswith("0.6967 · 8 + … (300 in all).") and len(text) < 400
    text = made.check({"dy/dx": math.cos(0.1)})["dy/dx"].text  # only the first path
    assert text.endswith("x also feeds z3, z6, z9, z12, z15, z18, z21, z24, … (299 in all): "
                         "add every path's contribution (fan-out sums).")


def test_explain_takes_a_number_and_says_so_for_anything_else():
    made = exercise("y = 2*x", {"x": 1})
    assert made.explain("dy/dx", 3).startswith("dy/dx = 3 is not right.")
    with pytest.raises(TypeError, match="explain takes the answer as a number, not str"):
        made.explain("dy/dx", "3")


def test_values_can_be_keywords_as_in_grad_and_check():
    by_keyword = gg.exercise("L = a*b + c", a=1, b=2, c=3, hide="grads")
    by_mapping = gg.exercise("L = a*b + c", {"a": 1, "b": 2, "c": 3})
    assert by_keyword.blanks == by_mapping.blanks
    assert by_keyword.trace.gradients == by_mapping.trace.gradients == {"a": 2.0, "b": 1.0, "c": 1.0}
    with pytest.raises(gg.InputValueError, match="'a' is given both"):
        gg.exercise("L = a*b", {"a": 1, "b": 2}, a=3)
    with pytest.raises(gg.InputValueError, match="missing a value for input 'b'"):
        gg.exercise("L = a*b", a=1)
