"""The exercise page and its endpoint: ready exercises, a teacher's own, bounded bad input; the
page in Chromium accepts right answers and explains wrong ones."""

import pytest

from graphviz_grad import web
from graphviz_grad.service import respond

from .web_client import Client, running


def test_a_ready_exercise_without_answers_has_its_blanks_and_no_marks():
    status, page = respond("exercise", {"name": "seed"})
    assert status == 200 and page["marks"] is None and page["score"] is None
    assert page["blanks"][0] == "dL/dz4" and "  dL/dz4 = 2·z4 = ?" not in page["derivation"]
    assert "dL/dz4 = 2·z4 = ?" in page["derivation"] and page["tolerance"] == {"rel": 1e-3, "abs": 1e-6}
    assert page["svg"].startswith("<?xml") and "grad = ?" in page["svg"]


def test_answers_are_marked_and_explained_with_the_learners_own_earlier_answers():
    status, page = respond("exercise", {"name": "seed", "answers": {"dL/dz4": "5", "dL/dz3": 5, "dL/dW1": "20"}})
    assert status == 200 and page["score"] == "1 of 9 right"
    marks = {mark["key"]: mark for mark in page["marks"]}
    assert marks["dL/dW1"]["right"] and not marks["dL/dz3"]["right"]
    assert marks["dL/dz3"]["text"].endswith("Your step is right, but it uses your dL/dz4 = 5, which should be 4.")
    assert marks["dL/dB"]["text"] == "dL/dB: no answer yet."
    assert respond("exercise", {"name": "seed", "answers": {"dL/dz4": "abc"}})[1]["marks"][0]["text"] == (
        "dL/dz4: the value 'abc' is not a number.")


def test_a_teachers_own_exercise_from_a_formula():
    status, page = respond("exercise", {"formula": "y = x**3", "values": {"x": "2"}, "hide": ["dy/dx"],
                                        "answers": {"dy/dx": 4}})
    assert status == 200 and page["blanks"] == ["dy/dx"]
    assert page["marks"][0]["text"].endswith("∂y/∂x should be 12 (= 3·x**2).")


def test_an_answer_to_an_older_request_is_dropped_in_chromium(browser, live_server):
    """The seed's first answer arriving after the learner chose another exercise does not replace it."""
    held = []

    def hold_the_first_seed(route):
        if (route.request.post_data_json or {}).get("name") == "seed" and not held:
            held.append(route)  # answered below, after the fan-out exercise is on the page
        else:
            route.continue_()

    page = browser.new_page()
    try:
        page.route("**/api/exercise", hold_the_first_seed)
        page.goto(live_server + "exercise")
        page.wait_for_function("document.readyState === 'complete'")
        assert len(held) == 1
        page.select_option("#ready", "fanout")
        page.wait_for_selector('#blanks input[data-key="de/db"]')
        with page.expect_response("**/api/exercise"):
            held[0].continue_()
        page.evaluate("new Promise(requestAnimationFrame)")  # let the late answer's handlers run
        assert page.locator('#blanks input[data-key="de/db"]').count() == 1
        assert "de/db" in page.text_content("#derivation")
    finally:
        page.close()


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ({"name": "nope"}, "name", "no ready exercise 'nope'"),
    ({"name": 3}, "name", "no ready exercise int"),
    ({"name": "seed", "formula": "y = x"}, "name", "not both"),
    ({"formula": 5}, "formula", "the formula must be text"),
    ({"formula": "y = x**2", "values": {"x": 1}, "hide": "grads"}, "hide", "must be a list"),
    ({"formula": "y = x**2", "values": {"x": 1}, "hide": ["z"] * 101}, "hide", "at most 100 keys"),
    ({"formula": "y = x**2", "values": {"x": 1}, "hide": [1]}, "hide", "each key is text"),
    ({"name": "seed", "answers": []}, "answers", "must be a JSON object"),
    ({"name": "seed", "answers": {"dL/dz4": True}}, "answers", "must be a number or short text"),
    ({"name": "seed", "answers": {"dL/dz4": "1" * 101}}, "answers", "must be a number or short text"),
    ({"formula": "y = x**2", "values": {"q": 1}}, "values.q", "'q' is not an input"),
    ({"formula": "y = (", "values": {}}, "formula", ""),
    ({"name": "seed", "extra": 1}, None, "unknown key 'extra' for exercise"),
])
def test_bad_requests_are_refused_with_a_field(body, field, fragment):
    status, page = respond("exercise", body)
    assert status == 400 and page["field"] == field and fragment in page["error"], page


def test_unknown_blanks_in_the_answers_are_refused():
    status, page = respond("exercise", {"name": "fanout", "answers": {"dL/dq": 1}})
    assert status == 400 and "'dL/dq' is not one of this exercise's blanks" in page["error"]
    status, page = respond("exercise", {"formula": "y = x**2", "values": {"x": 1}, "hide": ["q"]})
    assert status == 400 and "'q' names no node" in page["error"]


@pytest.mark.dot
def test_the_page_and_the_endpoint_over_http():
    with running(web.create_app(workers=1)) as url:
        client = Client(url)
        page = client.get("/exercise")
        assert page.status_code == 200 and '<script src="/exercise.js" defer>' in page.text
        assert "<script>" not in page.text and "content-security-policy" in page.headers
        assert '<a href="/">' in page.text and '<a href="/exercise">' in client.get("/").text  # both ways
        script = client.get("/exercise.js")
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert "innerHTML" not in script.text and "eval(" not in script.text
        assert client.get("/exercise.css").status_code == 200
        answer = client.post("/api/exercise", json={"name": "fanout", "answers": {"de/db": "5"}})
        assert answer.status_code == 200 and answer.json()["score"] == "1 of 5 right"
        assert client.get("/api/exercise").status_code == 405


@pytest.mark.browser
@pytest.mark.dot
def test_a_learner_fills_in_the_fan_out_exercise_in_chromium(browser, live_server):
    from playwright.sync_api import expect

    page = browser.new_page()
    problems = []
    page.on("pageerror", lambda failure: problems.append(str(failure)))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    try:
        page.goto(live_server + "exercise")
        page.select_option("#ready", "fanout")
        page.wait_for_selector('#blanks input[data-key="de/db"]')
        assert "de/db = de/dz1 · 1 + de/dz2 · 1 = ?" in page.text_content("#derivation")
        assert page.get_attribute("#picture", "src").startswith("data:image/svg+xml")
        assert page.get_attribute('#blanks input[data-key="de/db"]', "inputmode") == "text"  # a minus sign
        page.click("#check")  # nothing typed: every blank is marked, none silently
        expect(page.locator("#score")).to_have_text("0 of 5 right")
        assert "de/db: no answer yet." in page.locator("#marks li.wrong").all_text_contents()[-1]
        page.fill('#blanks input[data-key="z1"]', "3")
        page.fill('#blanks input[data-key="de/db"]', "2")
        page.click("#check")
        expect(page.locator("#score")).to_have_text("1 of 5 right")  # (the page's policy forbids eval)
        texts = page.locator("#marks li.wrong").all_text_contents()
        assert any("You counted only the path through z1; b also feeds z2" in text for text in texts)
        assert page.get_attribute('#blanks input[data-key="de/db"]', "aria-invalid") == "true"
        for key, value in {"de/dz1": "2", "de/dz2": "3", "de/da": "2", "de/db": "5"}.items():
            page.fill(f'#blanks input[data-key="{key}"]', value)
        page.click("#check")
        expect(page.locator("#score")).to_have_text("5 of 5 right")
    finally:
        page.close()
    assert problems == []


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ({"formula": "y = x**2", "values": {"x": 1}, "hide": ["q"]}, "hide", "'q' names no node"),
    ({"formula": "y = x**2", "values": {"x": 1}, "hide": ["x"]}, "hide", "'x' is an input"),
    ({"formula": "y = x**2", "values": {"x": 1}, "hide": []}, "hide", "at least one hidden"),
    ({"formula": "y = x**2", "values": {"x": 1}, "hide": {"dy/dx": 1}}, "hide", "must be a list"),
    ({"name": "fanout", "answers": {"dL/dq": 1}}, "answers", "'dL/dq' is not one of this exercise's blanks"),
    ({"name": "seed", "values": {"x": 1}}, "name", "a ready exercise has its own formula and values"),
])
def test_a_bad_key_is_refused_beside_the_field_it_is_about(body, field, fragment):
    status, page = respond("exercise", body)
    assert status == 400 and page["field"] == field and fragment in page["error"], page


def test_a_ready_exercise_takes_its_own_choice_of_blanks_as_on_the_command_line():
    status, page = respond("exercise", {"name": "seed", "hide": ["dL/dW1"], "answers": {"dL/dW1": 20}})
    assert status == 200 and page["blanks"] == ["dL/dW1"] and page["score"] == "1 of 1 right", page

