"""The interactive viewer (static/viewer.js) in headless Chromium at a laptop's and a phone's size:
pan and zoom, a node's story, its paths, search, keys, the current step kept in view, descent.
Screenshots go to docs/ (docs/viewer.md shows them)."""


import pytest

import graphviz_grad as gg
from graphviz_grad.descent import descend
from graphviz_grad.player import descent_html, player_html
from graphviz_grad.text import format_number

from .conftest import EXAMPLE_1, SCREENSHOTS, SEED

pytestmark = [pytest.mark.browser, pytest.mark.dot]

DOCS = SCREENSHOTS  # docs/ only with GG_SCREENSHOTS=1 (see conftest)
SIZES = {"laptop": (1280, 900), "phone": (390, 844)}
WIDE = "L = " + " + ".join(f"sin(w{k}*x{k})*tanh(b{k} - x{k})" for k in range(12))


def open_page(browser, tmp_path, html, size):
    width, height = SIZES[size]
    path = tmp_path / "viewer.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": width, "height": height})
    problems, requests = [], []
    page.on("pageerror", lambda failure: problems.append(str(failure)))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_selector("#stage svg g.node")
    return page, problems, requests


def scale(page):
    return page.evaluate("window.ggViewer.zoom.scale")


def inside_stage(page, node_id):
    """Whether node ``node_id`` is drawn wholly inside the stage (getBoundingClientRect: the
    protocol's box of an SVG group can be wider than what is drawn)."""
    page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")  # drawn
    return page.evaluate("""id => {
        const node = document.getElementById(id).getBoundingClientRect();
        const stage = document.getElementById('stage').getBoundingClientRect();
        return node.left >= stage.left - 1 && node.right <= stage.right + 1
            && node.top >= stage.top - 1 && node.bottom <= stage.bottom + 1;
    }""", node_id)


@pytest.fixture(scope="module")
def seed_html():
    return player_html(gg.grad(SEED, EXAMPLE_1))


@pytest.fixture(scope="module")
def wide_html():
    graph = gg.parse(WIDE)
    return player_html(gg.grad(graph, [0.5] * len(graph.inputs)))


@pytest.mark.parametrize("size", SIZES)
def test_zoom_buttons_wheel_drag_and_fit(browser, tmp_path, wide_html, size):
    page, problems, requests = open_page(browser, tmp_path, wide_html, size)
    fitted = scale(page)
    page.click("#zoom-in")
    assert scale(page) == pytest.approx(fitted * 1.25)
    page.click("#zoom-out")
    page.click("#zoom-out")
    assert scale(page) == pytest.approx(fitted * 0.8)
    page.click("#fit")
    assert scale(page) == pytest.approx(fitted)
    stage = page.locator("#stage").bounding_box()
    middle = (stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    page.mouse.move(*middle)
    page.mouse.wheel(0, -300)  # the wheel zooms in
    page.wait_for_timeout(100)
    assert scale(page) > fitted * 1.05
    before = page.evaluate("window.ggViewer.zoom.x")
    page.mouse.move(*middle)
    page.mouse.down()
    page.mouse.move(middle[0] + 80, middle[1], steps=5)  # a drag pans
    page.mouse.up()
    assert page.evaluate("window.ggViewer.zoom.x") == pytest.approx(before + 80, abs=2)
    assert page.evaluate("window.ggViewer.selected") is None  # the end of a drag is no click
    page.keyboard.press("0")
    assert scale(page) == pytest.approx(fitted)
    page.keyboard.press("+")
    assert scale(page) == pytest.approx(fitted * 1.25)
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size][0]
    assert problems == [] and len(requests) == 1  # the file itself: no network


@pytest.mark.parametrize("size", SIZES)
def test_pinch_zooms_on_a_touch_screen(browser, tmp_path, wide_html, size):
    page, problems, _ = open_page(browser, tmp_path, wide_html, size)
    fitted = scale(page)
    stage = page.locator("#stage").bounding_box()
    x, y = stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2
    session = page.context.new_cdp_session(page)

    def touch(kind, spread):
        points = [] if kind == "touchEnd" else [{"x": x - spread, "y": y, "id": 1}, {"x": x + spread, "y": y, "id": 2}]
        session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 20)
    for spread in (30, 45, 60, 80):
        touch("touchMove", spread)
    touch("touchEnd", 0)
    page.wait_for_timeout(100)
    assert scale(page) > fitted * 1.5
    assert problems == []


@pytest.mark.parametrize("size", SIZES)
def test_a_click_tells_the_node_story_and_highlights_its_paths(browser, tmp_path, seed_html, size):
    page, problems, _ = open_page(browser, tmp_path, seed_html, size)
    page.click("#stage g#n6")  # z1
    details = page.inner_text("#details")
    for part in ("z1", "mul: x·W1", "0.5", "dL/dz1", "z1 = x·W1 = 5·0.1 = 0.5",
                 "dL/dz1 = dL/dz3 · ∂z3/∂z1 = dL/dz3 · 1 = 4 · 1 = 4", "∂z1/∂x = W1 = 0.1", "∂z1/∂W1 = x = 5",
                 "∂z3/∂z1 = 1"):
        assert part in details, part
    on_path = page.evaluate("[...document.querySelectorAll('#stage .ggv-path title')].map(t => t.textContent)")
    # the inputs that feed z1, and every path from z1 to the output
    assert sorted(on_path) == sorted(["x", "W1", "z1", "z3", "z4", "L", "x->z1", "W1->z1", "z1->z3", "z3->z4",
                                      "z4->L"])
    assert page.evaluate("getComputedStyle(document.querySelector('#stage g#n2')).opacity") == "0.2"  # y: off
    page.screenshot(path=str(DOCS / f"viewer-details-{size}.png"), full_page=True)
    page.keyboard.press("Escape")
    assert page.locator("#details").is_hidden()
    assert page.evaluate("document.querySelectorAll('#stage .ggv-path').length") == 0
    # keyboard: Tab to a node, Enter selects it
    page.focus("#stage g#n1")
    page.keyboard.press("Enter")
    assert page.inner_text("#details h3") == "W1"
    assert problems == []


def test_in_forward_mode_a_node_tells_its_tangent_and_in_both_modes_its_gradient_too(browser, tmp_path):
    from graphviz_grad.forward import tangents

    trace = gg.grad(SEED, EXAMPLE_1)
    run = tangents(trace, direction="W1")
    for mode, shown, hidden in (("forward", ["tangent along (W1=1)", "ż1 = W1·ẋ + x·Ẇ1 = 0.1·0 + 5·1 = 5"],
                                 ["dL/dz1"]),
                                ("both", ["tangent along (W1=1)", "ż1 = W1·ẋ + x·Ẇ1 = 0.1·0 + 5·1 = 5", "dL/dz1"],
                                 [])):
        page, problems, _ = open_page(browser, tmp_path, player_html(trace, tangents=run, mode=mode), "laptop")
        page.click("#stage g#n6")  # z1
        details = page.inner_text("#details")
        assert all(part in details for part in shown), (mode, details)
        assert not any(part in details for part in hidden), (mode, details)
        assert problems == []
        page.close()


@pytest.mark.parametrize("size", SIZES)
def test_search_finds_and_selects_by_name(browser, tmp_path, wide_html, size):
    page, problems, _ = open_page(browser, tmp_path, wide_html, size)
    page.fill("#search", "w1")
    assert page.inner_text(".ggv-found") == "3 found"  # w1, w10, w11
    page.fill("#search", "b7")
    page.keyboard.press("Enter")
    assert page.evaluate("window.ggViewer.selected") == "b7"
    assert inside_stage(page, page.evaluate("window.ggViewer.data.nodes.find(n => n.name === 'b7').id"))
    assert "dL/db7" in page.inner_text("#details")
    page.keyboard.press("Escape")
    assert page.input_value("#search") == ""
    assert problems == []


@pytest.mark.parametrize("size", SIZES)
def test_keys_work_at_either_end_and_after_a_click_on_the_graph(browser, tmp_path, seed_html, size):
    page, problems, _ = open_page(browser, tmp_path, seed_html, size)
    page.click("#next")
    page.click("#prev")  # now at the first frame: the button stays focusable
    assert page.evaluate("document.activeElement.id") == "prev"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#counter") == "3 / 17"
    page.keyboard.press("End")
    page.keyboard.press("ArrowRight")  # past the end: still here, the keys still work
    page.keyboard.press("ArrowLeft")
    assert page.inner_text("#counter") == "16 / 17"
    page.fill("#search", "z")  # typing in the search box moves no frame
    page.keyboard.press("ArrowLeft")
    assert page.inner_text("#counter") == "16 / 17"
    stage = page.locator("#stage").bounding_box()
    page.mouse.click(stage["x"] + 5, stage["y"] + stage["height"] - 5)  # empty space of the graph
    assert page.evaluate("document.activeElement.id") == "stage"
    page.keyboard.press("Home")
    assert page.inner_text("#counter") == "1 / 17"
    assert problems == []


@pytest.mark.parametrize("size", SIZES)
def test_the_current_step_stays_in_view_at_any_zoom(browser, tmp_path, wide_html, size):
    page, problems, _ = open_page(browser, tmp_path, wide_html, size)
    for _ in range(6):
        page.click("#zoom-in")
    frames = page.evaluate("window.ggViewer.data.frames.length")
    for index in (1, 20, 40, frames // 2, frames - 5, frames - 2):
        page.fill("#slider", str(index))
        current = page.evaluate(f"window.ggViewer.data.frames[{index}].current")
        assert current and inside_stage(page, current), (index, current)
    page.screenshot(path=str(DOCS / f"viewer-zoomed-{size}.png"))
    assert problems == []


@pytest.mark.parametrize("size", SIZES)
def test_controls_fit_the_width_with_targets_of_44_px(browser, tmp_path, seed_html, size):
    page, problems, _ = open_page(browser, tmp_path, seed_html, size)
    width = SIZES[size][0]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    tops = set()
    for button in ("#prev", "#play", "#next", "#zoom-in", "#zoom-out", "#fit"):
        found = page.locator(button).bounding_box()
        assert found["width"] >= 44 and found["height"] >= 44 and found["x"] + found["width"] <= width
        if button in ("#prev", "#play", "#next"):
            tops.add(found["y"])
    assert len(tops) == 1
    page.screenshot(path=str(DOCS / f"viewer-player-{size}.png"))
    assert problems == []


@pytest.mark.parametrize("size", SIZES)
def test_descent_plays_live_with_its_loss_curve(browser, tmp_path, size):
    run = descend(SEED, EXAMPLE_1, wrt="W1,W2,B", lr=0.001, steps=40)
    page, problems, _ = open_page(browser, tmp_path, descent_html(run, every=4), size)
    assert page.inner_text("#caption-text").startswith("after 0 steps: L = 4;")
    assert page.get_attribute(".ggv-curve", "data-points") == "1"
    w1_texts = "[...document.querySelectorAll('#stage g#n1 text')].map(t => t.textContent)"
    grad_w1 = page.evaluate(w1_texts)
    page.click("#play")
    from playwright.sync_api import expect

    expect(page.locator("#player")).not_to_have_attribute("data-frame", "0", timeout=10000)  # it plays
    assert int(page.get_attribute(".ggv-curve", "data-points")) > 1
    assert page.evaluate(w1_texts) != grad_w1  # W1's value and gradient moved
    page.click("#play")
    page.keyboard.press("End")
    assert page.inner_text("#caption-text").startswith("after 40 steps:")
    assert page.get_attribute(".ggv-curve", "data-points") == "41"
    loss = format_number(run.final.loss)
    assert page.inner_text(".ggv-curve-label") == f"step 40: L = {loss}"  # the caption's number
    assert f"L = {loss};" in page.inner_text("#caption-text")
    page.click("#stage g#n1")
    assert "value" in page.inner_text("#details") and "W1" in page.inner_text("#details h3")
    page.screenshot(path=str(DOCS / f"viewer-descent-{size}.png"), full_page=True)
    assert problems == []
