"""The Hessian: the seed's 2·v·vᵀ, textbook examples and random trees against SymPy and finite
differences of the gradient, kinks and non-finite entries, hvp, eigenvalues and the CLI contract."""

import dataclasses
import json
import math
import os

import numpy
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad import backward, build, forward, inputs
from graphviz_grad.cli import main
from graphviz_grad.hessian import MAX_WRT, hessian, hvp, symmetric_eigenvalues
from graphviz_grad.ops import OPS
from graphviz_grad.symbolic.hessian import check_hessian
from tests.conftest import EXAMPLE_1, SEED
from tests.test_properties import NAMES, smooth_here, to_expr, trees

AT_1 = "x=5,y=10,W1=0.1,W2=0.2,B=0.5"


def test_the_seed_is_2_v_vT_with_eigenvalues_0_0_252():
    h = hessian(SEED, wrt=["W1", "W2", "B"], **EXAMPLE_1)
    v = (5.0, 10.0, -1.0)
    assert h.matrix == tuple(tuple(2 * a * b for b in v) for a in v)
    assert h.eigenvalues == (0.0, 0.0, 252.0)
    assert h.gradient == {"W1": 20.0, "W2": 40.0, "B": -4.0} and h.value == 4.0
    assert h["W1", "B"] == h[0, 2] == h[0][2] == -10.0 and len(h) == 3
    assert numpy.array(h).tolist() == h.tolist() == [list(row) for row in h.matrix]
    report = h.check()
    assert report.ok and report.complete and {row.status for row in report.rows} == {"agree"}
    assert [row.symbolic for row in report.rows[:3]] == ["2*x**2", "2*x*y", "-2*x"]


TEXTBOOK = [
    ("L = x**3*y + exp(x*y)", {"x": 0.7, "y": -1.3}),
    ("L = sin(x)*cos(y) + log(x*y)", {"x": 1.2, "y": 0.4}),
    ("L = sqrt(x**2 + y**2)", {"x": 3.0, "y": 4.0}),
    ("L = tanh(w*x + b)", {"w": 0.5, "x": 2.0, "b": -0.3}),
    ("L = sigmoid(w*x + b)", {"w": 0.5, "x": 2.0, "b": -0.3}),
    ("L = x**y", {"x": 2.0, "y": 3.0}),
    ("L = x/y - 1/(x*y)", {"x": 1.5, "y": -0.5}),
    ("L = max(a, b)*a + min(a, b)**2 + abs(a - 3*b) + relu(b)", {"a": 1.0, "b": 2.0}),
    ("L = (a - 1)**2 + 100*(b - a**2)**2", {"a": -1.2, "b": 1.0}),  # Rosenbrock
]


@pytest.mark.parametrize("formula, point", TEXTBOOK)
def test_textbook_examples_agree_with_sympy_on_every_entry(formula, point):
    h = hessian(formula, **point)
    report = check_hessian(h, rtol=1e-9)
    assert report.ok and report.complete, report.to_json()
    assert {row.status for row in report.rows} == {"agree"}
    assert len(report.rows) == len(point) ** 2
    _agrees_with_finite_differences(h)


def _agrees_with_finite_differences(h, rel=1e-5, absolute=1e-5):
    """Column j against the central difference of the gradient along input j."""
    point, names = h.point, h.wrt
    for j, name in enumerate(names):
        step = 1e-5 * max(1.0, abs(point[name]))
        ahead = gg.grad(h.graph, {**point, name: point[name] + step}).gradients
        behind = gg.grad(h.graph, {**point, name: point[name] - step}).gradients
        for i, other in enumerate(names):
            estimate = (ahead[other] - behind[other]) / (2 * step)
            assert h.matrix[i][j] == pytest.approx(estimate, rel=rel, abs=absolute), (other, name)


def _twice_smooth_here(graph, values, margin=1e-3):
    """No op whose second derivative jumps (elu at 0) has an argument within ``margin`` of the jump."""
    position = {node.name: i for i, node in enumerate(graph)}
    for node in graph:
        op = OPS.get(node.op)
        if op is None or op.second_kink is None:
            continue
        args = tuple(values[position[name]] for name in node.inputs)
        for shift in (-margin, 0.0, margin):
            moved = tuple(value + shift for value in args)
            if any(op.second_kink(slot, moved) for slot in range(op.arity)) or \
                    op.second_kink(0, args) != op.second_kink(0, moved) or \
                    (moved[0] > 0) != (args[0] > 0):
                return False
    return True


def test_rosenbrock_by_hand():
    h = hessian("L = (a - 1)**2 + 100*(b - a**2)**2", a=1.0, b=1.0)
    assert h.matrix == ((802.0, -400.0), (-400.0, 200.0))


@settings(max_examples=int(os.environ.get("GG_EXAMPLES", 150)) // 3, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(trees(), st.fixed_dictionaries({name: st.floats(-3, 3) for name in NAMES}))
def test_random_trees_agree_with_sympy_and_finite_differences(tree, point):
    expr = to_expr(tree, dict(zip(NAMES, inputs(NAMES))))
    assume(isinstance(expr, gg.Expr) and expr.op not in ("input", "const"))
    graph = build(expr.named("L"), inputs=list(NAMES))
    values = forward(graph, point)
    assume(smooth_here(graph, values) and _twice_smooth_here(graph, values))
    h = hessian(backward(graph, point))
    assume(all(math.isfinite(v) and abs(v) < 1e4 for row in h.matrix for v in row))
    assert h.statuses == (("ok",) * 3,) * 3
    assert all(h.matrix[i][j] == pytest.approx(h.matrix[j][i], rel=1e-12, abs=1e-12)
               for i in range(3) for j in range(3))
    report = check_hessian(h, rtol=1e-7, atol=1e-8)
    assert report.ok, report.to_json()
    assert {row.status for row in report.rows} <= {"agree", "not checked"}
    _agrees_with_finite_differences(h, rel=1e-3, absolute=1e-3)


def _one_column_at_a_time(h):
    """The Hessian again, column by column with the structural path (`hvp`'s)."""
    columns = [hvp(h.trace, vector=name, wrt=h.wrt) for name in h.wrt]
    return tuple(tuple(columns[j][other] for j in range(len(h.wrt))) for other in h.wrt)


@settings(max_examples=int(os.environ.get("GG_EXAMPLES", 150)) // 3, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(trees(), st.fixed_dictionaries({name: st.floats(-3, 3) for name in NAMES}))
def test_the_block_of_columns_equals_one_column_at_a_time(tree, point):
    # all columns in one sweep (lists of tangents) against one structural column per input,
    # at any point where the block path is taken, kinks and overflow included
    expr = to_expr(tree, dict(zip(NAMES, inputs(NAMES))))
    assume(isinstance(expr, gg.Expr) and expr.op not in ("input", "const"))
    h = hessian(backward(build(expr.named("L"), inputs=list(NAMES)), point))
    for mine, theirs in zip(h.matrix, _one_column_at_a_time(h), strict=True):
        assert all(a == pytest.approx(b, rel=1e-12, abs=1e-300) or (a != a and b != b)
                   for a, b in zip(mine, theirs, strict=True)), (h.matrix, _one_column_at_a_time(h))


def test_blocks_narrower_than_the_matrix_give_the_same_columns(monkeypatch):
    import importlib

    module = importlib.import_module("graphviz_grad.hessian_sweeps")
    formula = "L = " + " + ".join(f"a{k}**2*a{(k + 1) % 7}" for k in range(7))
    values = [0.3 * k - 1 for k in range(7)]
    whole = hessian(formula, values).matrix
    monkeypatch.setattr(module, "BLOCK_NUMBERS", 45)  # 2 columns per block for these 20 operations
    assert hessian(formula, values).matrix == whole


def test_an_infinite_local_derivative_leaves_structural_zeros_at_zero():
    # sqrt'(0) = inf: the block path would meet inf·0; the column path keeps d2L/dx dy = 0
    h = hessian("L = sqrt(x) + y**2", x=0, y=3)
    assert h.matrix[1] == (0.0, 2.0) and h.statuses[1][1] == "ok"
    assert h.matrix[0][1] == 0.0 and h.statuses[0][1] == "kink"


@pytest.mark.parametrize("name", list(OPS))
def test_every_op_has_second_partials_matching_differences_of_its_partials(name):
    op = OPS[name]
    assert op.second_partials is not None
    args = [0.7, 1.9][:op.arity]
    out = op.forward(*args)
    second = op.second_partials(*args, out)
    assert len(second) == op.arity and all(len(row) == op.arity for row in second)
    for slot in range(op.arity):
        h = 1e-6
        up, down = list(args), list(args)
        up[slot] += h
        down[slot] -= h
        above = op.partials(*up, op.forward(*up))
        below = op.partials(*down, op.forward(*down))
        for other in range(op.arity):
            estimate = (above[other] - below[other]) / (2 * h)
            assert second[other][slot] == pytest.approx(estimate, rel=1e-6, abs=1e-6), (name, other, slot)


@pytest.mark.parametrize("name", list(OPS))
def test_second_partials_never_raise_at_awkward_points(name):
    op = OPS[name]
    for a in (0.0, -1.0, math.inf, -math.inf, math.nan, 1e300, 1e-300):
        for b in (0.0, 2.0, -0.5, math.inf, math.nan)[: 5 if op.arity == 2 else 1]:
            args = (a, b)[:op.arity]
            op.second_partials(*args, op.forward(*args))  # IEEE: inf or nan, never an exception


def test_a_kink_gives_a_status_not_a_number():
    h = hessian("L = relu(a)*b + b**3", a=0, b=2)
    assert h.statuses == (("kink", "kink"), ("kink", "ok")) and h["b", "b"] == 12.0
    assert h.eigenvalues is None and h.kinks == ("z1",)
    data = h.to_dict()
    assert data["hessian"] == [["kink", "kink"], ["kink", 12.0]] and data["eigenvalues"] is None
    report = h.check()
    assert [row.status for row in report.rows] == ["kink", "kink", "kink", "agree"] and report.ok


@pytest.mark.parametrize("formula, point", [("L = abs(x)*y", {"x": 0, "y": 1}),
                                            ("L = max(x, y)**2", {"x": 1, "y": 1}),
                                            ("L = sqrt(x)", {"x": 0})])
def test_other_kinks(formula, point):
    h = hessian(formula, **point)
    assert "kink" in {s for row in h.statuses for s in row}


def test_non_finite_entries_are_strings_and_agree_with_sympy():
    h = hessian("L = 1/x", x=0)
    assert h.statuses == (("inf",),) and h.to_dict()["hessian"] == [["inf"]]
    assert h.check().rows[0].status == "infinite" and h.check().ok
    h = hessian("L = exp(x)", x=1000)  # e**1000 is a real number beyond float64: inf for the engine
    assert h.statuses == (("inf",),) and h.check().rows[0].status == "infinite" and h.check().ok
    h = hessian("L = log(x)*y", x=-1, y=2)
    assert h.statuses[0] == ("undefined", "undefined") and h.statuses[1][1] == "ok"


def test_hvp_is_hessian_times_vector_without_forming_it():
    vector = {"W1": 1.0, "B": -2.0, "x": 0.5}
    product = hvp(SEED, vector=vector, **EXAMPLE_1)
    h = hessian(SEED, **EXAMPLE_1)
    for i, name in enumerate(h.wrt):
        assert product[name] == pytest.approx(sum(h.matrix[i][j] * vector.get(other, 0.0)
                                                  for j, other in enumerate(h.wrt)))
    assert list(hvp(SEED, vector="B", wrt="W1,B", **EXAMPLE_1)) == ["W1", "B"]


def test_wrt_errors():
    with pytest.raises(gg.InputValueError, match="not an input"):
        hessian(SEED, wrt="q", **EXAMPLE_1)
    with pytest.raises(gg.InputValueError, match="twice"):
        hessian(SEED, wrt=["B", "B"], **EXAMPLE_1)
    with pytest.raises(TypeError):
        hessian(SEED, wrt=3, **EXAMPLE_1)
    names = " + ".join(f"a{k}" for k in range(MAX_WRT + 1))
    with pytest.raises(gg.InputValueError, match="over the limit"):
        hessian(f"L = {names}", [1.0] * (MAX_WRT + 1))


def test_jacobi_agrees_with_numpy():
    rng = numpy.random.default_rng(7)
    for n in (1, 2, 3, 6, 12):
        a = rng.normal(size=(n, n))
        a = a + a.T
        assert symmetric_eigenvalues(a.tolist()) == pytest.approx(numpy.linalg.eigvalsh(a), abs=1e-12)


def test_large_hessians_use_numpy_and_stay_cheap():
    n = 50
    formula = "L = " + " + ".join(f"a{k}**2*a{(k + 1) % n}" for k in range(n))
    h = hessian(formula, [0.1 * k for k in range(n)])
    numbers = numpy.array(h.matrix)
    assert numpy.allclose(numbers, numbers.T)
    assert h.eigenvalues == pytest.approx(numpy.linalg.eigvalsh(numbers), abs=1e-9)


def test_cli_hessian_json_contract(capsys):
    assert main(["hessian", SEED, "--at", AT_1, "--wrt", "W1,W2,B", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"output", "value", "wrt", "gradient", "hessian", "eigenvalues", "check"}
    assert set(data["check"]) == {"ok", "rows"}
    assert data["output"] == "L" and data["value"] == 4.0 and data["wrt"] == ["W1", "W2", "B"]
    assert data["gradient"] == {"W1": 20.0, "W2": 40.0, "B": -4.0}
    assert data["hessian"] == [[50.0, 100.0, -10.0], [100.0, 200.0, -20.0], [-10.0, -20.0, 2.0]]
    assert data["eigenvalues"] == [0.0, 0.0, 252.0]
    assert data["check"]["ok"] is True and len(data["check"]["rows"]) == 9


def test_cli_hessian_defaults_to_every_input_and_writes_a_table(capsys):
    assert main(["hessian", SEED, "--at", AT_1]) == 0
    out = capsys.readouterr().out
    assert "eigenvalues:" in out and "25 agree" in out


def test_cli_hessian_non_finite_and_kinks(capsys):
    assert main(["hessian", "L = 1/x", "--at", "x=0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hessian"] == [["inf"]]
    assert main(["hessian", "L = relu(x)*y", "--at", "x=0,y=1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hessian"][0][0] == "kink" and data["check"]["rows"][0]["status"] == "kink"


def test_cli_hessian_exit_1_on_a_disagreement(capsys, monkeypatch):
    import sys

    # the sweeps read the op table of their module (graphviz_grad.hessian_sweeps)
    wrong = dataclasses.replace(OPS["exp"], second_partials=lambda a, out: ((2 * out,),))
    monkeypatch.setattr(sys.modules["graphviz_grad.hessian_sweeps"], "OPS", {**OPS, "exp": wrong})
    assert main(["hessian", "L = exp(x)", "--at", "x=1", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["check"]["ok"] is False and data["check"]["rows"][0]["status"] == "disagree"


def test_cli_hessian_exit_3_when_over_the_budget(capsys):
    assert main(["hessian", SEED, "--at", AT_1, "--budget", "1e-9", "--json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert {row["status"] for row in data["check"]["rows"]} == {"not checked"}
    assert data["check"]["ok"] is True


def test_cli_hessian_exit_3_when_too_big_for_sympy(capsys):
    formula = "L = " + " + ".join(f"a{k}*a{k}" for k in range(70))
    at = ",".join(f"a{k}=1" for k in range(70))
    assert main(["hessian", formula, "--at", at, "--wrt", "a0,a1", "--json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert data["hessian"] == [[2.0, 0.0], [0.0, 2.0]]
    assert "over the size" in data["check"]["rows"][0]["note"]


@pytest.mark.parametrize("argv, message", [
    (["hessian", SEED, "--at", AT_1, "--wrt", "q"], "'q', which is not an input"),
    (["hessian", SEED, "--at", "x=5"], "missing a value"),
    (["hessian", "L = x +", "--at", "x=1"], "line 1"),
])
def test_cli_hessian_bad_input_is_exit_2_with_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["softplus", "leaky_relu", "elu", "silu", "gelu"])
@pytest.mark.parametrize("a", [-2.3, -0.4, 0.6, 3.1])
def test_the_activations_second_partials_match_differences_of_their_partials(name, a):
    op, h = OPS[name], 1e-6
    second = op.second_partials(a, op.forward(a))[0][0]
    above, below = op.partials(a + h, op.forward(a + h))[0], op.partials(a - h, op.forward(a - h))[0]
    assert second == pytest.approx((above - below) / (2 * h), rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("formula", ["L = softplus(x*y)", "L = silu(x)*y", "L = gelu(x - y)",
                                     "L = elu(x)*y**2", "L = leaky_relu(x)*y"])
def test_the_activations_hessians_agree_with_sympy(formula):
    report = hessian(formula, x=-0.7, y=1.3).check()
    assert report.ok and {row.status for row in report.rows} == {"agree"}


def test_elu_has_a_second_order_kink_at_0_and_leaky_relu_a_first_order_one():
    h = hessian("L = elu(x)*y", x=0, y=2)
    assert h.kinks == ("z1",) and h.statuses[0][0] == "kink" and h.eigenvalues is None
    assert hessian("L = elu(x)*y", x=0.5, y=2).statuses[0][0] == "ok"  # smooth away from 0
    assert hessian("L = leaky_relu(x)*y", x=0, y=2).statuses[0][0] == "kink"


def test_the_check_of_a_tower_of_powers_answers_without_computing_the_number():
    # at exact rationals SymPy computed 10**10**10 digit by digit and never answered
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "graphviz_grad", "hessian", "L = a**a**a**a", "--at", "a=10",
                           "--json"], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr
    data = json.loads(done.stdout)
    assert data["hessian"] == [["inf"]] and data["eigenvalues"] is None


def test_a_power_past_the_cap_is_too_large_to_check_as_in_check(capsys):
    # SymPy takes a**(a**(a**a)) as infinite without computing it: "infinite for both" would pretend
    # a verdict. As `check` says of the gradient: too large, not checked, exit code 3
    assert main(["check", "L = a**a**a**a", "--at", "a=10", "--simplify", "never", "--json"]) == 3
    gradient_rows = json.loads(capsys.readouterr().out)["rows"]
    assert gradient_rows[0]["status"] == "too large"
    assert main(["hessian", "L = a**a**a**a", "--at", "a=10", "--json"]) == 3
    rows = json.loads(capsys.readouterr().out)["check"]["rows"]
    assert [row["status"] for row in rows] == ["too large"] and "2**60 bits" in rows[0]["note"]
    assert main(["hessian", "L = a**a**a**a", "--at", "a=10"]) == 3
    assert "1 too large" in capsys.readouterr().out
    assert main(["hessian", "L = a**a**a**a + b**2", "--at", "a=10,b=1", "--wrt", "b", "--json"]) == 0


def test_an_overflowing_entry_is_infinite_not_nan():
    # exp(1000) overflows: d2/dx2 = y*exp(x) is inf (mul's second partial d2/da2 = 0 adds nothing
    # along the infinite tangent of exp, rather than 0*inf = nan)
    h = hessian("L = exp(x)*y", x=1000, y=1)
    assert h.matrix == ((math.inf, math.inf), (math.inf, 0.0))
    assert [row.status for row in h.check().rows] == ["infinite", "infinite", "infinite", "agree"]
