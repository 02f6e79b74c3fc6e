"""The page's two requests: the engine's numbers at once (``/api/calculate`` with ``"check": false``)
and the SymPy check when it comes (``/api/check``, its own pool of workers); and whose job a
request is (the fairness key) when the session header is missing or made up."""

import contextlib
import threading
import time
import types

import pytest
from starlette.requests import Request

from graphviz_grad import service, web
from graphviz_grad.jobs import FairTurns, TooManyJobs
from graphviz_grad.symbolic import derive

from .slow_jobs import SLOW, HeldJobs, gate
from .test_web_faults import _post_as, in_a_fresh_loop, wait_for_turns
from .web_client import Client, running

CHECKED = ("check", "formulas", "interpretation")
"""The keys of a calculation's answer that come from the SymPy check."""


@pytest.fixture(scope="module")
def client():
    with running(web.create_app(workers=1)) as url:
        yield Client(url)


@pytest.mark.parametrize("body", [
    {"values": {"W1": 0.3}},
    {"formula": "L = relu(x) * y", "values": {"x": 0, "y": 2}},  # a kink: the check changes the interpretation
    {"formula": "L = max(a, b)**2", "values": {"a": 1, "b": 1}, "lr": "0.01"},
    {"formula": "y = log(x)", "values": {"x": -1}},
])
def test_numbers_and_check_together_are_the_whole_calculation(client, body):
    whole = client.post("/api/calculate", json=body).json()
    numbers = client.post("/api/calculate", json={**body, "check": False}).json()
    verdict = client.post("/api/check", json=body).json()
    assert set(numbers) == set(whole)
    assert {key: numbers[key] for key in whole if key not in CHECKED} == {
        key: whole[key] for key in whole if key not in CHECKED}
    assert numbers["check"]["ok"] is None and numbers["check"]["pending"] is True and numbers["formulas"] == []
    assert set(verdict) == {"formula", "output", "inputs", *CHECKED}
    assert {key: verdict[key] for key in CHECKED} == {key: whole[key] for key in CHECKED}
    assert (verdict["formula"], verdict["output"], verdict["inputs"]) == (
        whole["formula"], whole["output"], whole["inputs"])  # the point it belongs to


def test_without_the_switch_a_calculation_has_its_check_as_before(client):
    for body in ({}, {"check": True}, {"check": None}):
        data = client.post("/api/calculate", json=body).json()
        assert data["check"]["ok"] is True and "pending" not in data["check"] and data["formulas"]


def test_the_interpretation_without_the_check_reads_kinks_from_the_engine(client):
    body = {"formula": "L = relu(x) * y", "values": {"x": 0, "y": 2}}
    numbers = client.post("/api/calculate", json={**body, "check": False}).json()
    verdict = client.post("/api/check", json=body).json()
    assert "not differentiable in x here" in numbers["interpretation"][0]  # the engine's convention
    assert "not differentiable in x here: relu at 0" in verdict["interpretation"][0]  # SymPy's finding
    assert verdict["check"]["ok"] is True and verdict["interpretation"] != numbers["interpretation"]


@pytest.mark.parametrize("endpoint, body, status, field, fragment", [
    ("calculate", {"check": "no"}, 400, "check", "check must be true or false, not text"),
    ("calculate", {"check": 0}, 400, "check", "check must be true or false, not a number"),
    ("calculate", {"chek": False}, 400, None, "and check: false for the numbers without the SymPy check"),
    ("check", {"check": False}, 400, None, "unknown key 'check' for check (it takes formula, values, lr)"),
    ("check", {"values": {"W1": "abc"}}, 400, "values.W1", "W1: the value 'abc' is not a number"),
    ("check", {"formula": "L = (x +"}, 400, "formula", "line 1, column"),
    ("check", {"formula": "y = a*b", "values": {"a": 1}}, 400, "values.b", "missing a value for input 'b'"),
    ("check", [1], 400, None, "must be a JSON object, not a list"),
])
def test_bad_requests(client, endpoint, body, status, field, fragment):
    answer = client.post(f"/api/{endpoint}", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["field"] == field and fragment in answer.json()["error"]
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_check_takes_post_only(client):
    assert client.get("/api/check").status_code == 405


def test_a_check_over_its_budget_says_so(monkeypatch):
    monkeypatch.setattr(service, "TIMED", True)  # as in a worker
    monkeypatch.setattr(service, "CHECK_SECONDS", 0.05)
    import graphviz_grad.symbolic as symbolic

    def slow_check(*args, **kwargs):
        time.sleep(5)
        raise AssertionError("the time budget did not stop the check")

    monkeypatch.setattr(symbolic, "check", slow_check)
    status, data = service.respond("check", {"formula": "L = sqrt(1 + x)", "values": {"x": 0.7}})
    assert status == 200 and data["inputs"] == {"x": 0.7}
    assert data["check"] == {"ok": None, "summary": "not done: SymPy took longer than 0.05 s",
                             "text": "SymPy check not done: SymPy took longer than 0.05 s."}
    assert data["formulas"] == []


def test_the_derivation_is_reused_across_input_changes():
    formula = "L = tanh(u*v + w) * sin(u)"  # a structure no other test derives
    service.respond("check", {"formula": formula, "values": {"u": 0.5, "v": 1, "w": 2}})
    before = derive.derived.cache_info()
    for u in (0.1, 0.2, 0.3):
        status, data = service.respond("check", {"formula": formula, "values": {"u": u, "v": 1, "w": 2}})
        assert status == 200 and data["check"]["ok"] is True and data["inputs"]["u"] == u
    after = derive.derived.cache_info()
    assert after.misses == before.misses and after.hits >= before.hits + 3


def test_a_slow_check_never_holds_up_the_numbers(tmp_path):
    """The checks run in a pool of their own: with every check worker busy on a held check (and
    another waiting), a calculation without the check answers at once."""
    job = HeldJobs(str(tmp_path), endpoints=("check",))
    with running(web.create_app(workers=1, timeout=20.0, job=job)) as url:
        client, answers = Client(url), {}

        def held_check(number):
            answers[number] = _post_as(url, f"page{number:012d}", {"formula": SLOW, "values": {"x": number}},
                                       endpoint="check")

        threads = [threading.Thread(target=held_check, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        wait_for_turns(client, running=1, waiting=1, pool="check")
        numbers = _post_as(url, "page" + "9" * 12, {"formula": SLOW, "values": {"x": 3}, "check": False})
        assert numbers.status_code == 200 and numbers.json()["loss"] == 2.0
        assert numbers.json()["check"]["pending"] is True
        assert not answers  # the checks are still held
        for number in range(2):
            gate(tmp_path, number).touch()
        for thread in threads:
            thread.join(60)
        assert [answers[n].json()["check"]["ok"] for n in range(2)] == [True, True]
        assert answers[1].json()["inputs"] == {"x": 1.0}
        assert set(client.get("/api/health").json()["pools"]) == {"calculate", "check", "render"}


# --- whose job it is: the fairness key ----------------------------------------------------------

def request_from(host, port, session=None):
    headers = [(b"x-graphviz-grad-session", session.encode())] if session is not None else []
    return Request({"type": "http", "method": "POST", "path": "/api/calculate", "headers": headers,
                    "client": (host, port)})


def test_the_key_names_the_address_and_the_session_or_else_the_connection():
    assert web._client_key(request_from("10.0.0.7", 5000, "abcdef012345")) == (
        "10.0.0.7 session abcdef012345", "10.0.0.7")
    # the same session name from another address is another client
    assert web._client_key(request_from("10.0.0.8", 5000, "abcdef012345"))[0] != web._client_key(
        request_from("10.0.0.7", 5000, "abcdef012345"))[0]
    for bad in (None, "", "short", "x" * 65, "bad session!", "ümlautümlaut"):  # missing or malformed
        assert web._client_key(request_from("10.0.0.7", 5000, bad)) == ("10.0.0.7 connection 5000", "10.0.0.7")


def test_made_up_sessions_share_their_address_cap_and_turns():
    async def scenario():
        turns = FairTurns(workers=1, per_client=4, per_address=3)
        order = []

        async def job(address, key):
            await turns.acquire(f"{address} {key}", address)
            order.append(key)
            await turns_free.wait()
            turns.release(f"{address} {key}", 1.0)

        turns_free = asyncio.Event()
        # one address names itself anew with every request
        forged = [asyncio.ensure_future(job("10.0.0.66", f"forged{n}")) for n in range(3)]
        await asyncio.sleep(0)
        with pytest.raises(TooManyJobs, match="this address has 3 jobs"):
            await turns.acquire("10.0.0.66 forged9", "10.0.0.66")
        page = asyncio.ensure_future(job("10.0.0.5", "page"))
        await asyncio.sleep(0)
        turns_free.set()
        await asyncio.gather(*forged, page)
        return order, turns.state()

    import asyncio

    order, state = in_a_fresh_loop(scenario)
    # the forger's first job ran; then the page, whose address had used less, before its others
    assert order == ["forged0", "page", "forged1", "forged2"]
    assert state["running"] == state["waiting"] == 0


def test_an_address_over_its_cap_gets_429_whatever_sessions_it_names(tmp_path):
    with running(web.create_app(workers=1, per_client=4, per_address=2, timeout=20.0,
                                job=HeldJobs(str(tmp_path)))) as url:
        client, answers = Client(url), {}

        def slow(number):  # each from a session of its own
            answers[number] = _post_as(url, f"forged{number:010d}", {"formula": SLOW, "values": {"x": number}})

        threads = [threading.Thread(target=slow, args=(n,)) for n in range(2)]
        for number, thread in enumerate(threads):
            thread.start()
            wait_for_turns(client, running=1, waiting=number)
        refused = _post_as(url, "another-made-up-one", {"values": {"W1": 0.3}})
        assert refused.status_code == 429 and refused.headers["retry-after"].isdigit()
        assert "this address has 2 jobs waiting or running already" in refused.json()["error"]
        no_header = client.post("/api/calculate", json={"values": {"W1": 0.3}})
        assert no_header.status_code == 429
        for number in range(2):
            gate(tmp_path, number).touch()
        for thread in threads:
            thread.join(60)
        assert [answers[n].status_code for n in range(2)] == [200, 200]
        assert client.post("/api/calculate", json={"values": {"W1": 0.3}}).json()["loss"] == 9.0


# --- the page, in headless Chromium (the check's requests held, failed or answered for other inputs) ---

@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda failure: problems.append(str(failure)))
    page.goto(live_server)
    page.wait_for_selector("#app[data-state=ready]")
    page.wait_for_selector("#check[data-state=agree]")
    yield page
    context.close()
    assert problems == []


def expect(locator):
    from playwright.sync_api import expect

    return expect(locator)


def held_checks(page):
    """Hold every ``/api/check`` request of the page until the test lets it go; the list of them."""
    held = []
    page.route("**/api/check", lambda route: held.append(route))
    return held


def type_value(page, name, text):
    page.locator(f'#fields input[data-name="{name}"]').fill(text)


@pytest.mark.browser
def test_the_numbers_come_first_and_the_check_follows(page):
    held = held_checks(page)
    type_value(page, "W1", "0.3")
    expect(page.locator("#loss")).to_have_text("L = 9")  # while the check is held
    expect(page.locator("#check")).to_have_attribute("data-state", "pending")
    expect(page.locator("#check")).to_have_text("⋯ SymPy is checking")
    assert "dL/dW1 = 30" in page.inner_text("#gradient-list")
    assert len(held) == 1
    held[0].continue_()
    expect(page.locator("#check")).to_have_attribute("data-state", "agree")
    expect(page.locator("#formulas")).to_contain_text("dL/dW1 = 2·x·(-B + W1·x + W2·y)")
    expect(page.locator("#loss")).to_have_text("L = 9")


@pytest.mark.browser
def test_a_verdict_for_older_inputs_is_never_shown(page, live_server):
    page.locator("#formula").fill("L = relu(x) * y")
    expect(page.locator('#fields input[data-name="x"]')).to_be_visible()
    type_value(page, "y", "1")
    type_value(page, "x", "1")
    expect(page.locator("#loss")).to_have_text("L = 1")
    expect(page.locator("#check")).to_have_attribute("data-state", "agree")
    held = held_checks(page)
    type_value(page, "x", "0")  # relu's kink: the check would say "not every derivative is an ordinary number"
    expect(page.locator("#loss")).to_have_text("L = 0")
    expect(page.locator("#check")).to_have_attribute("data-state", "pending")
    type_value(page, "x", "2")
    expect(page.locator("#loss")).to_have_text("L = 2")
    assert len(held) == 2
    # the answer to x = 2's request is the check at x = 0 (as a late, reordered answer would be)
    stale = Client(live_server).post("/api/check", json={"formula": "L = relu(x) * y",
                                                         "values": {"x": 0, "y": 1}}).json()
    assert "not every derivative is an ordinary number" in stale["check"]["text"]
    held[1].fulfill(status=200, json=stale)
    with pytest.raises(AssertionError):  # it is dropped: the check waits on
        expect(page.locator("#check")).not_to_have_attribute("data-state", "pending", timeout=1500)
    with contextlib.suppress(Exception):  # the first request was aborted by the page already
        held[0].continue_()
    assert "ordinary number" not in page.inner_text("#check")
    page.unroute("**/api/check")
    type_value(page, "x", "3")
    expect(page.locator("#check")).to_have_attribute("data-state", "agree")
    expect(page.locator("#loss")).to_have_text("L = 3")


@pytest.mark.browser
def test_a_failed_check_says_so_and_keeps_the_numbers(page):
    def refuse(route):
        route.fulfill(status=503, json={"error": "the check job took longer than 20 s and was stopped: "
                                                  "try a smaller formula", "field": None})

    page.route("**/api/check", refuse)
    type_value(page, "B", "-7")
    expect(page.locator("#loss")).to_have_text("L = 90.25")
    expect(page.locator("#check")).to_have_attribute("data-state", "failed")
    expect(page.locator("#check")).to_contain_text("SymPy check failed: the check job took longer than 20 s")
    assert "dL/dW1 = 95" in page.inner_text("#gradient-list")
    assert page.inner_text("#request-error") == "" and page.inner_text("#stale") == ""


def test_clients_that_never_come_back_are_forgotten(monkeypatch):
    from graphviz_grad import jobs

    clock = [1000.0]
    monkeypatch.setattr(jobs, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))  # this module's clock only

    async def scenario():
        turns = FairTurns(workers=1, per_client=4, per_address=8)
        for n in range(100):  # a made-up session per request, each using a second of worker time
            await turns.acquire(f"10.0.0.66 forged{n}", "10.0.0.66")
            turns.release(f"10.0.0.66 forged{n}", 1.0)
        remembered = turns.state()
        clock[0] += 10 * jobs.HALF_LIFE  # their used time has faded below 10 ms
        await turns.acquire("10.0.0.5 page", "10.0.0.5")
        turns.release("10.0.0.5 page", 1.0)
        return remembered, turns.state()

    remembered, later = in_a_fresh_loop(scenario)
    assert remembered["clients"] == 100 and remembered["addresses"] == 1
    assert later["clients"] == 1 and later["addresses"] == 1  # only the page is left


@pytest.mark.browser
def test_a_check_aborted_by_a_bad_input_is_not_left_checking(page):
    held = held_checks(page)
    type_value(page, "W1", "0.3")
    expect(page.locator("#check")).to_have_attribute("data-state", "pending")
    type_value(page, "W1", "0.3x")  # refused: the numbers of 0.3 stay, marked, and so does their check
    expect(page.locator("#stale")).to_contain_text("W1: the value '0.3x' is not a number")
    expect(page.locator("#check")).to_have_attribute("data-state", "skipped")
    expect(page.locator("#check")).to_contain_text("the inputs changed before it came")
    expect(page.locator("#loss")).to_have_text("L = 9")
    assert len(held) == 2
