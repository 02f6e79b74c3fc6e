"""The notebook widgets' callbacks, driven by setting widget values: no browser, no kernel."""

import base64
import subprocess
import sys
from html.parser import HTMLParser

import pytest

import graphviz_grad as gg
from graphviz_grad.seed import EXAMPLE_2
from graphviz_grad.widgets import WIDGET_VIEW, CalculatorPanel, Picture, Player, StepViewer, parse_number

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


def test_loading_an_unknown_name_or_a_bad_value_is_refused_like_typing_one():
    panel = CalculatorPanel()
    parts = panel.widget() and panel._parts
    before = {name: box.value for name, box in parts["boxes"].items()}
    panel.load({"x": 7, "nope": 1})
    assert panel.message.startswith("'nope' is not an input") and panel.loss == 4.0
    assert {name: box.value for name, box in parts["boxes"].items()} == before  # nothing half-loaded
    assert "not updated: &#x27;nope&#x27; is not an input" in parts["status"].value
    panel.load({"x": float("inf")})
    assert panel.message == "x: the value inf is not a number (values must be finite)" and parts["boxes"]["x"].value == "5"
    panel.load({"x": 7})
    assert panel.message == "" and parts["boxes"]["x"].value == "7" and panel.result.values["x"] == 7.0
    without = CalculatorPanel()  # without a widget: the same refusal
    assert without.load({"nope": 1}).loss == 4.0
    panel.update(nope=1)
    assert without.message == panel.message and without.message.startswith("'nope' is not an input")


def test_a_formula_without_inputs_has_no_table_and_no_chart():
    panel = CalculatorPanel("y = 2*3")
    assert panel.loss == 6.0 and panel.table_rows() == [["name", "role", "value", "dy/dname"]]
    assert panel.to_text().splitlines()[:3] == ["y = 6", "", "(y has no inputs: it is a constant)"]
    assert panel.table_html() == "<p>(y has no inputs: it is a constant)</p>"
    assert panel.chart_png() is None
    parts = panel.widget() and panel._parts
    assert parts["chart"].layout.display == "none" and not parts["boxes"]
    assert "image/svg+xml" in panel._repr_mimebundle_()[0]  # the graph still shows


def test_a_picture_carries_its_bytes_and_a_text_form():
    png = CalculatorPanel().chart_png()
    bundle, metadata = Picture(png, "png", "bar chart of |dL/dinput|")._repr_mimebundle_()
    assert bundle == {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": "bar chart of |dL/dinput|"}
    assert metadata == {"image/png": {"alt": "bar chart of |dL/dinput|"}}  # IPython's Image(alt=...) form
    svg = b"<svg xmlns='http://www.w3.org/2000/svg'/>"
    assert Picture(svg, "svg", "empty")._repr_mimebundle_()[0]["image/svg+xml"] == svg.decode()
    assert repr(Picture(svg, "svg", "empty")) == "empty"
    with pytest.raises(ValueError, match="png or svg, not 'gif'"):
        Picture(svg, "gif", "empty")
    with pytest.raises(TypeError):
        Picture(svg.decode(), "svg", "empty")


def test_update_without_a_widget_and_any_formula():
    panel = CalculatorPanel("e = (a+b)*(b+1)", {"a": 2, "b": 1})
    assert panel.result.gradients == {"a": 2.0, "b": 5.0}
    assert panel.update(b=2).loss == 12.0 and panel.update(c=1).loss == 12.0
    assert panel.message.startswith("'c' is not an input")
    assert panel.update(**EXAMPLE_2).loss == 12.0  # the seed's names are not this formula's inputs
    assert panel.load({"a": 2, "b": 1}).loss == 6.0 and panel.message == ""


def test_the_panel_bundle_has_the_widget_a_static_graph_and_text():
    panel = CalculatorPanel()
    bundle, metadata = panel._repr_mimebundle_()
    assert set(bundle) == {WIDGET_VIEW, "image/svg+xml", "text/plain"}
    assert metadata == {"image/svg+xml": {"alt": panel.to_text()}}  # the alt text is the text form
    assert "grad = 20" in bundle["image/svg+xml"]
    assert bundle["text/plain"] == panel.to_text() == str(panel)
    assert bundle["text/plain"].splitlines()[0] == "L = 4" and "L: 4 → 2.238 (lower)" in bundle["text/plain"]
    assert repr(panel) == "<CalculatorPanel L = 4>"


@pytest.mark.parametrize(("typed", "message"), [(True, "x: True is not a number"),
                                                ("1e999", "x: the value '1e999' is too large for float64"),
                                                (float("nan"), "x: the value nan is not a number (values "
                                                               "must be finite)"),
                                                ("", "x: no value given")])
def test_parse_number_refuses(typed, message):
    with pytest.raises(gg.InputValueError) as error:
        parse_number("x", typed)
    assert str(error.value) == message


def test_step_viewer_show_picks_a_frame_and_the_slider_follows():
    viewer = StepViewer(gg.grad(SEED, EXAMPLE_1))
    assert len(viewer.frames) == 17 and viewer.index == 0
    assert viewer.show(8).caption == "dL/dz3 = dL/dz4 · ∂z4/∂z3 = dL/dz4 · 1 = 4 · 1 = 4"
    assert viewer.to_text() == "frame 9 of 17 (backward): dL/dz3 = dL/dz4 · ∂z4/∂z3 = dL/dz4 · 1 = 4 · 1 = 4"
    assert viewer.show(99).index == 16 and viewer.show(-99).index == 0  # kept in range, as the player does
    assert viewer.show(-1).index == 16 and viewer.show(-3).index == 14  # from the end, as in a list
    with pytest.raises(TypeError):
        viewer.show(1.0)
    with pytest.raises(TypeError):
        viewer.show(True)
    parts = viewer.widget() and viewer._parts
    parts["slider"].value = 13  # the slider counts from 1, as the caption does: frame 13 is index 12
    assert viewer.index == 12 and "dL/dW2 = dL/dz2" in parts["caption"].value
    assert "(13/17)" in parts["caption"].value and viewer.to_text().startswith("frame 13 of 17")
    assert bytes(parts["picture"].value) == viewer.pictures()[12]
    viewer.show(3)
    assert parts["slider"].value == 4 and parts["caption"].value.startswith("<b>forward</b> (4/17): z3 =")
    assert (parts["slider"].min, parts["slider"].max) == (1, 17)


def test_one_bad_box_never_hides_the_other_edits():
    panel = CalculatorPanel()
    parts = panel.widget() and panel._parts
    parts["boxes"]["x"].value = "abc"
    assert panel.message == "x: the value 'abc' is not a number" and panel.loss == 4.0
    parts["boxes"]["W1"].value = "0.3"  # x still reads 'abc': W1 is taken all the same
    assert panel.result.values["W1"] == 0.3 and panel.result.values["x"] == 5.0 and panel.loss == 9.0
    assert "<td>W1</td><td>parameter</td><td>0.3</td>" in parts["table"].value
    assert "not updated: x: the value &#x27;abc&#x27; is not a number" in parts["status"].value
    parts["boxes"]["y"].value = "?"
    assert panel.message == "x: the value 'abc' is not a number; y: the value '?' is not a number"
    parts["boxes"]["x"].value = "5"
    parts["boxes"]["y"].value = "10"
    assert panel.message == "" and panel.loss == 9.0


def test_step_viewer_bundle_and_backward_only():
    viewer = StepViewer(gg.grad("e = (a+b)*(b+1)", a=2, b=1), forward=False, start=3)
    bundle, metadata = viewer._repr_mimebundle_()
    assert bundle["text/plain"] == ("frame 4 of 6 (backward): de/db = de/dz1 · ∂z1/∂b + de/dz2 · ∂z2/∂b "
                                    "= de/dz1 · 1 + de/dz2 · 1 = 2 · 1 + 3 · 1 = 5")
    assert set(bundle) == {WIDGET_VIEW, "image/svg+xml", "text/plain"}
    assert "grad = 5" in bundle["image/svg+xml"] and metadata["image/svg+xml"]["alt"] == bundle["text/plain"]
    assert viewer.pictures() is viewer.pictures()  # laid out once


def test_step_viewer_takes_numpy_integers():
    numpy = pytest.importorskip("numpy")
    viewer = StepViewer(gg.grad("y = x**2", x=3))
    assert viewer.show(numpy.int64(2)).index == 2 and viewer.show(numpy.int32(-1)).index == 4
    assert type(viewer.index) is int
    with pytest.raises(TypeError):
        viewer.show(numpy.float64(1.0))


@pytest.mark.parametrize("make", [StepViewer, Player])
def test_no_frames_is_a_clear_error(make):
    with pytest.raises(ValueError, match="no frames to show: forward and backward are both False"):
        make(gg.grad("y = x**2", x=3), forward=False, backward=False)


class _TopLevel(HTMLParser):
    """The tags of an HTML fragment and its text outside every tag's attributes."""

    def __init__(self):
        super().__init__()
        self.tags, self.attributes, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.append(dict(attrs))

    def handle_endtag(self, tag):
        self.tags.append("/" + tag)

    def handle_data(self, data):
        self.text.append(data)


def _parsed(fragment):
    parser = _TopLevel()
    parser.feed(fragment)
    parser.close()
    return parser


def test_player_is_sandboxed_in_an_iframe_under_a_line_saying_what_it_is():
    player = Player(gg.grad("y = x**2", x=3), forward=False)
    bundle, metadata = player._repr_mimebundle_()
    assert metadata == {"image/svg+xml": {"alt": bundle["text/plain"]}}
    assert bundle["text/plain"] == ("Step-by-step player: 3 frames of y = x**2 — use its buttons, slider or "
                                    "arrow keys; click a node for its story. It needs JavaScript; where none "
                                    "runs (GitHub's notebook view) the annotated graph shows instead.")
    assert bundle["image/svg+xml"].startswith("<svg") and "grad = 6" in bundle["image/svg+xml"]  # the fallback
    page = bundle["text/html"]
    parsed = _parsed(page)
    assert parsed.tags == ["p", "/p", "iframe", "/iframe"]
    assert "".join(parsed.text) == bundle["text/plain"]  # visible where the iframe is stripped
    frame = parsed.attributes[1]
    assert frame["sandbox"] == "allow-scripts" and frame["srcdoc"] == player.page
    assert len(player.data["frames"]) == 3 and player.page.count("<svg width=") == 1


def test_player_plays_a_descent_run():
    from graphviz_grad.descent import descend

    run = descend(SEED, EXAMPLE_1, wrt="W1,W2,B", lr=0.001, steps=30)
    player = Player(run, every=10)
    assert [frame["step"] for frame in player.data["frames"]] == [0, 10, 20, 30]
    assert str(player).startswith("Gradient descent played over the graph: 4 frames of 30 steps of z1 = x*W1")
    assert player._repr_mimebundle_()[0]["image/svg+xml"].startswith("<svg")
    with pytest.raises(TypeError, match="a Trace, a gradient-descent run or an Overview"):
        Player("y = x**2")


def test_player_with_hostile_names_stays_inside_its_iframe():
    names = ["it's & co", "</iframe><script>alert(1)</script>", "<b>bold</b>"]
    a, b, c = gg.inputs(names)
    graph = gg.build((a * b + c).named("<script>x</script>'"))
    trace = gg.backward(graph, dict(zip(names, (2.0, 3.0, 4.0))))
    player = Player(trace)
    page = player._repr_html_()
    parsed = _parsed(page)
    assert parsed.tags == ["p", "/p", "iframe", "/iframe"]  # no tag of a name broke out
    assert parsed.attributes[1]["srcdoc"] == player.page  # the page, byte for byte
    assert "".join(parsed.text) == str(player) and "</iframe><script>alert(1)</script>" in str(player)
    inner = _parsed(player.page)  # and inside, the names are text, never tags
    benign = _parsed(Player(gg.grad("y = p*q + r", p=2, q=3, r=4)).page)
    assert sorted(set(inner.tags)) == sorted(set(benign.tags))
    assert inner.tags.count("script") == benign.tags.count("script")
    assert "b" not in inner.tags and "iframe" not in inner.tags


def test_without_ipywidgets_the_static_parts_still_show(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets now raises ImportError
    for shown in (CalculatorPanel(), StepViewer(gg.grad(SEED, EXAMPLE_1), start=8)):
        bundle = shown._repr_mimebundle_()[0]
        assert WIDGET_VIEW not in bundle
        assert bundle["image/svg+xml"].startswith("<?xml") and bundle["text/plain"] == shown.to_text()


def test_the_player_is_as_tall_as_its_tallest_frame_and_its_controls():
    seed = Player(gg.grad(SEED, EXAMPLE_1))
    small = Player(gg.grad("y = x**2", x=3))
    assert seed.height > 620 > small.height  # 620 px was the old fixed height: it cut the seed's buttons
    assert f"height:{seed.height}px" in seed._repr_html_()
    assert Player(gg.grad("y = x**2", x=3), height=300).height == 300



@pytest.mark.browser
@pytest.mark.dot
@pytest.mark.parametrize("width", [700, 1000])
def test_the_players_page_fits_in_its_frame_in_chromium(browser, width):
    """The page laid out at a notebook's width ends above the frame's bottom: no button row cut."""
    for trace in (gg.grad(SEED, EXAMPLE_1), gg.grad("e = (a+b)*(b+1)", a=2, b=1)):
        player = Player(trace)
        page = browser.new_page(viewport={"width": width, "height": 100})
        try:
            page.set_content(player.page)
            bottom = page.evaluate("Math.ceil(document.body.getBoundingClientRect().bottom)")
        finally:
            page.close()
        assert bottom <= player.height, (bottom, player.height)


def test_pictures_in_widgets_keep_their_own_size():
    """In a VBox (a flex column) an image is stretched to the box's width unless it aligns itself;
    a small graph then looked larger in a widget than the same diagram in a cell."""
    panel = CalculatorPanel()
    viewer = StepViewer(gg.grad("y = x**2", x=3))
    for picture in (panel.widget() and panel._parts["graph"], viewer.widget() and viewer._parts["picture"]):
        assert (picture.layout.align_self, picture.layout.width, picture.layout.max_width) == (
            "flex-start", "auto", "100%")


def test_live_pictures_are_named_by_their_text_forms():
    """A widget's picture has no alt attribute; its tooltip (the title attribute) names it instead."""
    panel = CalculatorPanel()
    parts = panel.widget() and panel._parts
    assert parts["graph"].tooltip.startswith("Diagram of z1 = x*W1;") and "dL/dW1 = 20" in parts["graph"].tooltip
    assert parts["chart"].tooltip.startswith("bar chart of |dL/dinput|:\n")
    parts["boxes"]["W1"].value = "0.3"
    assert "dL/dW1 = 30" in parts["graph"].tooltip
    viewer = StepViewer(gg.grad("y = x**2", x=3))
    picture = viewer.widget() and viewer._parts["picture"]
    viewer.show(2)
    assert picture.tooltip == viewer.to_text() and picture.tooltip.startswith("frame 3 of 5")

