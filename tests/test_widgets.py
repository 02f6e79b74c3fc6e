"""The notebook widgets' callbacks, driven by setting widget values: no browser, no kernel."""

import html
import subprocess
import sys

import pytest

import graphviz_grad as gg
from graphviz_grad.seed import EXAMPLE_2
from graphviz_grad.widgets import WIDGET_VIEW, CalculatorPanel, Player, StepViewer, parse_number

from .conftest import EXAMPLE_1, SEED

pytest.importorskip("ipywidgets")  # installed by the test extra


def test_importing_the_widgets_module_imports_no_ipywidgets_sympy_or_matplotlib():
    code = ("import sys, graphviz_grad.widgets; "
            "print([m for m in ('ipywidgets', 'sympy', 'matplotlib') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_panel_starts_at_example_1():
    panel = CalculatorPanel()
    assert panel.loss == 4.0 and panel.message == ""
    assert panel.result.gradients == {"x": 0.4, "y": 0.8, "W1": 20.0, "W2": 40.0, "B": -4.0}
    assert panel.table_rows()[3] == ["W1", "parameter", "0.1", "20"]


def test_typing_in_a_box_recalculates_everything_shown():
    panel = CalculatorPanel()
    parts = panel.widget() and panel._parts
    parts["boxes"]["W1"].value = "0.3"
    assert panel.loss == 9.0
    assert "L = 9" in parts["status"].value and "<td>W1</td><td>parameter</td><td>0.3</td><td>30</td>" in parts[
        "table"].value
    assert "W1 ← W1 - lr·dL/dW1 = 0.3 - 0.001·30 = 0.27" in parts["update"].value
    assert bytes(parts["chart"].value).startswith(b"\x89PNG")
    assert b"grad = 30" in bytes(parts["graph"].value)


def test_bad_input_shows_a_message_and_keeps_the_last_good_result():
    panel = CalculatorPanel()
    parts = panel.widget() and panel._parts
    parts["boxes"]["W2"].value = "0.3"
    good = bytes(parts["graph"].value)
    parts["boxes"]["x"].value = "five"
    assert panel.loss == (5 * 0.1 + 10 * 0.3 - 0.5) ** 2 and panel.result.values["x"] == 5.0
    assert panel.message == "x: the value 'five' is not a number"
    assert "not updated: x: the value &#x27;five&#x27; is not a number" in parts["status"].value
    assert bytes(parts["graph"].value) == good
    assert panel.to_text().endswith("not updated: x: the value 'five' is not a number")
    parts["boxes"]["x"].value = "nan"
    assert panel.message == "x: the value 'nan' is not a number (values must be finite)" and panel.result.values["x"] == 5.0
    parts["boxes"]["x"].value = "5"  # fixed: the message goes
    assert panel.message == "" and "not updated" not in parts["status"].value


def test_example_buttons_fill_the_boxes_and_recalculate_once(monkeypatch):
    panel = CalculatorPanel()
    parts = panel.widget() and panel._parts
    calls = []
    real = panel.calculator.set
    monkeypatch.setattr(panel.calculator, "set", lambda **v: calls.append(v) or real(**v))
    example_1, example_2, reset = parts["box"].children[1].children
    example_2.click()
    assert len(calls) == 1 and panel.loss == 0.0
    assert {name: box.value for name, box in parts["boxes"].items()} == {
        "x": "5", "y": "10", "W1": "0.2", "W2": "0.3", "B": "4"}
    assert all(g == 0 for g in panel.result.gradients.values())
    parts["boxes"]["B"].value = "0.5"
    reset.click()
    assert panel.result.values == dict(EXAMPLE_1) and parts["boxes"]["B"].value == "0.5"
    assert (example_1.description, example_2.description) == ("Example 1", "Example 2")


def test_update_without_a_widget_and_any_formula():
    panel = CalculatorPanel("e = (a+b)*(b+1)", {"a": 2, "b": 1})
    assert panel.result.gradients == {"a": 2.0, "b": 5.0}
    assert panel.update(b=2).loss == 12.0 and panel.update(c=1).loss == 12.0
    assert panel.message.startswith("'c' is not an input")
    assert panel.update(**EXAMPLE_2).loss == 12.0  # the seed's names are not this formula's inputs
    assert panel.load({"a": 2, "b": 1}).loss == 6.0 and panel.message == ""


def test_the_panel_bundle_has_the_widget_a_static_graph_and_text():
    panel = CalculatorPanel()
    bundle = panel._repr_mimebundle_()
    assert set(bundle) == {WIDGET_VIEW, "image/svg+xml", "text/plain"}
    assert "grad = 20" in bundle["image/svg+xml"]
    assert bundle["text/plain"] == panel.to_text() == str(panel)
    assert bundle["text/plain"].splitlines()[0] == "L = 4" and "L: 4 → 2.238 (lower)" in bundle["text/plain"]
    assert repr(panel) == "<CalculatorPanel L = 4>"


@pytest.mark.parametrize(("typed", "message"), [(True, "x: True is not a number"),
                                                ("1e999", "x: the value 1e999 is too large for float64"),
                                                (float("nan"), "x: the value nan is not a number (values "
                                                               "must be finite)"),
                                                ("", "x: the value '' is not a number")])
def test_parse_number_refuses(typed, message):
    with pytest.raises(gg.InputValueError) as error:
        parse_number("x", typed)
    assert str(error.value) == message


def test_step_viewer_show_picks_a_frame_and_the_slider_follows():
    viewer = StepViewer(gg.grad(SEED, EXAMPLE_1))
    assert len(viewer.frames) == 17 and viewer.index == 0
    assert viewer.show(8).caption == "dL/dz3 = dL/dz4 · ∂z4/∂z3 = 4 · 1 = 4"
    assert viewer.to_text() == "frame 9 of 17 (backward): dL/dz3 = dL/dz4 · ∂z4/∂z3 = 4 · 1 = 4"
    assert viewer.show(99).index == 16 and viewer.show(-3).index == 0  # kept in range, as the player does
    with pytest.raises(TypeError):
        viewer.show(1.0)
    parts = viewer.widget() and viewer._parts
    parts["slider"].value = 12
    assert viewer.index == 12 and "dL/dW2 = dL/dz2" in parts["caption"].value
    assert bytes(parts["picture"].value) == viewer.pictures()[12]
    viewer.show(3)
    assert parts["slider"].value == 3 and parts["caption"].value.startswith("<b>forward</b> (4/17): z3 =")


def test_step_viewer_bundle_and_backward_only():
    viewer = StepViewer(gg.grad("e = (a+b)*(b+1)", a=2, b=1), forward=False, start=3)
    bundle = viewer._repr_mimebundle_()
    assert bundle["text/plain"] == ("frame 4 of 6 (backward): de/db = de/dz1 · ∂z1/∂b + de/dz2 · ∂z2/∂b "
                                    "= 2 · 1 + 3 · 1 = 5")
    assert set(bundle) == {WIDGET_VIEW, "image/svg+xml", "text/plain"} and "grad = 5" in bundle["image/svg+xml"]
    assert viewer.pictures() is viewer.pictures()  # laid out once


def test_player_is_sandboxed_in_an_iframe():
    player = Player(gg.grad("y = x**2", x=3), forward=False)
    bundle = player._repr_mimebundle_()
    assert bundle["text/plain"] == "Step-by-step player: 3 frames of y = x**2 (needs JavaScript)"
    page = bundle["text/html"]
    assert page.startswith("<iframe srcdoc='<!DOCTYPE html>") and 'sandbox="allow-scripts"' in page
    source = page.partition("srcdoc='")[2].partition("'")[0]  # the attribute ends where the page does
    assert html.unescape(source) == player.page and source.count("<template") == 3


def test_without_ipywidgets_the_static_parts_still_show(monkeypatch):
    import graphviz_grad.widgets as widgets

    def missing():
        raise ImportError("the notebook widgets need ipywidgets")

    monkeypatch.setattr(widgets, "_widgets", missing)
    for shown in (CalculatorPanel(), StepViewer(gg.grad(SEED, EXAMPLE_1), start=8)):
        bundle = shown._repr_mimebundle_()
        assert WIDGET_VIEW not in bundle
        assert bundle["image/svg+xml"].startswith("<?xml") and bundle["text/plain"] == shown.to_text()
