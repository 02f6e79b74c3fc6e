"""The JSON API of ``graphviz-grad serve``: every endpoint, good and bad input, over HTTP to a
server in this process (uvicorn in a thread, the real worker pools)."""

import json

import pytest

import graphviz_grad as gg
from graphviz_grad import service, web
from graphviz_grad.ops import FUNCTIONS
from graphviz_grad.seed import EXAMPLE_1

from .conftest import SEED
from .web_client import Client, running


@pytest.fixture(scope="module")
def client():
    with running(web.create_app(workers=1)) as url:
        yield Client(url)


def assert_error(answer, status, field, *fragments):
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    data = answer.json()
    assert set(data) == {"error", "field"}
    assert data["field"] == field
    for fragment in fragments:
        assert fragment in data["error"]


# --- the page ----------------------------------------------------------------------------------

def test_page_script_and_style(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script src="/page.js" defer>' in page.text and "<script>" not in page.text
    assert "onclick" not in page.text  # no inline handlers: the policy would block them
    script = client.get("/page.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "innerHTML" not in script.text and "eval(" not in script.text
    assert client.get("/page.css").headers["content-type"] == "text/css; charset=utf-8"


def test_unknown_paths_and_methods_answer_json(client):
    assert_error(client.get("/nope"), 404, None, "Not Found", "/nope")
    assert_error(client.get("/api/nope"), 404, None, "no such endpoint: /api/nope", "/api/calculate")
    assert_error(client.post("/api/calculate/", json={}), 404, None, "/api/calculate/")  # no redirect
    assert_error(client.delete("/api/calculate"), 405, None, "/api/calculate takes POST, not DELETE")
    assert_error(client.get("/api/calculate"), 405, None, "/api/calculate takes POST, not GET")
    assert_error(client.post("/api/seed", json={}), 405, None, "/api/seed takes GET, not POST")
    assert client.head("/api/graph").status_code == 405  # no work done for a HEAD
    assert_error(client.post("/"), 405, None)


def test_posts_must_be_json():
    # a form or text/plain post from another web site cannot make the server work
    with running(web.create_app(workers=1)) as url:
        answer = Client(url).post("/api/calculate", content=b"{}", content_type="text/plain")
        assert_error(answer, 415, None, "must be sent as application/json, not text/plain")
        answer = Client(url).post("/api/calculate", content=b"{}", content_type=None)
        assert_error(answer, 415, None, "not no content type")


def test_other_host_names_are_refused():
    with running(web.create_app(workers=1, hosts=web.allowed_hosts("127.0.0.1"))) as url:
        port = url.rsplit(":", 1)[1].strip("/")
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
            assert Client(url, host=host).get("/api/seed").status_code == 200, host
        for host in ("evil.example", f"evil.example:{port}", "[::2]:80", "127.0.0.1.evil.example", "[::1"):
            assert_error(Client(url, host=host).get("/api/seed"), 400, None, "answers to its own address")
            assert Client(url, host=host).get("/").status_code == 400


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                            ("::ffff:127.0.0.1", True), ("0.0.0.0", False),
                                            ("192.168.1.2", False), ("localhost", False)])
def test_loopback_addresses_answer_to_local_names_only(host, loopback):
    assert web.is_loopback(host) is loopback
    assert (web.allowed_hosts(host) == ["*"]) is not loopback


# --- /api/seed and /api/formula ------------------------------------------------------------------

def test_seed(client):
    data = client.get("/api/seed").json()
    assert data["formula"] == SEED and data["seed"] is True and data["output"] == "L"
    assert [(f["name"], f["default"]) for f in data["fields"]] == list(EXAMPLE_1.items())
    assert data["fields"][2]["help"] == "weight of x"
    assert data["parameters"] == ["W1", "W2", "B"]
    assert data["examples"]["2"] == {"x": 5.0, "y": 10.0, "W1": 0.2, "W2": 0.3, "B": 4.0}
    assert data["learning_rate"] == 0.001
    assert data["limits"] == {"formula_characters": service.MAX_FORMULA, "nodes": service.MAX_NODES,
                              "drawn_nodes": service.MAX_DRAWN}
    assert data["functions"] == list(FUNCTIONS)  # the page's function list is the op table's


def test_formula(client):
    data = client.post("/api/formula", json={"formula": "e = (a+b)*(b+1)"}).json()
    assert data["seed"] is False and data["output"] == "e" and data["nodes"] == 6
    assert data["fields"] == [{"name": "a", "help": service.OTHER_HELP, "default": 1.0},
                              {"name": "b", "help": service.OTHER_HELP, "default": 1.0}]
    # the seed typed another way is still the seed, with its fields and defaults
    data = client.post("/api/formula", json={"formula": "  L = ((x*W1) + (y*W2) - B)**2 \n"}).json()
    assert data["seed"] is True and data["fields"][0] == {"name": "x", "help": "first input feature",
                                                          "default": 5.0}


@pytest.mark.parametrize("formula, fragment", [
    ("L = (x +", "line 1, column"),
    ("L = x*2 # \ud800", "not valid Unicode"),
    ("", "the formula is empty"),
    ("   \n ", "the formula is empty"),
    ("__import__('os').system('echo hacked')", "line 1"),
    ("x" * (service.MAX_FORMULA + 1), f"at most {service.MAX_FORMULA:,}"),
    ("y = 2*x\ny = 3*x", "line 2"),
])
def test_bad_formulas(client, formula, fragment):
    assert_error(client.post("/api/formula", json={"formula": formula}), 400, "formula", fragment)
    assert_error(client.post("/api/calculate", json={"formula": formula}), 400, "formula", fragment)


# --- /api/calculate ------------------------------------------------------------------------------

def test_calculate_the_seed(client):
    data = client.post("/api/calculate", json={"values": {"W1": "0.1"}}).json()
    assert data == json.loads(gg.calculate().to_json())
    assert data["loss"] == 4.0 and data["gradients"] == {"x": 0.4, "y": 0.8, "W1": 20.0, "W2": 40.0, "B": -4.0}
    assert data["check"]["ok"] is True
    assert client.post("/api/calculate", json={}).json()["loss"] == 4.0  # no values: the defaults


def test_calculate_numbers_as_json_or_text(client):
    as_text = client.post("/api/calculate", json={"values": {"W1": "3e-1", "B": " -7 "}, "lr": "0.01"}).json()
    as_numbers = client.post("/api/calculate", json={"values": {"W1": 0.3, "B": -7}, "lr": 0.01}).json()
    assert as_text == as_numbers
    assert as_text["loss"] == (5 * 0.3 + 10 * 0.2 + 7) ** 2
    assert as_text["update"]["lr"] == 0.01


def test_calculate_any_formula(client):
    data = client.post("/api/calculate", json={"formula": "e = (a+b)*(b+1)", "values": {"a": 2, "b": 1}}).json()
    assert data["loss"] == 6.0 and data["gradients"] == {"a": 2.0, "b": 5.0}
    assert data["formula"] == "e = (a+b)*(b+1)"


def test_values_that_are_not_finite_inside_the_graph_are_strings(client):
    answer = client.post("/api/calculate", json={"formula": "y = log(x)", "values": {"x": -1}})
    assert answer.status_code == 200
    data = answer.json()
    assert data["loss"] == "nan" and data["gradients"] == {"x": -1.0}
    json.loads(answer.text, parse_constant=lambda name: pytest.fail(f"bare {name} in the JSON"))
    data = client.post("/api/calculate", json={"formula": "y = 1/x", "values": {"x": 0}}).json()
    assert data["loss"] == "inf" and data["gradients"] == {"x": "-inf"}


@pytest.mark.parametrize("body, field, fragment", [
    ({"values": {"W1": "abc"}}, "values.W1", "W1: the value 'abc' is not a number"),
    ({"values": {"W1": ""}}, "values.W1", "W1: no value given"),
    ({"values": {"W1": "inf"}}, "values.W1", "values must be finite"),
    ({"values": {"W1": "1e999"}}, "values.W1", "too large for float64"),
    ({"values": {"W1": "1e-999"}}, "values.W1", "too small for float64"),
    ({"values": {"W1": True}}, "values.W1", "expected a number, not true/false"),
    ({"values": {"W1": None}}, "values.W1", "expected a number, not null"),
    ({"values": {"W1": [1]}}, "values.W1", "expected a number, not a list"),
    ({"values": {"W1": {"a": [[1]]}}}, "values.W1", "expected a number, not an object"),
    ({"values": {"W1": 10 ** 400}}, "values.W1", "too large for float64"),
    ({"values": {"W1": "1" * 200}}, "values.W1", "over the limit of 100"),
    ({"values": {"q": 1}}, "values.q", "'q' is not an input of this formula"),
    ({"values": {"\ud800": 1}}, None, "not valid Unicode"),
    ({"formula": "L = x*2 # \ud800", "values": {"x": 1}}, "formula", "not valid Unicode"),
    ({"formula": "L = lr*x", "values": {"lr": "abc", "x": 1}}, "values.lr", "lr: the value 'abc'"),
    ({"formula": "y = a*b", "values": {"a": 1}}, "values.b", "missing a value for input 'b'"),
    ({"values": [1, 2]}, None, "values must be a JSON object"),
    ({"values": {"W1": 1}, "lr": "-1"}, "lr", "the learning rate must be a number > 0"),
    ({"lr": 0}, "lr", "the learning rate must be a number > 0"),
    ({"lr": "fast"}, "lr", "the learning rate: the value 'fast' is not a number"),
    ({"lr": [[[1]]]}, "lr", "the learning rate: expected a number, not a list"),
    ({"formula": 42}, "formula", "the formula must be text, not a number"),
    ({"formula": ["L = x"]}, "formula", "the formula must be text, not a list"),
    ({"wrt": ["x"]}, None, "unknown key 'wrt' for calculate (it takes formula, values, lr)"),
])
def test_bad_input_is_a_400_naming_the_field(client, body, field, fragment):
    assert_error(client.post("/api/calculate", json=body), 400, field, fragment)
    if "lr" not in body and "wrt" not in body:  # the pictures need no learning rate
        assert_error(client.post("/api/graph", json=body), 400, field, fragment)


@pytest.mark.parametrize("raw, fragment", [
    (b"{", "not valid JSON"),
    (b'{"values": {"W1": NaN}}', "NaN is not a JSON value"),
    (b'{"values": {"W1": Infinity}}', "Infinity is not a JSON value"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object, not a list"),
    (b'"text"', "must be a JSON object, not text"),
    (b'{"values": {"W1": 1, "W1": 2}}', "the key 'W1' appears twice in one object"),
    (b"[" * 10000 + b"]" * 10000, "nested too deeply"),
])
def test_bodies_that_are_not_a_json_object(client, raw, fragment):
    assert_error(client.post("/api/calculate", content=raw), 400, None, fragment)


def test_an_empty_body_is_the_defaults(client):
    assert client.post("/api/calculate", content=b"").json()["loss"] == 4.0


def test_deep_requests_never_reach_or_break_the_workers(client):
    deep = b'{"values": {"x": ' + b"[" * 600 + b"]" * 600 + b"}}"
    for _ in range(3):
        assert_error(client.post("/api/graph", content=deep), 400, "values.x", "x: expected a number, not a list")
        assert_error(client.post("/api/calculate", content=b'{"lr": ' + b"[" * 500 + b"]" * 500 + b"}"), 400,
                     "lr", "the learning rate: expected a number, not a list")
    assert len(client.post("/api/graph", json={}).json()["frames"]) == 17
    assert client.post("/api/calculate", json={}).json()["loss"] == 4.0


def test_values_without_a_real_result_still_answer(client):
    for formula, values in (("L = cos(log(x))", {"x": -1}), ("L = exp(sqrt(x))", {"x": -4})):
        data = client.post("/api/calculate", json={"formula": formula, "values": values}).json()
        assert data["loss"] == "nan" and data["check"]["ok"] is True


def test_a_check_over_its_budget_leaves_the_rest_of_the_page(monkeypatch):
    monkeypatch.setattr(service, "TIMED", True)  # as in a worker
    monkeypatch.setattr(service, "CHECK_SECONDS", 0.05)
    import time

    import graphviz_grad.symbolic as symbolic

    def slow_check(*args, **kwargs):  # over any budget, however fast SymPy gets (and it got fast)
        time.sleep(5)
        raise AssertionError("the time budget did not stop the check")

    monkeypatch.setattr(symbolic, "check", slow_check)
    formula = "L = " + "sqrt(1 + " * 12 + "x" + ")" * 12
    status, data = service.respond("calculate", {"formula": formula, "values": {"x": 0.7}})
    assert status == 200 and data["loss"] == gg.grad(formula, x=0.7).output_value
    assert data["check"] == {"ok": None, "summary": "not done: SymPy took longer than 0.05 s",
                             "text": "SymPy check not done: SymPy took longer than 0.05 s."}
    assert data["formulas"] == [] and data["derivation"]["backward"]


def test_the_check_budget_leaves_a_caller_timer_alone():
    import signal

    signal.setitimer(signal.ITIMER_REAL, 30)
    try:
        assert service.respond("calculate", {})[0] == 200
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 25  # still running
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def test_request_size_is_limited(client):
    big = json.dumps({"formula": "L = x", "values": {"x": "1" * web.MAX_BODY}})
    assert_error(client.post("/api/calculate", content=big), 413, None, f"over the limit of {web.MAX_BODY:,}")

    def chunks():  # no Content-Length: the limit is counted as the body arrives
        for _ in range(web.MAX_BODY // 1000 + 2):
            yield b" " * 1000

    assert_error(client.post("/api/calculate", content=chunks()), 413, None, "over the limit")
    declared = client.request("POST", "/api/calculate", content=b"{}" + b" " * (web.MAX_BODY + 1))
    assert_error(declared, 413, None, "over the limit")


# --- /api/graph ----------------------------------------------------------------------------------

def test_graph_frames(client):
    data = client.post("/api/graph", json={"values": {"W1": 0.3}}).json()
    frames = data["frames"]
    assert data["output"] == "L" and len(frames) == 17
    assert [frame["phase"] for frame in frames] == ["forward"] * 6 + ["backward"] * 10 + ["done"]
    assert frames[6]["caption"] == "Backward pass: dL/dL = 1" and frames[6]["node"] == "L"
    assert frames[-1]["caption"].startswith("Done: dL/dx = 1.8, dL/dW1 = 30")
    # one drawing, laid out once; each frame is the changes to it
    assert data["svg"].startswith("<svg") and data["svg"].count("<svg") == 1 and "</svg>" in data["svg"]
    assert "<script" not in data["svg"] and "href" not in data["svg"]
    assert all("svg" not in frame for frame in frames)
    assert frames[7]["set"] == {"n9": 2} and frames[7]["current"] == "n9" and frames[7]["edges"] == ["e10_0"]
    z1 = data["nodes"][data["index"]["z1"]]
    assert z1["forward"] == "z1 = x·W1 = 5·0.3 = 1.5" and z1["args"] == ["e6_0", "e6_1"]
    assert {edge["id"]: edge["text"] for edge in data["edges"]}["e6_0"] == "∂z1/∂x = W1 = 0.3"


def test_graph_passes_and_the_drawing_limit(client):
    forward = client.post("/api/graph", json={"passes": "forward"}).json()["frames"]
    assert [frame["phase"] for frame in forward] == ["forward"] * 6
    assert_error(client.post("/api/graph", json={"passes": "sideways"}), 400, "passes", "passes must be one of")
    # numbers for every formula the parser takes; only the drawing has a limit
    wide = " + ".join(f"a{i}" for i in range(80))  # 159 nodes
    values = {f"a{i}": 1 for i in range(80)}
    assert client.post("/api/calculate", json={"formula": wide, "values": values}).json()["loss"] == 80
    big = client.post("/api/graph", json={"formula": wide, "values": values}).json()  # an overview instead
    assert big["kind"] == "overview" and big["frames"][0]["caption"].startswith(
        f"The graph has 159 nodes, more than the {service.MAX_DRAWN} the page draws one by one")


def test_descend_plays_a_run(client):
    data = client.post("/api/descend", json={"values": {}, "lr": "0.001", "steps": 20}).json()
    assert data["status"] == "finished" and data["svg"].startswith("<svg")
    assert [point[0] for point in data["curve"]][:3] == [0, 1, 2] and data["curve"][-1][0] == 20
    assert data["frames"][0]["caption"].startswith("after 0 steps: L = 4;")
    assert data["frames"][-1]["step"] == 20 and data["parameters"] == ["W1", "W2", "B"]
    assert_error(client.post("/api/descend", json={"steps": 0}), 400, "steps", "steps must be a whole number")
    assert_error(client.post("/api/descend", json={"lr": "-1"}), 400, "lr", "learning rate")


def test_graph_of_any_formula(client):
    frames = client.post("/api/graph", json={"formula": "e = (a+b)*(b+1)",
                                             "values": {"a": 2, "b": 1}}).json()["frames"]
    assert "de/db = de/dz1 · ∂z1/∂b + de/dz2 · ∂z2/∂b = de/dz1 · 1 + de/dz2 · 1 = 2 · 1 + 3 · 1 = 5" in [f["caption"] for f in frames]
