"""The overview player: a page with views laid out beforehand, groups opened and closed by a click
without a server (the browser tests are marked `browser`)."""

import json
import re

import pytest

import graphviz_grad as gg
from graphviz_grad.overview import overview
from graphviz_grad.overview_player import overview_player_html, prerendered

from .test_cli import run
from .test_groups import SMALL, _sample_program

AT = "x=2,w=3,y=1"
pytestmark = pytest.mark.dot


def small_trace():
    return gg.grad(SMALL, x=2, w=3, y=1)


def scene(page):
    return json.loads(re.search(r'<script type="application/json" id="gg-scene">(.*?)</script>', page, re.S)[1])


def test_every_view_one_click_away_is_held_and_linked_both_ways():
    view = overview(small_trace(), expand=())
    views = prerendered(view)
    assert list(views) == ["", "h", "L", "L\nh"] and view.expanded == {0}  # the view is left as it was
    first = views[""]
    assert first["next"]["h"][0] == "h" and views["h"]["next"]["h"][0] == ""  # opened, then closed again
    assert first["next"]["h"][1]["removed"] == ["g1"] and first["next"]["h"][1]["caption"].startswith("Opened h")
    assert {"c1", "n4", "n5"} <= {box["id"] for box in first["next"]["h"][1]["added"]}
    for data in views.values():
        assert all(f'id="{item["id"]}"' in data["svg"] for item in data["nodes"])
        assert data["held"] == 4


def test_the_budget_bounds_the_views_and_drops_links_to_views_left_out():
    views = prerendered(overview(small_trace(), expand=()), most_views=2)
    assert list(views) == ["", "h"] and sorted(views[""]["next"]) == ["h"] and list(views["h"]["next"]) == ["h"]
    assert views["h"]["next"]["h"][0] == "" and views["h"]["next"]["h"][1]["caption"].startswith("Closed h")
    one = prerendered(overview(small_trace(), expand=()), most_bytes=1)
    assert list(one) == [""] and one[""]["next"] == {}  # the first view always


def test_render_writes_the_overview_player_and_steps_keep_the_frames(capsys, tmp_path):
    target = tmp_path / "o.html"
    assert run(capsys, "render", SMALL, "--at", AT, "--expand", "h", "-o", str(target))[0] == 0
    page = target.read_text(encoding="utf-8")
    data = scene(page)
    assert data["kind"] == "overview" and data["open"] == ["h"] and "views" in data and "svg" not in data
    assert "GGOverview.attach" in page and all(view["svg"].startswith("<svg") for view in data["views"].values())
    assert "script-src 'sha256-" in page and "'unsafe-inline'" not in page.split("script-src")[1].split(";")[0]


# --- in Chromium ---------------------------------------------------------------------------------

def open_player(browser, tmp_path, html):
    path = tmp_path / "overview.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems, requests = [], []
    page.on("pageerror", lambda failure: problems.append(str(failure)))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_selector("#stage svg g.node")
    return page, problems, requests


@pytest.mark.browser
def test_a_click_in_the_player_opens_and_closes_a_group_without_a_server(browser, tmp_path):
    from playwright.sync_api import expect

    from .conftest import SCREENSHOTS

    count = 30
    values = {"w": 1.0, "b": 0.0, **{f"x{k}": k / 10 for k in range(count)}, **{f"y{k}": 1.0 for k in range(count)}}
    trace = gg.grad(_sample_program(count), values)
    html = overview_player_html(overview(trace), title="30 squares", most_views=3)
    page, problems, requests = open_player(browser, tmp_path, html)
    caption, details, note = page.locator("#caption-text"), page.locator("#details"), page.locator("#gg-note")
    expect(caption).to_contain_text("Overview: 212 nodes drawn as")
    start = next(iter(scene(html)["views"].values()))  # the first view: the automatic one
    held = start["next"]
    first, second = sorted(held)[:2]
    box = page.evaluate("name => ggViewer.data.nodes.find((item) => item.name === name).id", first)
    page.click(f"#stage g#{box}")
    expect(caption).to_contain_text(f"Opened {first} (6 nodes)")
    expect(page.locator(f"#stage g#c{box[1:]}.cluster")).to_have_count(1)
    expect(details).to_contain_text(f"{first} (statement, open)")
    page.screenshot(path=str(SCREENSHOTS / "overview-player-opened.png"))
    page.click(f"#stage g#c{box[1:]} > text")  # its title: closed again, back to the first view
    expect(caption).to_contain_text(f"Closed {first}")
    expect(page.locator(f"#stage g#{box}.node")).to_have_count(1)
    other = next(item for item in start["nodes"]
                 if item["kind"] == "group" and item["name"] not in held)
    page.click(f"#stage g#{other['id']}")  # a view the page does not hold: one line says so
    expect(note).to_contain_text(f"this page holds 3 views laid out beforehand, not the one that opens {other['name']}")
    expect(note).to_contain_text("graphviz-grad serve opens any group")
    assert second in held and problems == [] and all(url.startswith("file:") for url in requests)
    page.close()


def test_a_notebook_player_of_an_overview_is_the_same_page():
    from graphviz_grad.widgets import Player

    player = Player(overview(small_trace(), expand=()))
    assert "Overview of 8 nodes (4 views laid out beforehand" in str(player)
    bundle = player._repr_mimebundle_()[0]
    assert "GGOverview.attach" in bundle["text/html"] and bundle["image/svg+xml"].startswith("<svg")
    assert scene(player.page)["kind"] == "overview" and len(player.data["views"]) == 4


def _net(neurons=30, inputs=3):
    lines = [f"h{j} = tanh(" + " + ".join(f"w{j}_{i}*x{i}" for i in range(inputs)) + f" + b{j})"
             for j in range(neurons)]
    return "\n".join([*lines, "L = (" + " + ".join(f"v{j}*h{j}" for j in range(neurons)) + " - y)**2"])


@pytest.mark.slow
def test_the_player_of_a_30_neuron_net_stays_under_3_mb_and_still_opens_groups(capsys, tmp_path):
    graph = gg.parse(_net())
    values = ",".join(f"{name}=0.3" for name in graph.inputs)
    target = tmp_path / "net.html"
    assert run(capsys, "render", _net(), "--at", values, "-o", str(target))[0] == 0
    page = target.read_text(encoding="utf-8")
    assert len(page.encode("utf-8")) <= 3_000_000  # was 10.3 MB: 32 views of about 300 KB
    data = scene(page)
    first = next(iter(data["views"].values()))
    assert 2 <= len(data["views"]) < 32 and first["next"]  # fewer views, still a click away
    assert all(key in data["views"] for key, _ in first["next"].values())
