"""The SymPy check's bounds and phases: derive once per graph, simplify modes, the time budget,
towers of powers, the new activations through every command, and exit codes."""

import subprocess
import sys

import pytest

import graphviz_grad as gg
from graphviz_grad.cli import main
from graphviz_grad.ops import FUNCTIONS, OPS
from graphviz_grad.symbolic import CheckError, check, derived

MLP = ("h1 = tanh(w11*x1 + w12*x2 + b1); h2 = tanh(w21*x1 + w22*x2 + b2); "
       "yhat = v1*h1 + v2*h2 + c; L = (yhat - t)**2")
MLP_POINT = {"w11": 0.1, "w12": -0.2, "w21": 0.3, "w22": 0.4, "b1": 0, "b2": 0.1, "v1": 0.5,
             "v2": -0.5, "c": 0, "x1": 1, "x2": 2, "t": 1}
ACTIVATIONS = ["softplus", "leaky_relu", "elu", "silu", "gelu"]


def test_the_issues_mlp_agrees_on_every_row():
    report = check(MLP, simplify="never", **MLP_POINT)
    assert report.ok and report.complete
    assert {row.status for row in report.rows} == {"agree"}


def test_a_graph_is_derived_once_and_reused_at_every_point():
    first = derived(gg.parse("L = (x*W1 + y*W2 - B)**2"))
    assert derived(gg.parse("L = (x*W1 + y*W2 - B)**2")) is first  # same structure, new Graph object
    assert check("L = (x*W1 + y*W2 - B)**2", x=1, y=2, W1=3, W2=4, B=5)["W1"].symbolic_value == 2 * (3 + 8 - 5)
    assert check("L = (x*W1 + y*W2 - B)**2", x=2, y=2, W1=3, W2=4, B=5)["W1"].symbolic_value == 4 * (6 + 8 - 5)
    assert derived(gg.parse("L = (x*W1 + y*W2 - B)**3")) is not first


@pytest.mark.parametrize(("mode", "forms"), [("never", {"factored"}), (False, {"factored"}),
                                             ("auto", {"simplified", "factored"}),
                                             (True, {"simplified", "factored"})])
def test_simplify_modes_change_only_the_shown_forms(mode, forms):
    report = check("L = exp(-x)*sin(x)**2 + x*y", x=0.5, y=2, simplify=mode)
    plain = check("L = exp(-x)*sin(x)**2 + x*y", x=0.5, y=2, simplify="never")
    assert {row.form for row in report.rows} <= forms | {"simplified"}
    assert [row.symbolic_value for row in report.rows] == [row.symbolic_value for row in plain.rows]
    assert [row.status for row in report.rows] == [row.status for row in plain.rows]


@pytest.mark.parametrize("bad", ["sometimes", 1, None])
def test_a_bad_simplify_mode_is_a_check_error(bad):
    with pytest.raises(CheckError, match="simplify must be one of auto, always, never"):
        check("y = x", x=1, simplify=bad)


@pytest.mark.parametrize("bad", [0, -1, "5", True, float("nan")])
def test_a_bad_timeout_is_a_check_error(bad):
    with pytest.raises(CheckError, match="timeout must be"):
        check("y = x", x=1, timeout=bad)


def test_rows_past_the_time_budget_are_not_checked_and_none_fails():
    report = check(MLP, timeout=1e-9, **MLP_POINT)
    assert report.ok and not report.complete
    assert {row.status for row in report.rows} == {"not checked"}
    assert "time budget of 1e-09 s ran out" in report.rows[0].note
    assert "INCOMPLETE" in report.summary() and report.to_dict()["complete"] is False


def test_exit_code_3_when_rows_are_not_checked(capsys):
    at = ",".join(f"{name}={value}" for name, value in MLP_POINT.items())
    assert main(["check", MLP, "--at", at, "--timeout", "0.000001", "--simplify", "never"]) == 3
    assert "not checked" in capsys.readouterr().out
    assert main(["check", "y = x**2", "--at", "x=3", "--simplify", "never"]) == 0


@pytest.mark.parametrize(("formula", "point"), [
    ("L = a**a**a**a", {"a": 10}),
    ("L = a**a**a**a", {"a": 10.4}),
    ("L = a**b**c**d**e**f", dict.fromkeys("abcdef", 2)),
    ("L = a**b**c**d**e**f**g", dict.fromkeys("abcdefg", 3)),
    ("L = sin(exp(exp(x)))", {"x": 10}),
])
def test_towers_of_powers_answer_without_computing_the_numbers(formula, point):
    report = check(formula, simplify="never", timeout=30, **point)
    assert report.ok
    assert {row.status for row in report.rows} <= {"agree", "infinite", "overflow", "undefined", "too large"}
    assert report.complete == (report.counts["too large"] == 0)


def test_rows_past_the_size_cap_are_too_large_not_infinite_and_exit_3(capsys):
    report = check("L = a**a**a**a + b", a=10, b=1, simplify="never")
    assert report.ok and not report.complete
    assert [report[name].status for name in ("a", "b", "L")] == ["too large", "agree", "agree"]
    assert "too large to check" in report["a"].note and "2**60 bits" in report["a"].note
    assert "INCOMPLETE" in report.summary() and "past the size cap" in report.summary()
    assert report.to_dict()["complete"] is False
    assert main(["check", "L = a**a**a**a", "--at", "a=10", "--simplify", "never"]) == 3
    assert "too large" in capsys.readouterr().out
    # a pole is infinite, not too large: that is a verdict (exit 0)
    assert check("L = 1/x", x=0)["x"].status == "infinite"
    assert main(["check", "L = 1/x", "--at", "x=0"]) == 0


def test_a_derivative_past_the_cap_with_a_huge_float_value_is_too_large_not_a_traceback(capsys):
    # dL/dx = y*x**(y - 1) evaluates (in mpmath) to about 9.5e+4139268515822504094, whose
    # formatting in the note went through decimal.Decimal and raised InvalidOperation: a
    # traceback and exit code 1, the code of a disagreement
    report = check("L = x**y", x=1.1, y=1e20, simplify="never")
    assert report.ok and not report.complete
    assert report["x"].status == "too large" and "e+4139268515822504094" in report["x"].note
    assert main(["check", "L = x**y", "--at", "x=1.1,y=1e20", "--simplify", "never"]) == 3
    assert "too large" in capsys.readouterr().out


@pytest.mark.slow
def test_a_tower_stays_under_a_gigabyte_in_a_fresh_process():
    code = ("import resource, graphviz_grad as gg; r = gg.check('L = a**a**a**a', a=10); "
            "print(r.ok, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    ok, peak_kib = done.stdout.split()
    assert ok == "True" and int(peak_kib) < 1024 * 1024


def test_the_issues_leaky_relu_kink_takes_pytorchs_slope():
    report = check("L = leaky_relu(x)*y", x=0, y=2)
    assert report.ok and report["x"].status == "kink" and report["x"].engine == 0.02


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("x", [-1000.0, -1.3, 0.0, 0.7, 1000.0])
def test_every_activation_agrees_with_sympy_far_out_and_at_0(name, x):
    report = check(f"L = {name}(x*w) + w", x=x, w=1.0, simplify="never")
    assert report.ok, report.to_text()


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_every_activation_works_through_every_command(name, capsys, tmp_path):
    formula = f"L = {name}(w*x - b)"
    assert name in FUNCTIONS and callable(getattr(gg, name))
    assert main(["grad", formula, "--at", "w=0.5,x=2,b=0.1", "--json"]) == 0
    assert main(["check", formula, "--at", "w=0.5,x=2,b=0.1", "--simplify", "never"]) == 0
    assert main(["calc", "--formula", formula, "--at", "w=0.5,x=2,b=0.1", "--json"]) == 0
    assert main(["render", formula, "--at", "w=0.5,x=2,b=0.1", "-o", str(tmp_path / "g.dot")]) == 0
    assert name in (tmp_path / "g.dot").read_text()
    capsys.readouterr()
    built = getattr(gg, name)(gg.inputs("x")[0] * 2)
    assert built.op == name and OPS[name].arity == 1


def test_the_passes_over_a_large_graph_stop_at_the_time_budget():
    # the node form's passes over the whole graph (node values, forward rules, SymPy's node
    # form, the chain rule) never looked at the clock: check(timeout=1) of a 60,000-node sum
    # took 19 s of CPU, and 240,000 nodes 68 s, only to mark every row not checked
    from graphviz_grad.symbolic import numeric

    graph = gg.parse("L = " + " + ".join(["x*y"] * 1500))
    report = check(graph, x=1.0, y=2.0, simplify="never", timeout=1e-9)
    assert not report.full and not report.complete and report.ok
    assert {row.status for row in report.rows} == {"not checked"}
    assert graph not in numeric._NODE_FORMS  # stopped before SymPy built the node form
