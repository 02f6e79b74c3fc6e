"""The SymPy cross-check: closed forms, adjoints, pitfalls, kinks, renderings and the `check` command."""

import dataclasses
import html
import json
import subprocess
import sys
import time

import pytest
import sympy

import graphviz_grad as gg
from graphviz_grad import engine
from graphviz_grad.cli import main
from graphviz_grad.ops import OPS
from graphviz_grad.symbolic import CheckError, adjoints, check, closed_forms, to_sympy

from .conftest import EXAMPLE_1, EXAMPLE_2, SEED

x, y, W1, W2, B = sympy.symbols("x y W1 W2 B", real=True)
Z4 = x * W1 + y * W2 - B
PAGE = {"W1": 2 * Z4 * x, "W2": 2 * Z4 * y, "B": -2 * Z4, "x": 2 * Z4 * W1, "y": 2 * Z4 * W2}


def same(a, b):
    return sympy.simplify(a - b) == 0


# --- the seed page -------------------------------------------------------------------


def test_seed_closed_forms_are_the_page_formulas_symbolically():
    forms = closed_forms(gg.parse(SEED))
    for name, formula in PAGE.items():
        assert same(forms[name], formula), (name, forms[name])
    report = check(SEED, **EXAMPLE_1)
    for name, formula in PAGE.items():
        assert same(report[name].expr, formula)
        assert same(report[name].in_nodes.subs(sympy.Symbol("z4", real=True), Z4), formula)
    assert report["W1"].symbolic_nodes == "2*x*z4" and report["B"].symbolic_nodes == "-2*z4"


def test_seed_adjoints_are_the_chain_rule_by_hand():
    forms = adjoints(gg.parse(SEED))
    assert set(forms) == {"z1", "z2", "z3", "z4", "L"}
    for name in ("z1", "z2", "z3", "z4"):
        assert same(forms[name], 2 * Z4)
    assert forms["L"] == 1


def test_seed_check_agrees_everywhere_with_the_page_numbers():
    report = check(SEED, **EXAMPLE_1)
    assert report.ok and all(row.status == "agree" for row in report.rows)
    assert [row.wrt for row in report.rows] == ["x", "W1", "y", "W2", "B", "z1", "z2", "z3", "z4", "L"]
    expected = {"x": 0.4, "W1": 20, "y": 0.8, "W2": 40, "B": -4, "z4": 4, "L": 1}
    for name, value in expected.items():
        row = report[name]
        assert row.symbolic_value == pytest.approx(value, rel=1e-15)
        assert row.engine == pytest.approx(value, rel=1e-15)
        assert row.finite_difference == pytest.approx(value, rel=1e-8)
        assert row.step > 0 and row.abs_error <= report.atol
    assert report.worst_rel_error < 1e-15


def test_example_2_is_zero_everywhere():
    report = check(SEED, **EXAMPLE_2)
    assert report.ok
    for row in report.rows[:-1]:
        assert row.symbolic_value == 0.0 and row.engine == 0.0 and row.abs_error == 0.0


def test_seed_check_is_fast_after_import():
    check(SEED, **EXAMPLE_1)
    start = time.perf_counter()
    check(SEED, **EXAMPLE_1)
    assert time.perf_counter() - start < 0.5  # target 0.2 s; slack for a loaded CI machine


def test_subjects_formula_graph_expr_trace_and_values_forms():
    graph = gg.parse(SEED)
    reports = [check(SEED, EXAMPLE_1), check(graph, **EXAMPLE_1), check(gg.backward(graph, EXAMPLE_1)),
               check(graph, list(EXAMPLE_1.values())), gg.check(SEED, **EXAMPLE_1)]
    a, b = gg.inputs("a b")
    reports.append(check((a * b + 1).named("L"), a=2, b=3))
    assert all(report.ok for report in reports)
    assert reports[0].to_dict() == reports[2].to_dict() == reports[4].to_dict()
    assert reports[5]["a"].symbolic == "b"


def test_simplify_changes_the_display_not_the_numbers(monkeypatch):
    from graphviz_grad.symbolic import derive

    # the budget is 1 s of a child process; a loaded machine must not turn this into a timing test
    monkeypatch.setattr(derive, "SIMPLIFY_SECONDS", 60.0)
    derive.derived.cache_clear()
    simplified, plain = check("L = sigmoid(x)*x", x=0.3), check("L = sigmoid(x)*x", x=0.3, simplify=False)
    assert simplified["x"].form == "simplified" and plain["x"].form == "factored"
    assert sympy.simplify((simplified["x"].expr - plain["x"].expr).rewrite(sympy.exp)) == 0
    assert simplified["x"].symbolic_value == plain["x"].symbolic_value


def test_bad_arguments_are_clean_errors():
    with pytest.raises(CheckError, match="rtol"):
        check(SEED, EXAMPLE_1, rtol=-1)
    with pytest.raises(CheckError, match="atol"):
        check(SEED, EXAMPLE_1, atol=float("nan"))
    with pytest.raises(CheckError, match="not int"):
        check(3)
    with pytest.raises(gg.InputValueError, match="missing"):
        check(SEED, x=1)
    with pytest.raises(gg.InputValueError, match="own values"):
        check(gg.grad("y = x*2", x=1), x=2)


def test_importing_the_package_does_not_import_sympy():
    code = "import sys, graphviz_grad as gg; gg.grad('y = x*2', x=1); print('sympy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- the translation ---------------------------------------------------------------------


def test_translation_keeps_user_nodes_and_exact_decimal_constants():
    exprs = to_sympy(gg.parse("z = 0.1*x; w = z + z; L = w/3"))
    xs = sympy.Symbol("x", real=True)
    assert exprs["z"] == sympy.Rational(1, 10) * xs
    assert exprs["L"] == xs / 15
    assert set(exprs) == {"x", "0.1", "3", "z", "w", "L"}


def test_a_broken_derivative_rule_is_caught(monkeypatch):
    broken = dataclasses.replace(OPS["mul"], partials=lambda a, b, out: (b, 1.01 * a), swapped_partials=False)
    monkeypatch.setattr(engine, "OPS", {**OPS, "mul": broken})
    report = check(gg.parse(SEED), **EXAMPLE_1)  # a fresh graph: the engine compiles it with the broken rule
    assert not report.ok
    failed = {row.wrt for row in report.failures}
    assert failed == {"W1", "W2"}  # d(x*W1)/dW1 = x is what went wrong; dL/dx still uses W1
    assert "the engine gives" in report["W1"].note
    assert report["W1"].finite_difference == pytest.approx(20, rel=1e-8)  # the witnesses agree with SymPy


def test_a_broken_forward_rule_is_caught(monkeypatch):
    broken = dataclasses.replace(OPS["exp"], forward=lambda a: OPS["exp"].forward(a) * 1.001)
    monkeypatch.setattr(engine, "OPS", {**OPS, "exp": broken})
    report = check(gg.parse("L = exp(x)*y"), x=0.5, y=2)
    assert not report.ok
    assert "forward value differs" in report["z1"].note


# --- SymPy pitfalls ----------------------------------------------------------------------


def test_automatic_simplification_x_over_x_is_not_a_false_pass_or_alarm():
    assert to_sympy(gg.parse("L = x/x"))["L"] == 1  # SymPy merges the node away ...
    report = check("L = x/x", x=0)  # ... but at 0 the node is 0/0
    assert report.ok and report["x"].status == "undefined" and "L = x/x" in report["x"].note
    assert check("L = x/x", x=2)["x"].status == "agree"


def test_complex_results_are_no_real_value():
    report = check("z = log(x); L = z*y", x=-1, y=2)
    assert report.ok
    assert {row.status for row in report.rows} == {"undefined"}  # L has no real value here
    assert "node z has no real value here (z = log(x))" in report["x"].note
    assert report["y"].symbolic_value != report["y"].symbolic_value  # log(-1) = i*pi: nan
    report = check("z = log(x); L = z*y + y", x=1, y=2)
    assert report.ok and {row.status for row in report.rows} == {"agree"}


def test_a_nan_from_a_constant_subexpression_is_undefined_not_a_false_alarm():
    # SymPy: min(x, nan) raises, and d(nan + x)/dx is 0; the engine: nan. No real value here.
    report = check("c = log(-1.5); L = min(x, c) + abs(c - x*y)", x=1, y=2)
    assert report.ok and {row.status for row in report.rows} == {"undefined"}


def test_heaviside_at_zero_is_not_the_reference_the_convention_is():
    report = check("L = relu(x)*y", x=0, y=2)
    row = report["x"]
    assert report.ok and row.status == "kink" and row.engine == 0.0
    assert row.symbolic_value == 1.0  # SymPy's Heaviside(0) = 1/2: shown, not trusted
    assert "relu'(0) = 0" in row.note and "Heaviside(0) = 1/2" in row.note
    assert row.abs_error == 0.0 and report.worst_abs_error == 0.0  # against relu'(0) = 0


def test_exact_powers_of_huge_integers_do_not_hang():
    start = time.perf_counter()
    report = check("L = 9**9**9*x", x=1)
    assert report.ok and report["x"].status == "overflow" and report["x"].engine == float("inf")
    assert "beyond float64" in report["x"].note
    assert check("L = x**(9**9)", x=1)["x"].symbolic_value == 387420489.0
    assert check("L = x**(9**9)", x=2)["x"].status == "overflow"
    folded = check("L = (x*0 + 9)**(9**9) + x", x=1)  # SymPy's x*0 -> 0 makes an exact power of 9
    assert folded["x"].symbolic_value == 1.0
    assert "infinity" in folded["x"].note  # the engine's inf*0: a real float64 disagreement, explained
    assert time.perf_counter() - start < 10


def test_substitution_is_simultaneous():
    # sequential substitution would make 0/y = 0 before y = 0 arrives; the point is 0/0
    report = check("L = x/y", x=0, y=0)
    assert report["y"].status == "undefined" and report.ok
    # names that are substrings or look like other inputs are not confused
    report = check("L = x*xy + y*x", x=2, xy=3, y=5)
    assert report["x"].symbolic_value == 8 and report["xy"].symbolic_value == 2 and report.ok


def test_poles_compare_as_infinities():
    report = check("L = 1/x", x=0)
    assert report.ok and report["x"].status == "infinite" and report["x"].engine == float("-inf")


def test_a_pole_simplified_away_by_sympy_is_undefined_not_a_false_alarm():
    report = check("z1 = min(b, a); z2 = 0*z1; L = log(z2)", a=-1, b=-1)  # SymPy: 0*z1 -> 0
    assert report.ok and report["z1"].status == "undefined" and "node L is zoo here (L = log(z2))" in report["z1"].note


def test_an_engine_overflow_against_a_finite_exact_value_is_loud():
    report = check("L = exp(x) - exp(x)", x=1000)
    assert not report.ok and report["x"].status == "disagree"


# --- kinks -------------------------------------------------------------------------------


@pytest.mark.parametrize(("formula", "values", "wrt", "convention"), [
    ("L = relu(x)", {"x": 0}, "x", "; the engine follows PyTorch: relu'(0) = 0;"),
    ("L = abs(x)*3", {"x": 0}, "x", "abs'(0) = 0"),
    ("L = max(x, y)", {"x": 2, "y": 2}, "y", "; the engine follows PyTorch: a tie splits the gradient 0.5/0.5;"),
    ("L = min(x, y) + x", {"x": 1, "y": 1}, "x", "0.5/0.5"),
    ("L = sqrt(x)", {"x": 0}, "x", "sqrt'(0) = +inf"),
    ("L = x**y", {"x": 0, "y": 2}, "y", "a = 0"),
    ("L = relu(x*y)*y", {"x": 0, "y": 3}, "y", "relu'(0) = 0"),
    ("L = 0/tanh((-0.5)**c)", {"c": 0}, "c", "real only at integer exponents"),
])
def test_kinks_are_notes_not_failures(formula, values, wrt, convention):
    report = check(formula, **values)
    assert report.ok
    row = report[wrt]
    assert row.status == "kink" and "not differentiable here" in row.note and convention in row.note


def test_a_finite_difference_across_a_nearby_kink_is_left_out_not_failed():
    report = check("L = relu(x)*y", x=1e-7, y=2)  # the step (6e-6) reaches past relu's kink
    assert report.ok and report["x"].status == "agree" and report["x"].finite_difference is None
    assert "moves node z1 (relu) across a kink" in report["x"].note


def test_kinks_only_mark_rows_whose_gradient_passes_them():
    report = check("a = relu(x); L = a*y + y", x=0, y=2)
    assert report["x"].status == "kink"
    assert report["a"].status == "agree" and report["y"].status == "agree"
    assert check("L = x**2", x=0)["x"].status == "agree"  # base 0, constant exponent 2: smooth


# --- the report's renderings -----------------------------------------------------------------


def test_renderings_escape_user_text():
    b, = gg.inputs("<b>")
    report = check((b * b + 1).named("L"), {"<b>": 3})
    assert report.ok
    page = report._repr_html_()
    assert "<b>" not in page.replace("<b>check", "") and html.escape("<b>") in page
    assert "&lt;b&gt;" in page
    assert "<b>" in report.to_text() and "dL/d&lt;b&gt;" in report.to_markdown()
    assert "|" not in report["<b>"].symbolic
    latex = report.to_latex()
    assert latex.startswith(r"\begin{align*}") and latex.endswith(r"\end{align*}")
    pipe, = gg.inputs("a|b")
    markdown = check((pipe * 2).named("L"), {"a|b": 1}).to_markdown()
    assert "a\\|b" in markdown


def test_text_and_repr_are_deterministic():
    first, second = check(SEED, **EXAMPLE_1), check(SEED, **EXAMPLE_1)
    assert str(first) == str(second) and repr(first) == repr(second)
    assert repr(first) == "<CheckReport ok: 10 rows, 0 disagree, worst rel error 5.55e-17>"
    text = first.to_text()
    assert "dL/dW1 = 2*x*(-B + W1*x + W2*y) = 2*x*z4" in text and "ok (10 agree)" in text


def test_json_has_the_contract_fields_and_string_infinities():
    data = json.loads(check("L = 1/x", x=0).to_json())
    assert data["ok"] is True and set(data) >= {"ok", "rows", "rtol", "atol", "worst_abs_error"}
    row = data["rows"][0]
    for key in ("wrt", "kind", "symbolic", "pretty", "latex", "symbolic_value", "engine",
                "finite_difference", "step", "abs_error", "rel_error", "ok", "note"):
        assert key in row
    assert row["symbolic_value"] == "-inf" and row["engine"] == "-inf"  # zoo, signed by its limit


# --- large graphs ------------------------------------------------------------------------


def test_large_graphs_use_the_node_form_and_stay_fast():
    a, c, d = gg.inputs("a c d")
    expr = a
    for _ in range(300):
        expr = expr * c + d
    graph = gg.build(expr.named("L"))
    start = time.perf_counter()
    report = check(graph, a=0.5, c=0.99, d=0.01)
    assert time.perf_counter() - start < 10
    assert report.ok and not report.full and {row.form for row in report.rows} == {"nodes"}
    assert "a*dL/dz1" in report["c"].symbolic and report["z2"].symbolic == "c*dL/dz3"


def test_exponential_trees_do_not_go_to_sympy_whole():
    program = "; ".join(["z0 = x*x"] + [f"z{k} = z{k - 1}*z{k - 1} + z{k - 1}" for k in range(1, 40)])
    report = check(program, x=0.001)
    assert not report.full and report.ok


# --- the check command ---------------------------------------------------------------------


def test_cli_check_seed_exits_0_and_shows_the_closed_forms(capsys):
    assert main(["check", SEED, "--at", "x=5,y=10,W1=0.1,W2=0.2,B=0.5"]) == 0
    out = capsys.readouterr().out
    for line in ("dL/dW1 = 2*x*(-B + W1*x + W2*y) = 2*x*z4", "dL/dB = 2*(B - W1*x - W2*y) = -2*z4",
                 "dL/dx = 2*W1*(-B + W1*x + W2*y) = 2*W1*z4"):
        assert line in out


def test_cli_check_json(capsys):
    assert main(["check", SEED, "--at", "x=5,y=10,W1=0.1,W2=0.2,B=0.5", "--json", "--rtol", "1e-9",
                 "--atol", "0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["rtol"] == 1e-9 and data["atol"] == 0
    assert [row["wrt"] for row in data["rows"]][:5] == ["x", "W1", "y", "W2", "B"]
    assert data["rows"][1]["engine"] == 20.0 and data["rows"][1]["ok"] is True


def test_cli_check_exit_1_on_disagreement(capsys, monkeypatch):
    broken = dataclasses.replace(OPS["sin"], partials=lambda a, out: (-OPS["cos"].forward(a),))
    monkeypatch.setattr(engine, "OPS", {**OPS, "sin": broken})
    assert main(["check", "L = sin(x)", "--at", "x=0.5"]) == 1
    out = capsys.readouterr().out
    assert "disagree" in out


@pytest.mark.parametrize("argv", [
    ["check", "L = x*", "--at", "x=1"],
    ["check", SEED, "--at", "x=1"],
    ["check", "L = x*2", "--at", "x=1", "--rtol", "-1"],
    ["check", "L = x*2", "--at", "x=1", "--atol", "nan"],
    ["check", "L = x*2", "--at", "x=1", "--rtol", "abc"],
])
def test_cli_check_bad_input_exits_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


@pytest.mark.parametrize("formula", ["L = sin(x*1e6)", "L = cos(1e10*x)", "L = sin(x*1e20)", "L = exp(x*0.5e-7)"])
def test_large_coefficients_skip_simplify_instead_of_hanging(formula):
    report = check(formula, x=3)
    assert report.ok and report["x"].form == "factored"


def test_simplify_skips_forms_with_many_functions():
    formula = "L = 2/((sigmoid(cos(y))*(10-sin(z))) + max(sigmoid(x),sigmoid(x))*((-z)**y))"
    start = time.perf_counter()
    report = check(formula, y=0.5, z=-2.5, x=-1)
    assert time.perf_counter() - start < 3 and report.ok  # was 7 s in simplify
    assert report.ok and report["x"].form == "factored"


def test_transcendentals_beyond_float64_take_their_limit_instead_of_hanging():
    report = check("L = exp(x**x)", x=100000)
    assert report.ok and report["x"].status == "infinite" and report["z1"].status == "infinite"
    report = check("L = sin(x**x)", x=100000)
    assert report.ok and report["x"].status == "undefined" and "beyond float64" in report["x"].note
    report = check("L = sigmoid(x**x) + tanh(x**x) + exp(-(x**x))", x=100000)
    assert report["L"].ok and report.rows  # finishes; the engine's inf*0 = nan at x is its own business


@pytest.mark.parametrize(("formula", "values"), [
    ("L = sin(x/y)", {"x": 1, "y": 0.001}), ("L = sin(x**3)", {"x": 100}),
    ("L = tanh((-1*y)/y)", {"y": 1e-8}), ("L = sin(x)", {"x": 1e22})])
def test_a_finite_difference_off_sympy_is_a_note_when_the_engine_agrees(formula, values):
    report = check(formula, **values)
    assert report.ok, report.to_text()


def _patched(monkeypatch, op, partials):
    monkeypatch.setattr(engine, "OPS", {**OPS, op: dataclasses.replace(OPS[op], partials=partials)})


@pytest.mark.parametrize(("op", "partials", "formula", "values", "wrt"), [
    ("relu", lambda a, out: (123.0 if a == 0 else float(a > 0),), "L = relu(x)*y", {"x": 0, "y": 2}, "x"),
    ("abs", lambda a, out: (float("nan") if a == 0 else (a > 0) - (a < 0),), "L = abs(x)*y", {"x": 0, "y": 2}, "x"),
    ("max", lambda a, b, out: (1.0, 1.0) if a == b else (float(a > b), float(a < b)), "L = max(x, y)",
     {"x": 1, "y": 1}, "y"),
    ("sin", lambda a, out: (2.0,), "L = relu(x) + sin(x)", {"x": 0}, "x"),
])
def test_a_broken_rule_at_a_kink_is_caught(monkeypatch, op, partials, formula, values, wrt):
    assert check(formula, **values)[wrt].status == "kink"  # correct rules: the kink row passes
    _patched(monkeypatch, op, partials)
    report = check(formula, **values)
    assert not report.ok and report[wrt].status == "disagree", report.to_text()
    assert "the convention at the kink" in report[wrt].note


def test_correct_kinks_agree_with_the_convention():
    report = check("L = relu(x)*y + max(x, z) + abs(x)", x=0, y=2, z=0)
    assert report.ok and report["x"].status == "kink" and report["x"].abs_error == 0.0
    assert "the engine agrees with the convention" in report["x"].note
    assert check("L = sqrt(x)*y", x=0, y=3)["x"].status == "kink"


def test_a_pole_in_another_summand_leaves_the_row_compared(monkeypatch):
    assert check("L = sin(x) + 1/y", x=0.3, y=0)["x"].status == "agree"
    _patched(monkeypatch, "sin", lambda a, out: (5.0,))
    report = check("L = sin(x) + 1/y", x=0.3, y=0)
    assert not report.ok and report["x"].status == "disagree"


def test_a_constant_integer_exponent_is_smooth_for_finite_differences():
    report = check(SEED, **EXAMPLE_2)  # z4 = 0: the base of **2 is at 0
    assert report.ok and all(row.finite_difference is not None for row in report.rows), report.to_text()
    assert check("L = x**2", x=0)["x"].finite_difference == pytest.approx(0, abs=1e-9)
    assert check("L = x**y", x=2, y=3)["y"].finite_difference == pytest.approx(8 * 0.6931471805599453, rel=1e-7)
    assert check("L = x**0.5", x=1e-7)["x"].finite_difference is None  # the step leaves the domain


def test_flat_points_are_not_kinks():
    report = check("L = relu(v*0) + v", v=2)
    assert report.ok and report["v"].status == "agree" and report["z1"].status == "kink"
    assert check("L = max(x, v*0)", x=0, v=1)["x"].status == "kink"  # x itself meets the tie


def test_markdown_passes_no_raw_html():
    name = "<img src=x onerror=alert(1)>"
    a, = gg.inputs([name])
    markdown = check((a * 2 + 1).named("L"), {name: 3}).to_markdown()
    outside_code = "".join(markdown.split("`")[::2])
    assert "<img" not in outside_code and "&lt;img src=x onerror=alert(1)&gt;" in markdown


def test_latex_escapes_names():
    names = ["50%", "a&b", "#h", "$x$", "a\\b", "{y}", "~t", "W1"]
    product = gg.inputs(names)[0]
    for factor in gg.inputs(names)[1:]:
        product = product * factor
    latex = check(product.named("L"), dict.fromkeys(names, 2.0)).to_latex()
    for escaped in (r"\text{50\%}", r"\text{a\&b}", r"\text{\#h}", r"\text{\$x\$}", r"\text{a\textbackslash{}b}",
                    r"\text{\{y\}}", r"\text{\~{}t}", "W_{1}"):
        assert escaped in latex
    assert "{50%}" not in latex and " a&b" not in latex


def test_an_ill_conditioned_row_may_agree_at_the_exact_binary_inputs():
    report = check("L = sin(x)", x=1e300)  # 1e300 as a double is not the decimal 10**300
    assert report.ok and report["x"].status == "agree" and "exact binary values" in report["x"].note
    assert "exact binary" not in check(SEED, **EXAMPLE_1).to_text()  # only consulted on a disagreement


def test_a_pole_with_a_sign_shows_it():
    report = check("L = x/y", x=1, y=0)
    assert report.ok and report["y"].symbolic_value == -float("inf") and report["y"].status == "infinite"
    assert "-oo" in report["y"].note
    assert "its limit" not in report["x"].note  # 1/y: +oo from above, -oo from below: no sign


def test_a_function_of_a_value_that_is_not_real_is_undefined_not_an_error():
    # nan reached _huge's comparison with float64's largest number: a TypeError before
    report = gg.check("L = cos(log(x))", {"x": -1})
    assert report.ok and {row.status for row in report.rows} == {"undefined"}
    assert gg.check("L = exp(sqrt(x))", {"x": -4}).ok


def test_functions_of_long_arguments_are_not_simplified():
    # trigsimp multiplies out products inside sin/cos/tanh: minutes for this 9-node formula
    from graphviz_grad.symbolic.derive import _worth_simplifying

    x, z = sympy.symbols("x z")
    assert not _worth_simplifying(sympy.cos((z + 2 + x) * (z + sympy.Rational(1, 2) - x**x)))
    assert _worth_simplifying(sympy.cos(x * z - 2))
    report = gg.check("L = sin(((z + (2 + x)) * ((z + 0.5) - (x ** x))))", {"x": -1, "z": 0.5})
    assert report.ok and report["z"].symbolic == "(x - x**x + 2*z + 5/2)*cos((x + z + 2)*(-x**x + z + 1/2))"


SIGMA = "\N{GREEK SMALL LETTER SIGMA}"
READABLE = {  # op: (plain text, LaTeX) of its local derivative at argument z, as people write it
    "sigmoid": (f"{SIGMA}(z)·(1 - {SIGMA}(z))", r"\sigma\left(z\right) \cdot \left(1 - \sigma\left(z\right)\right)"),
    "tanh": ("1 - tanh(z)**2", r"1 - \tanh^{2}\left(z\right)"),
    "softplus": (f"{SIGMA}(z)", r"\sigma\left(z\right)"),
    "silu": (f"{SIGMA}(z)·(1 + z·(1 - {SIGMA}(z)))",
             r"\sigma\left(z\right) \cdot \left(1 + z \cdot \left(1 - \sigma\left(z\right)\right)\right)"),
}


@pytest.mark.parametrize("op", sorted(READABLE))
def test_sigmoid_family_derivatives_are_shown_as_people_write_them(op):
    from graphviz_grad.symbolic import local_derivative_texts

    graph = gg.parse(f"y = {op}(z)")
    assert local_derivative_texts(graph)["y", 0] == READABLE[op][0]
    assert local_derivative_texts(graph, latex=True)["y", 0] == READABLE[op][1]


@pytest.mark.parametrize("op", sorted(READABLE))
def test_the_readable_derivative_is_the_derivative(op):
    """The shown form, read back as a formula, equals SymPy's exact derivative of the op."""
    plain = OPS[op].derivative_text[0].format("z")
    formula = plain.replace(SIGMA, "sigmoid").replace("·", "*")
    reference = sympy.diff(OPS[op].sympy(sympy, sympy.Symbol("z")), sympy.Symbol("z"))
    for z in (-3.0, -0.5, 0.0, 0.7, 4.0):
        shown = gg.grad(f"d = {formula}", z=z).value("d")
        assert shown == pytest.approx(float(reference.subs(sympy.Symbol("z"), z)), rel=1e-12, abs=1e-15)


def test_readable_forms_reach_the_derivation_and_leave_the_verdict_exact():
    trace = gg.grad("L = sigmoid(w*x) + tanh(x)", w=0.5, x=2)
    latex = gg.derive(trace).to_latex()
    assert r"\sigma\left(z_{1}\right)" in latex and r"\tanh^{2}" in latex
    assert check("L = sigmoid(w*x) + tanh(x)", w=0.5, x=2).ok


@pytest.mark.parametrize("op", sorted(name for name, row in OPS.items() if row.mpmath is not None))
def test_an_ops_mpmath_rule_is_its_sympy_rule_at_30_digits(op):
    """The op table's mpmath form (the fast forward check) against its SymPy form."""
    import mpmath

    from graphviz_grad.symbolic.numeric import _mpmath_value
    from graphviz_grad.symbolic.translate import _at_point

    for pair in ((0.7, 3.0), (-1.3, 2.0), (2.5, -0.5)):
        args = pair[:OPS[op].arity]
        fast = _mpmath_value(op, args)
        reference = _at_point(op, [sympy.Float(a, 30) for a in args])
        with mpmath.workdps(30):
            assert abs(fast - reference._to_mpmath(mpmath.mp.prec)) <= abs(fast) * mpmath.mpf(10) ** -28


def test_the_fast_forward_check_still_catches_a_slightly_wrong_arithmetic_rule(monkeypatch):
    broken = dataclasses.replace(OPS["mul"], forward=lambda a, b: a * b * (1 + 1e-6))
    monkeypatch.setattr(engine, "OPS", {**OPS, "mul": broken})
    report = check(gg.parse("L = x*y + y"), x=0.5, y=2)
    assert not report.ok and "forward value differs" in report["z1"].note
