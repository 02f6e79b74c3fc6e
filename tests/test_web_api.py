"""The JSON API of ``graphviz-grad serve``: every endpoint, good and bad input, over HTTP to a
server in this process (uvicorn in a thread, the real worker pools)."""

import json

import pytest

import graphviz_grad as gg
from graphviz_grad import service, web
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
    assert_error(client.delete("/api/calculate"), 405, None, "Method Not Allowed")
    assert_error(client.post("/"), 405, None)


def test_other_host_names_are_refused():
    with running(web.create_app(workers=1, hosts=["127.0.0.1"])) as url:
        assert Client(url).get("/api/seed").status_code == 200
        assert Client(url, host="evil.example").get("/api/seed").status_code == 400


# --- /api/seed and /api/formula ------------------------------------------------------------------

def test_seed(client):
    data = client.get("/api/seed").json()
    assert data["formula"] == SEED and data["seed"] is True and data["output"] == "L"
    assert [(f["name"], f["default"]) for f in data["fields"]] == list(EXAMPLE_1.items())
    assert data["fields"][2]["help"] == "weight of x"
    assert data["parameters"] == ["W1", "W2", "B"]
    assert data["examples"]["2"] == {"x": 5.0, "y": 10.0, "W1": 0.2, "W2": 0.3, "B": 4.0}
    assert data["learning_rate"] == 0.001
    assert data["limits"] == {"formula_characters": service.MAX_FORMULA, "nodes": service.MAX_NODES}


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
    ("", "the formula is empty"),
    ("   \n ", "the formula is empty"),
    ("__import__('os').system('echo hacked')", "line 1"),
    ("x" * (service.MAX_FORMULA + 1), f"at most {service.MAX_FORMULA:,}"),
    (" + ".join(f"a{i}" for i in range(30)), f"the page draws at most {service.MAX_NODES}"),
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
    assert client.get("/api/calculate").json()["loss"] == 4.0  # GET: the defaults


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
    ({"values": {"W1": "abc"}}, "W1", "W1: the value 'abc' is not a number"),
    ({"values": {"W1": ""}}, "W1", "is not a number"),
    ({"values": {"W1": "inf"}}, "W1", "values must be finite"),
    ({"values": {"W1": "1e999"}}, "W1", "too large for float64"),
    ({"values": {"W1": "1e-999"}}, "W1", "too small for float64"),
    ({"values": {"W1": True}}, "W1", "expected a number, not true/false"),
    ({"values": {"W1": None}}, "W1", "expected a number, not null"),
    ({"values": {"W1": [1]}}, "W1", "expected a number, not a list"),
    ({"values": {"W1": 10 ** 400}}, "W1", "too large for float64"),
    ({"values": {"W1": "1" * 200}}, "W1", "over the limit of 100"),
    ({"values": {"q": 1}}, "q", "'q' is not an input of this formula"),
    ({"formula": "y = a*b", "values": {"a": 1}}, "b", "missing a value for input 'b'"),
    ({"values": [1, 2]}, None, "values must be a JSON object"),
    ({"values": {"W1": 1}, "lr": "-1"}, "lr", "the learning rate must be a number > 0"),
    ({"lr": 0}, "lr", "the learning rate must be a number > 0"),
    ({"lr": "fast"}, "lr", "the learning rate: the value 'fast' is not a number"),
    ({"formula": 42}, "formula", "the formula must be text, not a number"),
    ({"wrt": ["x"]}, None, "unknown key 'wrt'"),
])
def test_bad_input_is_a_400_naming_the_field(client, body, field, fragment):
    assert_error(client.post("/api/calculate", json=body), 400, field, fragment)
    if "lr" not in body:  # the pictures need no learning rate
        assert_error(client.post("/api/graph", json=body), 400, field, fragment)


@pytest.mark.parametrize("raw, fragment", [
    (b"{", "not valid JSON"),
    (b'{"values": {"W1": NaN}}', "NaN is not a JSON value"),
    (b'{"values": {"W1": Infinity}}', "Infinity is not a JSON value"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object, not a list"),
    (b'"text"', "must be a JSON object, not text"),
])
def test_bodies_that_are_not_a_json_object(client, raw, fragment):
    assert_error(client.post("/api/calculate", content=raw), 400, None, fragment)


def test_an_empty_body_is_the_defaults(client):
    assert client.post("/api/calculate", content=b"").json()["loss"] == 4.0


def test_request_size_is_limited(client):
    big = json.dumps({"formula": "L = x", "values": {"x": "1" * web.MAX_BODY}})
    assert_error(client.post("/api/calculate", content=big), 413, None, f"over the limit of {web.MAX_BODY:,}")

    def chunks():  # no Content-Length: the limit is counted as the body arrives
        for _ in range(web.MAX_BODY // 1000 + 2):
            yield b" " * 1000

    assert_error(client.post("/api/calculate", content=chunks()), 413, None, "over the limit")


# --- /api/graph ----------------------------------------------------------------------------------

def test_graph_frames(client):
    data = client.post("/api/graph", json={"values": {"W1": 0.3}}).json()
    frames = data["frames"]
    assert data["output"] == "L" and len(frames) == 17
    assert [frame["phase"] for frame in frames] == ["forward"] * 6 + ["backward"] * 10 + ["done"]
    assert frames[6]["caption"] == "Backward pass: dL/dL = 1" and frames[6]["node"] == "L"
    assert frames[-1]["caption"].startswith("Done: dL/dx = 1.8, dL/dW1 = 30")
    for frame in frames:
        assert frame["svg"].startswith("<?xml") and "</svg>" in frame["svg"]
        assert "<script" not in frame["svg"] and "href" not in frame["svg"]


def test_graph_of_any_formula(client):
    frames = client.post("/api/graph", json={"formula": "e = (a+b)*(b+1)",
                                             "values": {"a": 2, "b": 1}}).json()["frames"]
    assert "de/db = de/dz1 · ∂z1/∂b + de/dz2 · ∂z2/∂b = 2 · 1 + 3 · 1 = 5" in [f["caption"] for f in frames]
