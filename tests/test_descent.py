"""Gradient descent: convergence on Example 1, clean stops on divergence, the trajectory's formats."""

import csv
import io
import itertools
import json
import math

import pytest

from graphviz_grad.descent import CONVERGED, DIVERGED, FINISHED, descend
from graphviz_grad.errors import InputValueError

from .conftest import EXAMPLE_1, EXAMPLE_2, SEED

PARAMETERS = "W1,W2,B"


def test_example_1_converges_and_every_step_is_the_update_rule():
    run = descend(SEED, EXAMPLE_1, wrt=PARAMETERS, lr=0.001, steps=100)
    assert run.status == FINISHED and run.ok
    losses = [point.loss for point in run.history]
    assert len(losses) == 101 and losses[0] == 4.0 and losses[-1] < 1e-20
    assert all(later < earlier for earlier, later in itertools.pairwise(losses))
    for before, after in zip(run.history, run.history[1:]):
        for name in ("W1", "W2", "B"):
            assert after.parameters[name] == before.parameters[name] - 0.001 * before.gradients[name]
    # the fixed point fits the data: x*W1 + y*W2 = B
    final = run.final.parameters
    assert 5 * final["W1"] + 10 * final["W2"] - final["B"] == pytest.approx(0, abs=1e-12)
    assert run.trace_at(run.final).value("x") == 5.0


def test_the_first_step_is_the_calculators_update():
    from graphviz_grad.calculator import calculate

    run = descend(SEED, EXAMPLE_1, wrt=PARAMETERS, lr=0.001, steps=1)
    assert dict(run.history[1].parameters) == dict(calculate().update.after)
    assert run.history[1].loss == calculate().update.loss_after


def test_a_too_large_learning_rate_stops_cleanly():
    run = descend(SEED, EXAMPLE_1, wrt=PARAMETERS, lr=0.01, steps=1000)
    assert run.status == DIVERGED and not run.ok
    assert len(run.history) == 11  # the loss grew 10 steps in a row
    assert run.message.startswith("diverged: L grew for 10 steps in a row (from 4 to 17335.3)")
    assert "try a smaller learning rate than 0.01" in run.message
    assert all(math.isfinite(point.loss) for point in run.history)


def test_overflow_to_inf_stops_at_once():
    run = descend("L = exp(w*w)", {"w": 3}, lr=0.5)
    assert run.status == DIVERGED and len(run.history) == 2
    assert run.message == "diverged at step 1: L is inf; try a smaller learning rate than 0.5"
    nan = descend("L = log(w)", {"w": -1})
    assert nan.status == DIVERGED and len(nan.history) == 1 and "L is nan" in nan.message


def test_tolerance_and_a_stationary_start():
    run = descend("y = (a - 3)**2", {"a": 0}, lr=0.1, steps=1000, tol=1e-9)
    assert run.status == CONVERGED and abs(run.final.gradients["a"]) <= 1e-9
    assert run.final.parameters["a"] == pytest.approx(3)
    at_rest = descend(SEED, EXAMPLE_2, wrt=PARAMETERS)
    assert at_rest.status == CONVERGED and len(at_rest.history) == 1
    assert at_rest.message.startswith("converged at step 0: every |dL/dparameter| = 0; L = 0")  # tol 0: exactly 0


def test_zero_steps_and_the_default_parameters():
    run = descend("y = a*b", {"a": 2, "b": 3}, steps=0)
    assert run.status == FINISHED and len(run.history) == 1 and run.wrt == ("a", "b")


def test_csv_keeps_full_precision():
    run = descend(SEED, EXAMPLE_1, wrt=PARAMETERS, steps=5)
    rows = list(csv.reader(io.StringIO(run.to_csv())))
    assert rows[0] == ["step", "L", "W1", "W2", "B", "dL/dW1", "dL/dW2", "dL/dB"]
    assert len(rows) == 7 and rows[1] == ["0", "4.0", "0.1", "0.2", "0.5", "20.0", "40.0", "-4.0"]
    assert float(rows[3][2]) == run.history[2].parameters["W1"]


def test_table_samples_long_runs_and_ends_with_the_message():
    run = descend(SEED, EXAMPLE_1, wrt=PARAMETERS, steps=100)
    lines = run.to_table().splitlines()
    assert lines[0].split() == ["step", "L", "W1", "W2", "B", "dL/dW1", "dL/dW2", "dL/dB"]
    assert lines[1].split()[0] == "0" and lines[21].split()[0] == "100"
    assert lines[22] == "(80 steps not shown; the CSV (--csv, to_csv) has every step)"
    assert lines[-2].startswith("L per step: █") and lines[-1] == run.message


def test_json_has_no_nan_tokens():
    run = descend("L = exp(w*w)", {"w": 3}, lr=0.5)
    data = json.loads(json.dumps(run.to_dict(), allow_nan=False))
    assert data["status"] == "diverged" and data["history"][1]["loss"] == "inf"


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": 0}, "learning rate must be a finite number > 0"),
    ({"lr": float("nan")}, "learning rate"),
    ({"tol": -1}, "tolerance must be a finite number >= 0"),
    ({"steps": -1}, "steps must be a whole number"),
    ({"steps": 2.5}, "steps must be a whole number"),
    ({"patience": 0}, "patience must be"),
    ({"wrt": "W1,Q"}, "'Q' is not an input"),
    ({"wrt": ""}, "'' is not an input"),
    ({"wrt": []}, "needs at least one parameter"),
    ({"wrt": "B,B"}, "'B' is named twice"),
])
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(InputValueError, match=message):
        descend(SEED, EXAMPLE_1, **kwargs)


def test_image_chart():
    pytest.importorskip("matplotlib")
    run = descend(SEED, EXAMPLE_1, wrt=PARAMETERS, steps=20)
    assert run.chart("png").startswith(b"\x89PNG") and run.chart("svg") == run.chart("svg")
    diverged = descend("L = exp(w*w)", {"w": 3}, lr=0.5)
    assert diverged.chart("svg").startswith(b"<?xml")  # the inf point is left out


def test_a_zero_gradient_at_a_kink_is_not_called_a_minimum():
    run = descend("L = relu(w*x - b) + 1", {"w": 1, "x": 1, "b": 1}, wrt="w,b")
    assert run.status == CONVERGED and len(run.history) == 1
    assert run.message.endswith("(but node z3 sits where it is not differentiable: the engine follows "
                                "PyTorch: relu'(0) = 0, so this need not be a minimum)")
    tie = descend("L = max(a, b) - 0.5*a - 0.5*b", {"a": 1, "b": 1})  # the sentence reads right for a tie too
    assert tie.message.endswith("the engine follows PyTorch: a tie splits the gradient 0.5/0.5, so this need "
                                "not be a minimum)")
    smooth = descend("y = (a - 3)**2", {"a": 3})
    assert smooth.status == CONVERGED and "not differentiable" not in smooth.message
