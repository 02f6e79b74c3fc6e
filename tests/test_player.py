"""The HTML player: self-contained, escaped, and driven in headless Chromium (Playwright)."""

import json
import re

import pytest

import graphviz_grad as gg
from graphviz_grad.player import asset, player_html

from .conftest import EXAMPLE_1, SEED
from .test_frames import SEED_CAPTIONS


def scene_of(page):
    return json.loads(re.search(r'<script type="application/json" id="gg-scene">(.*?)</script>', page, re.S)[1])


@pytest.mark.dot
def test_page_is_self_contained():
    trace = gg.grad(SEED, EXAMPLE_1)
    page = player_html(trace)
    assert page.count("<svg width=") == 1  # one drawing; the frames are changes to it
    assert "default-src 'none'" in page  # the browser may fetch nothing
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    data = scene_of(page)
    assert [item["caption"] for item in data["frames"]] == SEED_CAPTIONS
    assert data["frames"][8]["current"] == "n8" and data["nodes"][8]["name"] == "z3"
    assert data["frames"][8]["set"] == {"n8": 2} and data["frames"][8]["edges"] == ["e9_0"]
    assert "MIT License" in asset("vendor/panzoom.LICENSE") and "panzoom" in page


@pytest.mark.dot
def test_user_text_cannot_close_the_script_or_inject_markup():
    (a,) = gg.inputs(["</script><script>alert(1)</script>"])
    trace = gg.grad(gg.build((a * 2).named("<img src=x onerror=alert(1)>")), [1.0])
    page = player_html(trace)
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert page.count("</script>") == 4  # the data block, the library, the viewer, its start


def test_the_player_needs_a_trace():
    with pytest.raises(TypeError, match="Trace"):
        player_html("y = x*2")


def open_player(browser, tmp_path, trace, width=1000, height=900):
    path = tmp_path / "player.html"
    path.write_text(player_html(trace), encoding="utf-8")
    page = browser.new_page(viewport={"width": width, "height": height})
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    return page, requests


def highlighted(page):
    """The id of the node drawn with the highlight colour in the stage's SVG."""
    return page.evaluate("""() => {
        const marked = [...document.querySelectorAll('#stage g.node')]
            .filter(g => g.querySelector('polygon[fill="none"]')
                && getComputedStyle(g.querySelector('polygon[fill="none"]')).stroke === 'rgb(255, 127, 14)');
        return marked.map(g => g.querySelector('title').textContent);
    }""")


@pytest.mark.browser
@pytest.mark.dot
def test_player_steps_through_the_backward_pass(browser, tmp_path):
    page, requests = open_player(browser, tmp_path, gg.grad(SEED, EXAMPLE_1))
    assert page.inner_text("#caption-text") == SEED_CAPTIONS[0]
    assert page.inner_text("#counter") == "1 / 17"
    for index in range(1, 9):
        page.click("#next")
        assert page.inner_text("#caption-text") == SEED_CAPTIONS[index]
    assert page.get_attribute("#player", "data-node") == "z3" and highlighted(page) == ["z3"]
    page.click("#next")
    assert page.get_attribute("#player", "data-node") == "z2" and highlighted(page) == ["z2"]
    page.click("#prev")
    assert highlighted(page) == ["z3"]
    page.click("#last")
    assert page.inner_text("#caption-text") == SEED_CAPTIONS[-1]
    stage = page.inner_text("#stage")
    assert "?" not in stage
    for gradient in ("grad = 0.4", "grad = 20", "grad = 0.8", "grad = 40", "grad = -4", "grad = 1"):
        assert gradient in stage
    page.click("#first")
    assert page.inner_text("#caption-text") == SEED_CAPTIONS[0]
    assert all(url.startswith("file://") for url in requests) and len(requests) == 1


@pytest.mark.browser
@pytest.mark.dot
def test_keys_slider_and_play(browser, tmp_path):
    page, _ = open_player(browser, tmp_path, gg.grad(SEED, EXAMPLE_1))
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#caption-text") == SEED_CAPTIONS[2]
    page.keyboard.press("ArrowLeft")
    assert page.inner_text("#caption-text") == SEED_CAPTIONS[1]
    page.keyboard.press("End")
    assert page.inner_text("#counter") == "17 / 17"
    page.fill("#slider", "7")
    assert page.inner_text("#caption-text") == SEED_CAPTIONS[7]
    page.click("#play")
    assert page.inner_text("#play") == "Pause"
    page.wait_for_timeout(1500)  # one frame every 1.2 s
    assert page.get_attribute("#player", "data-frame") != "7"
    page.click("#play")
    assert page.inner_text("#play") == "Play"


@pytest.mark.browser
@pytest.mark.dot
def test_readable_at_phone_width(browser, tmp_path):
    page, _ = open_player(browser, tmp_path, gg.grad(SEED, EXAMPLE_1), width=375)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    tops = set()
    for button in ("#first", "#prev", "#play", "#next", "#last"):
        box = page.locator(button).bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44 and box["x"] + box["width"] <= 375
        tops.add(box["y"])
    assert len(tops) == 1  # the controls on one line
    assert float(page.evaluate("getComputedStyle(document.getElementById('caption')).fontSize")[:-2]) >= 16
    page.click("#zoom-in")
    page.click("#zoom-in")
    page.click("#zoom-in")
    for _ in range(5):
        page.click("#next")  # the forward step of L, at the far right
    assert page.get_attribute("#player", "data-node") == "L"
    # the current node is on screen, zoomed in; panzoom draws a move at the next animation frame, so
    # the test waits (at most 3 s) for the drawing to show it rather than reading it at once
    page.wait_for_function("() => { const r = document.querySelector('#stage g#n10')"
                           ".getBoundingClientRect(); return r.left >= 0 && r.right <= 375; }", timeout=3000)


@pytest.mark.browser
@pytest.mark.dot
def test_hostile_names_show_literally_and_run_nothing(browser, tmp_path):
    name = "<img src=x onerror=alert(1)>"
    (a,) = gg.inputs([name])
    trace = gg.grad(gg.build((a * 2).named("</script><b>y")), [1.0])
    page, requests = open_player(browser, tmp_path, trace)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click("#last")
    assert name in page.inner_text("#stage") and "</script><b>y" in page.inner_text("#caption-text")
    assert page.evaluate("document.querySelectorAll('#stage img, #stage script, body > b').length") == 0
    assert not dialogs and len(requests) == 1


def test_only_the_player_own_scripts_run(browser, tmp_path):
    # the CSP names the page's scripts by hash: a script smuggled into the drawing stays inert
    from graphviz_grad.player import player_parts, viewer_page

    data, svg = player_parts(gg.grad("y = x*2", x=1))
    smuggled = svg.replace("</svg>", "<script>document.title = 'ran'</script></svg>")
    path = tmp_path / "smuggled.html"
    path.write_text(viewer_page(data, smuggled, title="t"), encoding="utf-8")
    page = browser.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector("#stage svg g.node")  # the page's own scripts ran
    assert page.title() == "t"


def test_the_picture_player_runs_under_its_script_hash(browser, tmp_path):
    trace = gg.grad("y = x*2", x=1)
    pictures = [f'<svg xmlns="http://www.w3.org/2000/svg"><text>{i}</text></svg>'.encode() for i in range(5)]
    html = player_html(trace, pictures)
    assert "'unsafe-inline'" not in html.split("script-src")[1].split(";")[0]
    path = tmp_path / "pictures.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page()
    page.goto(path.as_uri())
    page.keyboard.press("End")
    assert page.inner_text("#counter") == "5 / 5" and page.inner_text("#stage") == "4"


def test_a_long_heading_cuts_the_formula_and_keeps_the_learning_rate():
    from graphviz_grad.descent import descend
    from graphviz_grad.player import descent_html

    run = descend("L = (x*W1 + y*W2 - B)**2", {"x": 5, "y": 10, "W1": 0.1, "W2": 0.2, "B": 0.5},
                  wrt="W1,W2,B", lr=0.001, steps=3)
    heading = descent_html(run).split("<h1", 1)[1].split("</h1>")[0]
    assert heading.endswith("… — gradient descent on W1, W2, B (lr = 0.001)")  # it showed "(lr = 0.…"


def test_given_pictures_are_shown_one_per_frame():
    trace = gg.grad("y = x*2", x=1)
    page = player_html(trace, [f'<svg xmlns="http://www.w3.org/2000/svg"><text>{i}</text></svg>'.encode()
                               for i in range(5)])
    assert page.count('<template class="gg-frame">') == 5 and "default-src 'none'" in page
    with pytest.raises(ValueError, match="pictures"):
        player_html(trace, [b"<svg/>"])
