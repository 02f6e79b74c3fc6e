"""The page of ``graphviz-grad serve`` in headless Chromium, against a real server process."""

import pytest

import graphviz_grad as gg
from graphviz_grad.seed import EXAMPLE_1

from .conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.dot]


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.rstrip("/"))
    page = context.new_page()
    problems = []
    page.on("console", lambda message: message.type == "error" and not expected_refusal(message.text)
            and problems.append(message.text))
    page.on("pageerror", lambda failure: problems.append(str(failure)))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.goto(live_server)
    page.wait_for_selector("#app[data-state=ready]")
    page.wait_for_selector("#viewer svg g.node")
    yield page
    context.close()
    assert problems == []  # no script errors, no CSP violations, no dialogs


def expected_refusal(text):
    """Chromium logs every 4xx answer; the tests of bad input cause 400s on purpose."""
    return text == "Failed to load resource: the server responded with a status of 400 (Bad Request)"


def expect(page):
    from playwright.sync_api import expect

    return expect


def field(page, name):
    return page.locator(f'#fields input[data-name="{name}"]')


def chart_magnitude(page, name):
    return page.get_attribute(f'#chart .bar-track[data-name="{name}"]', "data-magnitude")


def test_page_loads_with_example_1(page):
    check = expect(page)
    check(page.locator("#loss")).to_have_text("L = 4")
    for name, value in EXAMPLE_1.items():
        check(field(page, name)).to_have_value(f"{value:g}")
    labels = page.locator("#fields label").all_inner_texts()
    assert labels == ["x", "y", "W1", "W2", "B"]
    assert "weight of x" in page.inner_text("#fields")
    rows = page.locator("#gradients tbody tr").all()
    assert [row.locator("td").all_inner_texts() for row in rows] == [
        ["x", "input", "5", "0.4"], ["y", "input", "10", "0.8"], ["W1", "parameter", "0.1", "20"],
        ["W2", "parameter", "0.2", "40"], ["B", "parameter", "0.5", "-4"]]
    assert [chart_magnitude(page, name) for name in ("x", "y", "W1", "W2", "B")] == ["0.4", "0.8", "20", "40", "4"]
    check(page.locator("#check")).to_have_class("check agree")
    assert page.inner_text("#check").startswith("✓ SymPy agrees")
    assert "dL/dW1 = 2·x·(-B + W1·x + W2·y) = 2·x·z4" in page.inner_text("#formulas")
    assert "dL/dB = dL/dz4 · ∂z4/∂B = dL/dz4 · (-1) = 4 · (-1) = -4" in page.inner_text("#derivation")
    assert "W1 ← W1 - lr·dL/dW1 = 0.1 - 0.001·20 = 0.08" in page.inner_text("#update")
    assert page.inner_text("#caption-text").startswith("Done: dL/dx = 0.4")
    assert page.inner_text("#counter") == "17 / 17"


def test_changing_w1_updates_the_loss_and_the_chart(page):
    field(page, "W1").fill("0.3")  # as you type: no button
    expect(page)(page.locator("#loss")).to_have_text("L = 9")
    expect(page)(page.locator('#chart .bar-track[data-name="W1"]')).to_have_attribute("data-magnitude", "30")
    widths = page.eval_on_selector_all("#chart .bar", "bars => bars.map(bar => bar.style.width)")
    assert widths[3] == "100%"  # the largest bar is dL/dW2 = 60
    assert widths[2] == "50%"
    expect(page)(page.locator("#caption-text")).to_contain_text("dL/dW1 = 30")  # the graph follows


def test_calculate_button_and_enter(page):
    field(page, "B").fill("2.5")
    page.click("#calculate")
    expect(page)(page.locator("#loss")).to_have_text("L = 0")
    field(page, "x").fill("6")
    field(page, "x").press("Enter")
    expect(page)(page.locator("#loss")).to_have_text("L = 0.01")


def test_reset_restores_example_1(page):
    field(page, "W1").fill("0.3")
    field(page, "B").fill("-7")
    expect(page)(page.locator("#loss")).to_have_text("L = 110.25")
    page.click("#reset")
    expect(page)(page.locator("#loss")).to_have_text("L = 4")
    expect(page)(field(page, "W1")).to_have_value("0.1")
    expect(page)(field(page, "B")).to_have_value("0.5")


def test_example_2(page):
    page.click("#example-2")
    expect(page)(page.locator("#loss")).to_have_text("L = 0")
    expect(page)(field(page, "W2")).to_have_value("0.3")


def test_copy_puts_the_block_on_the_clipboard(page):
    field(page, "W2").fill("0.3")
    expect(page)(page.locator("#loss")).to_have_text("L = 9")
    page.click("#copy")
    expect(page)(page.locator("#status")).to_have_text("Copied the results to the clipboard.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == gg.calculate(W2=0.3).copy_text()
    assert copied.startswith("Loss: L = 9\nGradients: dL/dW1 = 30, dL/dW2 = 60, dL/dB = -6\n")


def test_bad_number_shows_the_error_next_to_the_field_and_keeps_the_result(page):
    field(page, "W1").fill("0.1x")
    error = page.locator("#input-2-error")
    expect(page)(error).to_have_text("W1: the value '0.1x' is not a number")
    expect(page)(field(page, "W1")).to_have_attribute("aria-invalid", "true")
    expect(page)(page.locator("#loss")).to_have_text("L = 4")
    expect(page)(page.locator("#status")).to_have_text("Still showing the last good result.")
    # right beside the loss, not below the fold: the numbers shown are the old ones
    expect(page)(page.locator("#stale")).to_have_text("not updated: W1: the value '0.1x' is not a number")
    expect(page)(page.locator("#results-summary")).to_have_class("results-summary stale")
    field(page, "W1").fill("0.3")
    expect(page)(page.locator("#loss")).to_have_text("L = 9")
    expect(page)(error).to_have_text("")
    expect(page)(page.locator("#stale")).to_have_text("")


def test_bad_formula_shows_the_error_and_keeps_the_old_graph(page):
    page.evaluate("window.ggPage.viewer.svg.dataset.mark = 'before'")
    caption = page.inner_text("#caption-text")
    page.fill("#formula", "L = (x*W1 + ")
    expect(page)(page.locator("#formula-error")).to_contain_text("line 1, column")
    expect(page)(page.locator("#formula")).to_have_attribute("aria-invalid", "true")
    page.wait_for_timeout(400)  # the graph is not asked for again
    assert page.evaluate("window.ggPage.viewer.svg.dataset.mark") == "before"
    assert page.inner_text("#caption-text") == caption
    expect(page)(page.locator("#loss")).to_have_text("L = 4")
    labels = page.locator("#fields label").all_inner_texts()
    assert labels == ["x", "y", "W1", "W2", "B"]


def test_stepping_through_the_backward_pass_changes_the_caption(page):
    assert page.inner_text("#caption-text").startswith("Done:")
    page.click("#prev")
    expect(page)(page.locator("#caption-text")).to_have_text(
        "dL/dx = dL/dz1 · ∂z1/∂x = dL/dz1 · W1 = 4 · 0.1 = 0.4")
    page.fill("#slider", "6")
    expect(page)(page.locator("#caption-text")).to_have_text("Backward pass: dL/dL = 1")
    page.click("#next")
    expect(page)(page.locator("#caption-text")).to_have_text("dL/dz4 = ∂L/∂z4 = 2·z4 = 4")
    expect(page)(page.locator("#counter")).to_have_text("8 / 17")
    page.fill("#slider", "0")
    expect(page)(page.locator("#prev")).to_have_attribute("aria-disabled", "true")
    # a new value keeps the step on screen
    field(page, "W1").fill("0.3")
    expect(page)(page.locator("#caption-text")).to_contain_text("Forward pass: the inputs x = 5, W1 = 0.3")


def test_any_formula_brings_its_own_fields(page):
    page.fill("#formula", "e = (a+b)*(b+1)")
    expect(page)(page.locator("#fields label")).to_have_text(["a", "b"])
    assert page.locator("#example-1").is_hidden()
    field(page, "a").fill("2")
    expect(page)(page.locator("#loss")).to_have_text("e = 6")
    rows = page.locator("#gradients tbody tr").all()
    assert [row.locator("td").all_inner_texts() for row in rows] == [
        ["a", "parameter", "2", "2"], ["b", "parameter", "1", "5"]]
    expect(page)(page.locator("#caption-text")).to_contain_text("de/db = 5")
    page.click("#seed-formula")
    expect(page)(page.locator("#loss")).to_have_text("L = 4")
    assert page.locator("#example-1").is_visible()


def test_numbers_read_as_on_the_command_line(page):
    # text.format_number with 10 digits: 1e+12 and 1.234e-05, not 1000000000000 and 0.00001234
    page.fill("#formula", "L = 0.00001234*x*y")
    expect(page)(page.locator("#fields label")).to_have_text(["x", "y"])
    field(page, "x").fill("1")
    field(page, "y").fill("1e12")
    expect(page)(page.locator("#loss")).to_have_text("L = 12340000")
    rows = page.locator("#gradients tbody tr").all()
    assert [row.locator("td").all_inner_texts() for row in rows] == [
        ["x", "parameter", "1", "12340000"], ["y", "parameter", "1e+12", "1.234e-05"]]
    field(page, "x").fill("-0.000123456789012")
    expect(page)(page.locator("#loss")).to_have_text("L = -1523.456776")
    assert page.locator("#gradients tbody tr").nth(0).locator("td").all_inner_texts()[3] == "12340000"


def test_user_text_is_shown_as_text_and_never_runs(page):
    hostile = 'L = x <img src=x onerror="alert(1)"><script>alert(2)</script>'
    page.fill("#formula", hostile)
    expect(page)(page.locator("#formula-error")).to_contain_text("'<'")
    assert page.locator("img").count() == 0 and page.locator("script").count() == 4  # the page's own
    field(page, "x").fill("<b>5</b>")
    expect(page)(page.locator("#input-0-error")).to_have_text("x: the value '<b>5</b>' is not a number")
    assert page.locator("b").count() == 0


def test_an_input_named_like_the_page_own_boxes_gets_its_own_errors(page):
    page.fill("#formula", "L = lr*x + formula")
    expect(page)(page.locator("#fields label")).to_have_text(["lr", "x", "formula"])
    field(page, "lr").fill("abc")
    expect(page)(page.locator("#input-0-error")).to_have_text("lr: the value 'abc' is not a number")
    assert page.inner_text("#lr-error") == "" and page.inner_text("#formula-error") == ""
    assert page.get_attribute("#lr", "aria-invalid") is None


def test_back_to_the_seed_formula_brings_back_example_1(page):
    page.fill("#formula", "L = (x*w - y)**2")
    expect(page)(page.locator("#fields label")).to_have_text(["x", "w", "y"])
    field(page, "x").fill("2")
    page.click("#seed-formula")
    expect(page)(page.locator("#loss")).to_have_text("L = 4")
    expect(page)(field(page, "x")).to_have_value("5")


def test_infinite_gradients_are_drawn_apart_from_finite_ones(page):
    page.fill("#formula", "L = sqrt(y) + 3*x")
    expect(page)(page.locator("#fields label")).to_have_text(["y", "x"])
    field(page, "y").fill("0")
    expect(page)(page.locator('#chart .bar-track[data-name="y"]')).to_have_attribute("data-magnitude", "inf")
    assert page.get_attribute('#chart .bar-track[data-name="y"] .bar', "class") == "bar inf pos"
    assert page.get_attribute('#chart .bar-track[data-name="x"] .bar', "class") == "bar pos"


def test_copy_after_a_refused_change_says_what_it_copied(page):
    field(page, "W1").fill("zero")
    expect(page)(page.locator("#status")).to_have_text("Still showing the last good result.")
    page.click("#copy")
    expect(page)(page.locator("#status")).to_have_text(
        "Copied the last good results (the inputs on screen have an error).")
    assert page.evaluate("navigator.clipboard.readText()") == gg.calculate().copy_text()


@pytest.fixture
def sized_page(browser, live_server, request):
    width, height = request.param
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda failure: problems.append(str(failure)))
    page.on("console", lambda message: message.type == "error" and not expected_refusal(message.text)
            and problems.append(message.text))
    page.goto(live_server)
    page.wait_for_selector("#app[data-state=ready]")
    page.wait_for_selector("#viewer svg g.node")
    yield page
    context.close()
    assert problems == []


SIZES = [pytest.param((1280, 900), id="laptop"), pytest.param((390, 844), id="phone")]


@pytest.mark.parametrize("sized_page", SIZES, indirect=True)
def test_the_loss_and_every_gradient_are_above_the_fold(sized_page):
    page = sized_page
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    items = page.locator("#gradient-list li")
    assert items.all_inner_texts() == ["dL/dx = 0.4", "dL/dy = 0.8", "dL/dW1 = 20", "dL/dW2 = 40", "dL/dB = -4"]
    for locator in (page.locator("#loss"), items.last):
        found = locator.bounding_box()
        assert found["y"] + found["height"] <= height  # no scrolling needed
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll


@pytest.mark.parametrize("sized_page", SIZES, indirect=True)
def test_the_page_graph_zooms_and_tells_a_node_story(sized_page, request):
    page = sized_page
    width = page.viewport_size["width"]
    fitted = page.evaluate("window.ggPage.viewer.zoom.scale")
    page.click("#zoom-in")
    assert page.evaluate("window.ggPage.viewer.zoom.scale") > fitted
    page.click("#fit")
    page.click("#viewer g#n1")  # W1: an input the SymPy check covered
    expect(page)(page.locator("#details")).to_contain_text("SymPy agrees: dL/dW1 = 2·x·(-B + W1·x + W2·y)")
    page.click("#viewer g#n6")  # z1
    expect(page)(page.locator("#details")).to_contain_text("∂z1/∂x = W1 = 0.1")
    assert "z1 = x·W1 = 5·0.1 = 0.5" in page.inner_text("#details")
    # the same step reads the same in the caption, the derivation and the details
    page.fill("#slider", "15")
    caption = page.inner_text("#caption-text")
    assert caption == "dL/dx = dL/dz1 · ∂z1/∂x = dL/dz1 · W1 = 4 · 0.1 = 0.4"
    assert caption in page.inner_text("#derivation")
    tops = set()
    for button in ("#prev", "#play", "#next", "#train", "#zoom-in", "#fit"):
        found = page.locator(button).bounding_box()
        assert found["width"] >= 44 and found["height"] >= 44 and found["x"] + found["width"] <= width
        if button in ("#prev", "#play", "#next"):
            tops.add(round(found["y"]))
    assert len(tops) == 1  # the step controls on one line
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.locator("#graph-panel").screenshot(path=str(SCREENSHOTS / f"viewer-page-{request.node.callspec.id}.png"))


@pytest.mark.parametrize("sized_page", SIZES[:1], indirect=True)
def test_train_plays_gradient_descent_over_the_graph(sized_page):
    page = sized_page
    page.fill("#steps", "30")
    page.click("#train")
    expect(page)(page.locator("#graph-heading")).to_contain_text("Gradient descent: finished 30 steps")
    expect(page)(page.locator(".ggv-curve")).to_be_visible()
    page.keyboard.press("End")
    page.locator("#stage").focus()
    page.keyboard.press("End")
    expect(page)(page.locator("#caption-text")).to_contain_text("after 30 steps: L =")
    assert page.get_attribute(".ggv-curve", "data-points") == "31"
    page.click("#show-steps")
    expect(page)(page.locator("#graph-heading")).to_have_text("The graph, step by step")
    expect(page)(page.locator("#counter")).to_have_text("17 / 17")
    page.fill("#steps", "0")
    page.click("#train")
    expect(page)(page.locator("#graph-error")).to_contain_text("steps must be a whole number")


def test_a_formula_too_big_to_draw_node_by_node_is_an_overview(page):
    formula = "L = " + " + ".join(f"a{i}" for i in range(80))  # 159 nodes
    page.fill("#formula", formula)
    expect(page)(page.locator("#loss")).to_have_text("L = 80")
    expect(page)(page.locator("#caption-text")).to_contain_text("The graph has 159 nodes, more than the 150")
    assert page.inner_text("#graph-error") == ""


def test_the_mode_switch_draws_tangents(page):
    page.select_option("#mode", "forward")
    expect(page)(page.locator("#counter")).to_have_text("6 / 6")  # the forward frames only
    page.fill("#slider", "3")
    expect(page)(page.locator("#caption-text")).to_contain_text("ż3 = ż1 + ż2 = 0.1 + 0 = 0.1")
    page.click("#viewer g#n8")  # z3: its details tell its tangent line too
    expect(page)(page.locator("#details")).to_contain_text("ż3 = ż1 + ż2 = 0.1 + 0 = 0.1")
    page.select_option("#mode", "both")
    expect(page)(page.locator("#counter")).to_have_text("17 / 17")
    page.select_option("#mode", "reverse")
    expect(page)(page.locator("#caption-text")).not_to_contain_text("ż")


def test_forward_mode_moves_the_chosen_input_and_the_details_tell_the_tangent(page):
    check = expect(page)
    check(page.locator("#direction-box")).to_be_hidden()  # reverse mode has no direction
    page.select_option("#mode", "forward")
    check(page.locator("#direction-box")).to_be_visible()
    check(page.locator("#direction")).to_have_value("x")  # the first input by default
    check(page.locator("#counter")).to_have_text("6 / 6")
    page.select_option("#direction", "W1")
    check(page.locator("#caption-text")).to_contain_text("L̇ = ∂L/∂z4·ż4 = 4·5 = 20")  # dL/dW1 = 20
    page.fill("#slider", "1")
    check(page.locator("#caption-text")).to_contain_text("ż1 = W1·ẋ + x·Ẇ1 = 0.1·0 + 5·1 = 5")
    page.click("#viewer g#n6")  # z1: forward mode tells its tangent, not dL/dz1
    details = page.locator("#details")
    check(details).to_contain_text("tangent along (W1=1)")
    check(details).to_contain_text("ż1 = W1·ẋ + x·Ẇ1 = 0.1·0 + 5·1 = 5")
    check(details).not_to_contain_text("dL/dz1")
    page.select_option("#mode", "both")  # both: the tangent and dL/dnode
    check(page.locator("#counter")).to_have_text("17 / 17")
    page.click("#viewer g#n6")
    check(details).to_contain_text("ż1 = W1·ẋ + x·Ẇ1 = 0.1·0 + 5·1 = 5")
    check(details).to_contain_text("dL/dz1")
    page.select_option("#mode", "forward")
    page.select_option("#direction", label="a vector…")  # a direction vector, typed
    check(page.locator("#direction-vector")).to_be_visible()
    page.fill("#direction-vector", "x=1, W1=2")
    check(page.locator("#counter")).to_have_text("6 / 6")
    check(page.locator("#caption-text")).to_contain_text("L̇ = ∂L/∂z4·ż4 = 4·10.1 = 40.4")  # 0.4 + 2·20
    page.fill("#direction-vector", "q=1")
    check(page.locator("#graph-error")).to_contain_text("tangent names 'q', which is not an input")
    page.select_option("#mode", "reverse")
    check(page.locator("#direction-box")).to_be_hidden()
    check(page.locator("#graph-error")).to_have_text("")
    page.click("#viewer g#n6")
    check(details).to_contain_text("dL/dz1")
    check(details).not_to_contain_text("tangent along")


def test_the_curvature_section_states_the_stable_learning_rate(page):
    check = expect(page)
    check(page.locator("#curvature")).to_have_text(
        "largest eigenvalue of the Hessian in W1, W2, B: λmax = 252\n"
        "gradient descent is stable for lr < 2/λmax = 0.007936507937 (here lr = 0.001: stable)")
    page.fill("#lr", "0.01")
    check(page.locator("#curvature")).to_contain_text("(here lr = 0.01: too large: it overshoots)")
    check(page.locator("#update")).to_contain_text("try a smaller learning rate, lr < 2/λmax = 0.007936507937")
    page.fill("#formula", "L = relu(a)*b")  # at a = 0, a kink: no eigenvalue to state
    check(page.locator("#curvature")).to_contain_text("in a, b: λmax = ")  # smooth at a = 1
    page.fill('#fields input[data-name="a"]', "0")
    check(page.locator("#curvature")).to_contain_text("not available at this point")
