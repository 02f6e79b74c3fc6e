"""Big graphs on the page: /api/graph answers an overview past the drawing limit, /api/overview opens
and closes its groups (a server in this process, the real worker pools), and a click in Chromium does
the same (marked `browser`)."""

import pytest

from graphviz_grad import service, web
from graphviz_grad.overview_scene import TooManyBoxes, open_groups, toggle

from .web_client import Client, running

COUNT = 30
FORMULA = "\n".join([f"e{k} = (w*x{k} + b - y{k})**2" for k in range(COUNT)]
                    + ["L = " + " + ".join(f"e{k}" for k in range(COUNT))])  # 212 nodes
VALUES = {"w": 1, "b": 0, **{f"x{k}": k / 10 for k in range(COUNT)}, **{f"y{k}": 1 for k in range(COUNT)}}


@pytest.fixture(scope="module")
def client():
    with running(web.create_app(workers=1)) as url:
        yield Client(url)


def post(client, endpoint, **body):
    answer = client.post(f"/api/{endpoint}", json=body)
    return answer.status_code, answer.json()


def ids(data, kind=None):
    return [item["id"] for item in data["nodes"] if kind is None or item["kind"] == kind]


def test_a_graph_past_the_drawing_limit_is_an_overview_of_clickable_groups(client):
    status, data = post(client, "graph", formula=FORMULA, values=VALUES)
    assert status == 200 and data["kind"] == "overview" and data["open"] == []
    assert len(FORMULA.splitlines()) == COUNT + 1 and data["overview"]["version"] == 1
    groups = {item["name"]: item for item in data["nodes"] if item["kind"] == "group"}
    assert set(groups) == {f"e{k}" for k in range(COUNT)} | {"L"} and groups["e3"]["expandable"]
    rows = dict(map(tuple, groups["e3"]["rows"]))
    assert rows["nodes"] == "6 inside · 2 in · 1 out" and rows["how"].startswith("click the box")
    assert all(f'id="{key}"' in data["svg"] for key in ids(data))  # the viewer finds every box
    assert [edge["id"] for edge in data["edges"]] == [edge["id"] for edge in data["overview"]["edges"]]
    assert data["frames"][0]["caption"].startswith("The graph has 212 nodes, more than the 150")


def test_a_group_opens_in_place_and_closes_again(client):
    _, first = post(client, "overview", formula=FORMULA, values=VALUES, open=[])
    status, opened = post(client, "overview", formula=FORMULA, values=VALUES, open=first["open"], group="e3")
    assert status == 200 and opened["open"] == ["e3"] and opened["group"] == "e3"
    box = next(item["id"] for item in first["nodes"] if item["name"] == "e3")
    frame = "c" + box[1:]
    change = opened["change"]
    assert change["removed"] == [box] and frame in [item["id"] for item in change["added"]]
    assert f'<g id="{frame}" class="cluster">' in opened["svg"]
    kept = [key for key in ids(first) if key != box]
    assert set(kept) < set(ids(opened)) and len(ids(opened)) == len(ids(first)) + len(change["added"]) - 1
    assert opened["frames"][0]["caption"].startswith("Opened e3 (6 nodes): ")
    status, closed = post(client, "overview", formula=FORMULA, values=VALUES, open=opened["open"], group="e3",
                          action="collapse")
    assert status == 200 and closed["open"] == [] and ids(closed) == ids(first)
    assert closed["change"]["removed"] == [frame, *(k for k in ids(opened) if k not in ids(first) and k != frame)]


def test_the_automatic_view_is_rebuilt_from_its_open_groups(client):
    status, auto = post(client, "overview", formula="h.a = x*w; L = h.a**2", values={"x": 2, "w": 3})
    assert status == 200 and auto["open"] == ["h"] and "c1" in ids(auto, "frame")
    again = post(client, "overview", formula="h.a = x*w; L = h.a**2", values={"x": 2, "w": 3}, open=auto["open"])[1]
    assert again["overview"] == auto["overview"]


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"open": [], "group": "nope"}, "group", "no group named 'nope' in this graph"),
    ({"open": [], "group": "e3", "action": "fold"}, "action", "action must be expand or collapse"),
    ({"group": "e3"}, "open", "group needs open"),
    ({"open": "e3"}, "open", "open must be a list"),
    ({"open": [3]}, "open", "a group id is text"),
    ({"open": ["x" * 401]}, "open", "at most 400 characters"),
    ({"open": ["nope"]}, "group", "no group named 'nope'"),
    ({"open": [], "group": ""}, "group", "the whole graph cannot be collapsed"),
    ({"demo": "resnet"}, "demo", "no demo 'resnet' (demos: mlp)"),
    ({"demo": "mlp", "formula": "L = x"}, "demo", "a demo has its own graph"),
    ({"nope": 1}, None, "unknown key 'nope' for overview"),
])
def test_bad_overview_requests_are_one_line_errors(client, body, field, message):
    if "demo" not in body:
        body = {"formula": FORMULA, "values": VALUES, **body}
    if body.get("group") == "":
        body["action"] = "collapse"
    answer = client.post("/api/overview", json=body)
    assert answer.status_code == 400, answer.text
    data = answer.json()
    assert data["field"] == field and message in data["error"] and "\n" not in data["error"]


def test_a_view_opened_by_hand_is_bounded_in_boxes():
    trace = service.backward(service.parse(FORMULA), {k: float(v) for k, v in VALUES.items()})
    view, change = toggle(trace, [], "e3")
    assert open_groups(view) == ["e3"] and change["removed"]
    drawn = len(view.layout()[0])  # boxes, frames and constants: what Graphviz lays out
    assert toggle(trace, [], "e3", most_boxes=drawn)[0].expanded == view.expanded
    with pytest.raises(TooManyBoxes, match=rf"opening 'e3' \(6 nodes\) would draw {drawn} boxes, over the limit "
                                           rf"of {drawn - 1}: open a group inside it"):
        toggle(trace, [], "e3", most_boxes=drawn - 1)
    with pytest.raises(ValueError, match="action must be"):
        toggle(trace, [], "e3", "open")


def test_the_page_and_the_demo_page_load_the_overview_script(client):
    for path in ("/", "/big"):
        page = client.get(path)
        assert page.status_code == 200 and '<script src="/overview.js" defer>' in page.text
    for path in ("/overview.js", "/big.js"):
        script = client.get(path)
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert "innerHTML" not in script.text and "eval(" not in script.text


# --- in Chromium ---------------------------------------------------------------------------------

def _expect():
    from playwright.sync_api import expect

    return expect


def _open(browser, url, problems, width=1300, height=1000):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda failure: problems.append(str(failure)))
    page.goto(url)
    return page


def _box(page, name, kind="group"):
    """The id of the box (or frame) of group ``name`` in the viewer's data."""
    return page.evaluate("([viewer, name, kind]) => window[viewer].viewer.data.nodes.find("
                         "(item) => item.name === name && item.kind === kind).id",
                         ["ggPage" if page.url.rstrip("/").count("/") == 2 else "ggBig", name, kind])


@pytest.mark.browser
@pytest.mark.dot
def test_a_click_opens_a_group_in_place_and_a_click_on_its_title_closes_it(browser, live_server):
    from .conftest import SCREENSHOTS

    expect, problems = _expect(), []
    page = _open(browser, live_server, problems)
    page.wait_for_selector("#viewer svg g.node")
    page.fill("#formula", FORMULA)
    caption, details = page.locator("#caption-text"), page.locator("#details")
    expect(caption).to_contain_text("The graph has 212 nodes, more than the 150")
    box = _box(page, "e3")
    frame = "c" + box[1:]
    assert page.locator(f"#viewer g#{frame}").count() == 0
    page.click(f"#viewer g#{box}")
    expect(caption).to_contain_text("Opened e3 (6 nodes)")
    expect(page.locator(f"#viewer g#{frame}.cluster")).to_have_count(1)  # the frame, where the box was
    assert page.locator(f"#viewer g#{box}").count() == 0 and page.get_attribute("#viewer", "data-open") == "e3"
    expect(details).to_contain_text("e3 (statement, open)")  # the panel tells the open group's story
    expect(details).to_contain_text("6 inside · 2 in · 1 out")
    assert page.locator("#viewer g.ggv-added").count() >= 6  # what the opening brought is marked
    page.screenshot(path=str(SCREENSHOTS / "overview-page-opened.png"))
    page.click(f"#viewer g#{frame} > text")  # the frame's title closes it
    expect(caption).to_contain_text("Closed e3 (6 nodes)")
    expect(page.locator(f"#viewer g#{box}.node")).to_have_count(1)
    expect(details).to_contain_text("click the box, or Tab to it and press Enter")
    other = _box(page, "e7")  # the keys: a box is focusable, Enter opens it
    page.focus(f"#viewer g#{other}")
    page.keyboard.press("Enter")
    expect(caption).to_contain_text("Opened e7 (6 nodes)")
    assert page.evaluate("document.activeElement.id") == "c" + other[1:]  # the focus stays on the group
    page.keyboard.press("Enter")
    expect(caption).to_contain_text("Closed e7")
    assert problems == []
    page.close()


@pytest.mark.browser
@pytest.mark.dot
@pytest.mark.slow
def test_the_micrograd_demo_opens_down_to_one_neuron(browser, live_server):
    from .conftest import SCREENSHOTS

    expect, problems = _expect(), []
    page = _open(browser, live_server + "big", problems)
    page.wait_for_selector("#app[data-state=ready]", timeout=60_000)
    caption, details = page.locator("#caption-text"), page.locator("#details")
    expect(caption).to_contain_text("Overview: 65,616 nodes drawn as")
    page.screenshot(path=str(SCREENSHOTS / "overview-demo.png"))
    for group in ("sample34", "sample34.layer2", "sample34.layer2.n5"):
        if page.evaluate("name => ggBig.viewer.data.open.includes(name)", group):
            continue
        if not page.evaluate("name => ggBig.viewer.data.nodes.some((item) => item.name === name)", group):
            bundle = page.evaluate("""name => ggBig.viewer.data.nodes.filter((item) => item.kind === 'group'
                && item.name.includes('sample[') && item.name.endsWith(']')).map((item) => item.name)""", group)
            holder = next(name for name in bundle if _holds(name, group))
            page.click(f"#viewer g#{_box(page, holder)}")
            expect(caption).to_contain_text(f"Opened {holder}", timeout=30_000)
        page.click(f"#viewer g#{_box(page, group)}")
        expect(caption).to_contain_text(f"Opened {group} (", timeout=30_000)
    expect(details).to_contain_text("sample34.layer2.n5 (")
    page.screenshot(path=str(SCREENSHOTS / "overview-demo-neuron.png"))  # the neuron's frame, centred
    frame = _box(page, "sample34.layer2.n5", "frame")
    inside = page.evaluate("frame => ggBig.viewer.data.nodes.filter((item) => item.frame === frame)"
                           ".map((item) => [item.id, item.name, item.kind])", frame)
    assert [kind for _, _, kind in inside] == ["frame"]  # n5 holds only the neuron: opened with it
    nodes = page.evaluate("frame => ggBig.viewer.data.nodes.filter((item) => item.frame === frame && "
                          "item.kind === 'node').map((item) => [item.id, item.name])", inside[0][0])
    assert len(nodes) == 33 and nodes[-1][1] == inside[0][1]  # 16 products, 16 sums, the relu (named as it)
    page.fill("#search", nodes[-1][1])  # a node of it, found by name (the frame is wider than the stage)
    page.press("#search", "Enter")
    expect(details).to_contain_text(f"relu: {nodes[-1][1]} = relu(")
    expect(details).to_contain_text(f"dL/d{nodes[-1][1]}")
    assert problems == []
    page.close()


def _holds(bundle, group):
    """Whether the bundle ``sample[30-39]`` (or a dotted path of them) holds ``sample34``."""
    import re

    number = int(re.search(r"[0-9]+$", group.split(".")[0]).group())
    low, high = map(int, re.findall(r"\[([0-9]+)-([0-9]+)\]", bundle)[-1])
    return low <= number <= high


def test_a_view_rebuilt_from_open_is_bounded_in_boxes_too():
    """``open`` alone (no ``group``) used to be laid out whatever its size: 88 group ids of a
    421-node formula drew 509 boxes (the demo's: a picture worker busy to its 20 s limit, then 503)."""
    count = 70
    formula = ";".join([f"e{k}=(w*x{k}-y{k})**2" for k in range(count)] + ["L=" + "+".join(f"e{k}" for k in range(count))])
    values = {"w": 1, **{f"x{k}": k / 10 for k in range(count)}, **{f"y{k}": 1 for k in range(count)}}
    from graphviz_grad.groups import group_tree

    every = [group.id for group in group_tree(service.parse(formula)).groups[1:]]
    status, data = service.respond("overview", {"formula": formula, "values": values, "open": every})
    assert status == 400 and data["field"] == "open", data
    assert "would draw" in data["error"] and "over the limit of 300" in data["error"] and "\n" not in data["error"]
    status, data = service.respond("overview", {"formula": formula, "values": values, "open": every,
                                                "group": "e3", "action": "collapse"})
    assert status == 400 and data["error"].startswith("closing 'e3'"), data  # not "opening"


@pytest.mark.dot
def test_an_open_groups_title_is_at_the_top_of_its_frame():
    """The title is what a click closes, and the viewer shows a frame taller than the stage from
    its top edge: a title at the bottom (inherited from the legend's labelloc=b) was off screen
    after opening layer1 of the demo (1,947 px down a 765 px stage at 1280 x 900)."""
    import re

    formula = "h.a = x*w; h.b = h.a*3; h.c = h.b + 1; L = h.c**2"
    status, data = service.respond("overview", {"formula": formula, "values": {"x": 2, "w": 3}, "open": ["h"]})
    assert status == 200
    frame = data["svg"][data["svg"].index('<g id="c1" class="cluster">'):]
    frame = frame[:frame.index("</g>")]
    outline = re.search(r' (?:d|points)="([^"]+)"', frame).group(1)
    heights = [float(y) for _, y in re.findall(r"(-?[0-9.]+),(-?[0-9.]+)", outline)]
    title = float(re.search(r'<text [^>]*y="(-?[0-9.]+)"', frame).group(1))
    top, bottom = min(heights), max(heights)  # SVG y grows downwards
    assert title - top < (bottom - top) / 2, (top, title, bottom)


def test_null_is_a_missing_key_in_an_overview_request_as_elsewhere():
    """``"action": null`` was refused ("not 'None'") while every other key of the API (``check``,
    ``values``, ``lr``, ``demo``, ``open``, ``group``) reads null as not given."""
    body = {"formula": "h.a = x*w; L = h.a**2", "values": {"x": 2, "w": 3}, "open": [], "group": "h"}
    status, data = service.respond("overview", {**body, "action": None})
    assert status == 200 and data["open"] == ["h"] and data["action"] == "expand", data
