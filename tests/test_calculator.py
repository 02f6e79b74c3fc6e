"""The gradient calculator: both worked examples exactly, every part of the seed page, any formula."""

import json
import math

import pytest
import sympy as sp

import graphviz_grad as gg
from graphviz_grad.calculator import Calculator, calculate
from graphviz_grad.errors import FormulaError, InputValueError
from graphviz_grad.seed import DEFAULTS, EXAMPLE_1, EXAMPLE_2, FIELDS, SEED_FORMULA

from .conftest import EXAMPLE_1 as SEED_POINT
from .conftest import SEED


@pytest.fixture(scope="module")
def page():
    return calculate()


def test_the_defaults_are_example_1():
    assert SEED_FORMULA == SEED and dict(DEFAULTS) == SEED_POINT == dict(EXAMPLE_1)
    assert list(FIELDS) == ["x", "y", "W1", "W2", "B"]


def test_example_1_exactly(page):
    assert page.loss == 4.0
    assert page.gradients == {"x": 0.4, "y": 0.8, "W1": 20.0, "W2": 40.0, "B": -4.0}
    assert page.parameters == ("W1", "W2", "B")
    assert [(row.name, row.role, row.value, row.gradient) for row in page.rows] == [
        ("x", "input", 5.0, 0.4), ("y", "input", 10.0, 0.8), ("W1", "parameter", 0.1, 20.0),
        ("W2", "parameter", 0.2, 40.0), ("B", "parameter", 0.5, -4.0)]


def test_example_2_is_all_zero():
    result = calculate(**EXAMPLE_2)
    assert result.loss == 0.0
    assert all(g == 0.0 for g in result.gradients.values())
    assert result.interpretation()[-1] == ("Every parameter's gradient is 0: gradient descent stays here (a "
                                           "stationary point in the parameters; the other inputs are held "
                                           "fixed).")
    assert result.update.verdict == "unchanged" and result.update.loss_after == 0.0


def test_seed_values_not_given_keep_their_defaults():
    result = calculate(W1=0.3)
    assert result.values == {**SEED_POINT, "W1": 0.3} and result.loss == 9.0
    assert calculate(SEED_FORMULA).loss == 4.0  # the seed text itself gets the defaults too
    assert calculate(gg.parse(SEED_FORMULA), {"B": 2.5}).loss == 0.0


def test_copy_block(page):
    assert page.copy_text() == ("Loss: L = 4\n"
                                "Gradients: dL/dW1 = 20, dL/dW2 = 40, dL/dB = -4\n"
                                "Inputs: x = 5, y = 10, W1 = 0.1, W2 = 0.2, B = 0.5")


def test_the_five_gradient_formulas_are_the_pages(page):
    x, y, W1, W2, B = sp.symbols("x y W1 W2 B")
    residual = x * W1 + y * W2 - B
    expected = {"dL/dx": 2 * residual * W1, "dL/dy": 2 * residual * W2, "dL/dW1": 2 * residual * x,
                "dL/dW2": 2 * residual * y, "dL/dB": -2 * residual}
    formulas = {label: (closed, nodes) for label, closed, nodes in page.formulas}
    assert set(formulas) == set(expected)
    for label, (closed, _) in formulas.items():
        parsed = sp.parse_expr(closed.replace("·", "*"), local_dict={str(s): s for s in (x, y, W1, W2, B)})
        assert sp.simplify(parsed - expected[label]) == 0, label
    assert formulas["dL/dW1"] == ("2·x·(-B + W1·x + W2·y)", "2·x·z4")
    assert formulas["dL/dB"][1] == "-2·z4"


def test_interpretation_of_the_signs(page):
    lines = page.interpretation()
    assert lines[0] == "dL/dW1 = 20 > 0: increasing W1 increases L, so gradient descent lowers W1."
    assert lines[2] == "dL/dB = -4 < 0: increasing B decreases L, so gradient descent raises B."
    assert lines[3] == "L is most sensitive to W2 (|dL/dW2| = 40 is the largest)."
    flat = calculate("y = a*b", a=1, b=0, wrt="a").interpretation()
    assert flat == ["dy/da = 0: a small change of a leaves y unchanged (to first order), so gradient "
                    "descent keeps a.", "Every parameter's gradient is 0: gradient descent stays here (a "
                    "stationary point in the parameters; the other inputs are held fixed)."]
    assert calculate("y = a*b", a=1, b=1).interpretation()[-1] == (
        "y is equally sensitive to a and b (each |gradient| = 1).")
    pole = calculate("y = 1/a", a=0).interpretation()
    assert pole == ["y = inf here, so the gradients describe no slope of a finite loss: change the inputs "
                    "first."]


def test_the_update_step(page):
    update = page.update
    assert update.lr == 0.001
    assert dict(update.after) == {"W1": 0.1 - 0.001 * 20, "W2": 0.2 - 0.001 * 40, "B": 0.5 + 0.001 * 4}
    expected = (5 * update.after["W1"] + 10 * update.after["W2"] - update.after["B"]) ** 2
    assert update.loss_after == pytest.approx(expected, rel=1e-15) and update.verdict == "lower"
    assert page.update_lines() == ["W1 ← W1 - lr·dL/dW1 = 0.1 - 0.001·20 = 0.08",
                                   "W2 ← W2 - lr·dL/dW2 = 0.2 - 0.001·40 = 0.16",
                                   "B ← B - lr·dL/dB = 0.5 - 0.001·(-4) = 0.504",
                                   "L: 4 → 2.238016 (lower)"]
    overshoot = calculate(lr=0.01)
    assert overshoot.update.verdict == "higher"
    assert overshoot.update_lines()[-1].endswith(
        "(higher: the step overshoots; try a smaller learning rate, lr < 2/λmax = 0.007936507937)")


def test_the_full_text_page_has_every_part(page):
    text = page.to_text()
    for part in ["Gradient calculator: L = (x*W1 + y*W2 - B)**2", "║  L = 4  ║",
                 "╚═════════╝\ndL/dW1 = 20\ndL/dW2 = 40\ndL/dB = -4\n(inputs held fixed: dL/dx = 0.4, dL/dy = 0.8)",
                 "W1    parameter  0.1    20",
                 "dL/dW2  +40   " + "█" * 40, "dL/dW1 = 2·x·(-B + W1·x + W2·y) = 2·x·z4",
                 "SymPy agrees: all 10 derivatives match", "  dL/dz4 = ∂L/∂z4 = 2·z4 = 4",
                 "  dL/dB = dL/dz4 · ∂z4/∂B = dL/dz4 · (-1) = 4 · (-1) = -4", "What the signs mean",
                 "Gradient-descent update (lr = 0.001)", "Copy\nLoss: L = 4"]:
        assert part in text, part
    assert str(page) == text


def test_chart_text_has_magnitudes_and_signs(page):
    lines = page.chart_text(width=20).splitlines()
    assert lines == ["dL/dx   +0.4  ▎", "dL/dy   +0.8  ▍", "dL/dW1  +20   ██████████",
                     "dL/dW2  +40   ████████████████████", "dL/dB   -4    ██"]


def test_image_charts_are_deterministic(page):
    pytest.importorskip("matplotlib")  # installed by the test extra
    svg = page.chart("svg")
    assert svg.startswith(b"<?xml") and b"<svg" in svg and svg == page.chart("svg")
    assert page.chart("png").startswith(b"\x89PNG")
    assert page.chart("pdf").startswith(b"%PDF")


def test_json_has_everything_and_is_strict_json(page):
    data = json.loads(page.to_json())
    assert data["loss"] == 4.0 and data["gradients"]["W1"] == 20.0
    assert data["table"][2] == {"name": "W1", "role": "parameter", "value": 0.1, "gradient": 20.0}
    assert data["chart"][4] == {"name": "B", "label": "dL/dB", "gradient": -4.0, "magnitude": 4.0, "sign": "-"}
    assert data["derivation"]["backward"][1]["text"] == "dL/dz4 = ∂L/∂z4 = 2·z4 = 4"
    assert data["update"]["parameters"][0] == {"name": "W1", "value": 0.1, "gradient": 20.0,
                                               "new_value": 0.1 - 0.001 * 20}
    assert data["update"]["new_loss"] == pytest.approx(2.238016) and data["check"]["ok"] is True
    assert data["copy"] == page.copy_text() and data["formulas"][1]["in_nodes"] == "2·x·z4"
    broken = calculate("y = log(a)", a=-1).to_dict()
    text = json.dumps(broken, allow_nan=False)  # no NaN tokens anywhere
    assert json.loads(text)["loss"] == "nan"


def test_markdown_and_latex(page):
    markdown = page.to_markdown()
    assert "**Loss: `L = 4`**" in markdown and "| `W1` | `parameter` | `0.1` | `20` |" in markdown
    assert "### Derivation" in markdown and "```text\nLoss: L = 4" in markdown
    latex = page.to_latex()
    assert "\\frac{\\partial L}{\\partial W_{1}} &= 2 x \\left(- B + W_{1} x + W_{2} y\\right)" in latex
    assert latex.count("\\begin{align*}") == 2
    assert page._repr_markdown_() == markdown


def test_any_formula_takes_all_inputs_as_parameters():
    result = calculate("e = (a+b)*(b+1)", {"a": 2}, b=1)
    assert result.parameters == ("a", "b") and result.gradients == {"a": 2.0, "b": 5.0}
    assert result.order == ("a", "b")
    assert "de/db = de/dz1 · ∂z1/∂b + de/dz2 · ∂z2/∂b = de/dz1 · 1 + de/dz2 · 1 = 2 · 1 + 3 · 1 = 5" in result.to_text()
    assert calculate("y = a*b", a=2, b=3, wrt=["b"]).parameters == ("b",)


def test_hostile_names_in_markdown():
    a, b = gg.inputs(["<img src=x>", "$x$"])
    result = calculate(gg.build((a * b).named("**L**")), {"<img src=x>": 2, "$x$": 3})
    markdown = result.to_markdown()
    without_code = "".join(part for k, part in enumerate(markdown.split("`")) if k % 2 == 0)
    assert "<img" not in without_code
    pytest.importorskip("matplotlib")
    assert result.chart("svg").startswith(b"<?xml")  # `$x$` is not mathtext


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": 0}, "learning rate must be a finite number > 0"),
    ({"lr": math.inf}, "learning rate"),
    ({"wrt": "W1,Q"}, "'Q' is not an input"),
    ({"wrt": "W1,W1"}, "'W1' is named twice"),
    ({"digits": 0}, "digits must be an integer from 1 to 17"),
    ({"Q": 1.0}, "'Q' is not an input"),
    ({"W1": "abc"}, "must be a real number"),
])
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(InputValueError, match=message):
        calculate(**kwargs)


def test_a_formula_needs_every_input():
    with pytest.raises(InputValueError, match="missing a value for input 'b'"):
        calculate("y = a*b", a=1)
    with pytest.raises(FormulaError):
        calculate("y = a +")


def test_calculator_set_and_reset():
    page = Calculator()
    assert page.result.loss == 4.0
    assert page.set(W1=0.3).loss == 9.0 and page.values["W1"] == 0.3
    with pytest.raises(InputValueError, match="'Q' is not an input"):
        page.set(Q=1)
    with pytest.raises(InputValueError):
        page.set(W2="bad")
    assert page.values["W1"] == 0.3 and page.result.loss == 9.0  # a bad change changes nothing
    assert page.reset().loss == 4.0 and page.values == dict(SEED_POINT)
    other = Calculator("y = a**2", {"a": 3})
    assert other.set(a=1).loss == 1.0 and other.reset().loss == 9.0
    assert other.result.formula == "y = a**2"


def test_review_edge_cases():
    with pytest.raises(InputValueError, match="digits must be an integer"):
        calculate(digits=True)
    page = Calculator("L = self*2", {"self": 1})
    assert page.set(self=2).loss == 4.0  # an input may be called self
    assert calculate("L = 2*3").parameters == () and calculate("L = 2*3").copy_text().endswith("Inputs: none")
    infinite = calculate("L = sqrt(x)", x=0)
    assert infinite.interpretation()[0].startswith("dL/dx = inf, but L is not differentiable in x here")
    assert infinite.update.verdict == "not finite"
    assert calculate("L = 1/x", x=0).update.verdict == "not finite"
    a, b = gg.inputs(["a|b", "q"])
    table = calculate(gg.build((a * b).named("L")), {"a|b": 1, "q": 2}).to_markdown()
    assert "| `a\\|b` | `parameter` | `1` | `2` |" in table
    formula = "a = x*2\nL = a*a  # <img src=x onerror=alert(1)>"
    markdown = calculate(formula, x=1).to_markdown()
    assert "```text\n" + formula + "\n```" in markdown


def test_kinks_nan_losses_and_overflow_are_not_read_as_slopes():
    # review: the relu kink was called "a stationary point" and the check line said "all agree"
    kink = calculate("L = relu(w*x - b)", w=1, x=1, b=1, wrt="w,b")
    # explained where it is shown (the web page too), not by sending the reader to the command line
    assert kink.check_line() == ("SymPy check ok, but not every derivative is an ordinary number here "
                                 "(1 agree, 5 kink). dL/dw, dL/dx, dL/db, dL/dz1, dL/dz2: not differentiable "
                                 "here: relu at 0 (node L's argument z2); the engine follows PyTorch: "
                                 "relu'(0) = 0.")
    assert "graphviz-grad" not in kink.check_line() and kink.to_dict()["check"]["text"] == kink.check_line()
    tie = calculate("L = max(a, b)", a=1, b=1)
    assert tie.check_line().endswith("dL/da, dL/db: not differentiable here: max of a tie (node L: a = b = 1); "
                                     "the engine follows PyTorch: a tie splits the gradient 0.5/0.5.")
    pole = calculate("L = W/x", W=1, x=0)
    assert pole.check_line().endswith("(1 agree, 2 infinite). dL/dW, dL/dx: infinite here (the function has "
                                      "a pole: no finite slope).")
    lines = kink.interpretation()
    assert lines[0].startswith("dL/dw = 0, but L is not differentiable in w here: relu at 0")
    assert "The value is the engine's convention" in lines[0]
    assert not any("stationary" in line for line in lines)
    undefined = calculate("L = log(x) + y*2", x=-1, y=1)
    assert undefined.interpretation() == ["L = nan here, so the gradients describe no slope of a finite "
                                          "loss: change the inputs first."]
    assert "5 undefined" in undefined.check_line()
    steep = calculate("L = log(x)", x=5e-324)
    assert steep.interpretation() == ["dL/dx = inf: the slope is infinite or beyond float64; increasing x "
                                      "increases L, but a gradient-descent step would be infinite."]
    assert calculate().check_line().startswith("SymPy agrees: all 10 derivatives match")
    assert calculate("L = 2*3", {}).check_line() == ("SymPy check: nothing to compare (L has no inputs to "
                                                     "differentiate by).")


def test_numbers_keep_their_digits_where_it_matters():
    page = calculate(digits=1)
    assert page.copy_text() == calculate().copy_text()  # the copy block is exact whatever the digits
    assert calculate(digits=17).values["W1"] == 0.1 and "W1    parameter  0.1 " in calculate(digits=17).to_text()
    tiny = calculate(lr=1e-15).update_lines()[-1]
    assert tiny.startswith("L: 4 → 3.99999999999") and tiny.endswith("(lower)")


def test_python_takes_any_float_like_the_engine():
    # the engine's IEEE semantics: a nan input gives a nan page (the CLI refuses such values)
    assert math.isnan(calculate(W1=float("nan")).loss)


def test_without_the_check_the_page_still_names_kinks():
    # the web page's SymPy budget can run out: the engine's own kink conventions speak then
    result = calculate("L = abs(sin(x) - x) + 2*y", {"x": 0, "y": 1})
    result.check_skipped = "SymPy took longer than 5 s"
    assert result.formulas == [] and result.check_line() == "SymPy check not done: SymPy took longer than 5 s."
    assert result.interpretation()[0] == (
        "dL/dx = 0, but L is not differentiable in x here: abs at node z3 (the engine follows PyTorch: "
        "abs'(0) = 0). "
        "The value is the engine's convention; its sign says little about either side.")
    assert result.interpretation()[1].startswith("dL/dy = 2 > 0")
    assert result.to_dict()["check"] == {"ok": None, "summary": "not done: SymPy took longer than 5 s",
                                         "text": "SymPy check not done: SymPy took longer than 5 s."}


def test_the_reprs_say_formula_point_and_results():
    calculator = gg.Calculator()
    expected = ("L = (x*W1 + y*W2 - B)**2 at x = 5, y = 10, W1 = 0.1, W2 = 0.2, B = 0.5: "
                "L = 4, dL/dW1 = 20, dL/dW2 = 40, dL/dB = -4")
    assert repr(calculator) == f"<Calculator {expected}>"
    assert repr(calculator.result) == f"<Calculation {expected}>"
    calculator.set(W1=0.3)
    assert repr(calculator).startswith("<Calculator L = (x*W1 + y*W2 - B)**2 at x = 5, y = 10, W1 = 0.3,")
    long = gg.calculate("a = x*2\n" + "\n".join(f"a{i} = a*{i}" for i in range(30)), x=1)
    assert "\n" not in repr(long) and "…" in repr(long) and repr(long).endswith("da29/dx = 58>")
