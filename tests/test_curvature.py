"""The calculator's curvature section: λmax of the Hessian in the parameters and lr < 2/λmax."""

import json

import pytest

from graphviz_grad import calculate
from graphviz_grad.cli import main
from graphviz_grad.descent import descend
from tests.conftest import EXAMPLE_1, SEED


def test_the_seed_is_stable_below_2_over_252():
    result = calculate()
    assert result.curvature.max_eigenvalue == 252.0
    assert result.curvature.stable_lr_below == pytest.approx(2 / 252)
    assert result.to_dict()["curvature"]["max_eigenvalue"] == 252.0
    assert "lr < 2/λmax = 0.007936507937" in result.to_text()
    assert "### Curvature" in result.to_markdown()


def test_the_stable_rate_is_where_descent_turns_unstable():
    stable = calculate().curvature.stable_lr_below
    assert descend(SEED, EXAMPLE_1, lr=0.99 * stable, steps=400).ok
    assert not descend(SEED, EXAMPLE_1, lr=1.05 * stable, steps=400).ok


def test_overshoot_warning_uses_the_curvature():
    lines = calculate(lr=0.01).update_lines()
    assert lines[-1].endswith("lr < 2/λmax = 0.007936507937)")
    # a step that still lowers the loss once, but whose repetition diverges, is flagged
    # L = a**4 at a = 1: λmax = 12, so 2/λmax = 1/6; lr = 0.2 lowers the loss once, from 1 to 0.2**4
    quartic = calculate("L = a**4", {"a": 1.0}, lr=0.2)
    assert quartic.update.verdict == "lower"
    assert quartic.update_lines()[-1].endswith("(lower; but lr >= 2/λmax = 0.1666666667: repeated steps overshoot)")


def test_concave_and_kinked_formulas():
    concave = calculate("L = -(a*a)", {"a": 1.0})
    assert concave.curvature.max_eigenvalue == -2.0 and concave.curvature.stable_lr_below is None
    kinked = calculate("L = relu(a)*b", {"a": 0.0, "b": 1.0})
    assert kinked.curvature.max_eigenvalue is None and "kink" in kinked.curvature.note
    assert kinked.to_dict()["curvature"]["max_eigenvalue"] is None


def test_calc_json_has_the_curvature_field(capsys):
    assert main(["calc", "--json"]) == 0
    curvature = json.loads(capsys.readouterr().out)["curvature"]
    assert set(curvature) == {"max_eigenvalue", "stable_lr_below"}
    assert curvature["max_eigenvalue"] == 252.0
    assert curvature["stable_lr_below"] == pytest.approx(0.0079365, rel=1e-4)


def test_calc_from_json_has_the_curvature_too(tmp_path, capsys):
    assert main(["grad", "L = (x*W1 + y*W2 - B)**2", "--at", "x=5,y=10,W1=0.1,W2=0.2,B=0.5", "--json"]) == 0
    saved = tmp_path / "trace.json"
    saved.write_text(capsys.readouterr().out)
    assert main(["calc", "--from-json", str(saved), "--json"]) == 0
    curvature = json.loads(capsys.readouterr().out)["curvature"]
    assert curvature["max_eigenvalue"] == pytest.approx(252.0)
    assert curvature["stable_lr_below"] == pytest.approx(2 / 252)
