"""``graphviz-grad serve`` under faults: jobs over their memory bound, worker pools whose fork
server or workers are killed, one client hogging the workers, and clients that misbehave at the
HTTP level (malformed heads, huge headers, slow or idle connections, disconnects)."""

import asyncio
import contextlib
import http.client
import json
import logging
import os
import signal
import socket
import threading
import time

import psutil
import pytest

from graphviz_grad import service, web
from graphviz_grad.connections import GuardedH11
from graphviz_grad.jobs import FairTurns, TooManyJobs

from .slow_jobs import SLOW, HeldJobs, gate, started
from .web_client import Answer, Client, running

HOSTILE = {"formula": "L = a**a**a**a", "values": {"a": 10}}  # SymPy's exact value has 10**10**10 digits


@pytest.fixture(scope="module")
def server():
    with running(web.create_app(workers=2, timeout=20.0), head_seconds=1.0) as url:
        yield url


def raw(url, data, read=True, timeout=10.0):
    """Send bytes on a new connection; the answer's bytes (until the server closes)."""
    host, port = url.split("//")[1].strip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while read:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def parse(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(body)


# --- memory -------------------------------------------------------------------------------------

def test_a_formula_whose_check_needs_too_much_memory_is_answered_without_the_check(server):
    """a**a**a**a at a = 10 grew a worker to 8.8 GB; under the bound SymPy fails at once and
    the engine's results come back, with the check marked as skipped."""
    client = Client(server)
    answer = client.post("/api/calculate", json=HOSTILE)
    assert answer.status_code in (200, 422), answer.text
    if answer.status_code == 200:
        assert answer.json()["loss"] == "inf"
    assert client.post("/api/calculate", json={}).json()["loss"] == 4.0  # the worker goes on


def test_memory_error_in_a_job_is_a_422_that_names_the_bound(monkeypatch):
    def greedy(request):
        raise MemoryError

    monkeypatch.setitem(service.ENDPOINTS, "calculate", greedy)
    status, data = service.respond("calculate", {})
    assert status == 422 and data["field"] == "formula"
    assert data["error"].startswith("the calculate job needed ") and "try a smaller formula" in data["error"]


def test_workers_run_under_the_memory_bound(server):
    health = Client(server).get("/api/health").json()
    for pool in health["pools"].values():
        for pid in pool["pids"]:
            soft = psutil.Process(pid).rlimit(psutil.RLIMIT_AS)[0]
            assert soft == pool["memory"] == web.JOB_MEMORY


# --- pools that heal ----------------------------------------------------------------------------

def wait_healthy(client, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = client.get("/api/health")
        if answer.status_code == 200:
            return answer.json()
        time.sleep(0.1)
    raise AssertionError(f"not healthy after {seconds} s: {answer.text}")


def load(client, stop, answers):
    while not stop.is_set():
        answers.append(client.post("/api/calculate", json={"values": {"W1": 0.3}}))


@pytest.mark.parametrize("victim", ["forkserver", "worker"])
def test_a_killed_fork_server_or_worker_is_replaced_under_load(victim):
    with running(web.create_app(workers=2)) as url:
        client = Client(url)
        before = wait_healthy(client)
        stop, answers = threading.Event(), []
        threads = [threading.Thread(target=load, args=(client, stop, answers)) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        pid = before["pools"]["calculate"]["pids"][0]
        if victim == "forkserver":
            pid = psutil.Process(pid).ppid()  # the workers' parent
            assert pid != os.getpid()
        os.kill(pid, signal.SIGKILL)
        time.sleep(1.0)
        after = wait_healthy(client)
        stop.set()
        for thread in threads:
            thread.join(60)
        # every request during the fault was answered, and right (a lost job runs again)
        assert answers and all(a.status_code == 200 and a.json()["loss"] == 9.0 for a in answers), \
            {a.status_code: a.text[:200] for a in answers}
        assert pid not in after["pools"]["calculate"]["pids"]
        assert client.post("/api/calculate", json={"values": {"W1": 0.3}}).json()["loss"] == 9.0
        assert client.post("/api/graph", json={}).status_code == 200


def in_a_fresh_loop(scenario):
    """``asyncio.run(scenario())`` in a thread of its own: an earlier test (playwright) may leave an
    event loop running in this one. Returns its result or raises its exception."""
    outcome = {}

    def run():
        try:
            outcome["result"] = asyncio.run(scenario())
        except BaseException as failure:  # handed to the test's thread
            outcome["failure"] = failure

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the scenario did not end within 120 s"
    if "failure" in outcome:
        raise outcome["failure"]
    return outcome["result"]


# --- fair turns ---------------------------------------------------------------------------------

def test_one_client_cannot_take_every_turn():
    async def scenario():
        turns = FairTurns(workers=2, per_client=3)
        order = []

        async def job(key, number):
            await turns.acquire(key)
            order.append((key, number))
            await asyncio.sleep(0.01)
            turns.release(key, 5.0 if key == "hog" else 0.01)

        hog = [asyncio.ensure_future(job("hog", n)) for n in range(3)]
        await asyncio.sleep(0)
        with pytest.raises(TooManyJobs):
            await turns.acquire("hog")
        other = asyncio.ensure_future(job("page", 0))
        await asyncio.gather(*hog, other)
        return order

    order = in_a_fresh_loop(scenario)
    # alone, the hog had both workers; once the page waits, the next free worker is the page's
    assert order == [("hog", 0), ("hog", 1), ("page", 0), ("hog", 2)]


def test_a_turn_given_up_just_before_a_worker_frees_is_not_lost():
    """A waiting request cancelled (its client left) in the same loop step as a running job
    ends: Task.cancel marks the waiter's turn cancelled at once, but the waiter leaves the queue
    only at its next step, so the release handed the worker to the dead turn
    (``InvalidStateError`` in the release callback) and counted it running for ever: two such
    moments and the server answered every job 503 "busy" (found by clients that hang up
    mid-request; `serve` logged "Exception in callback ... _job.<locals>.<lambda>")."""
    async def scenario():
        turns = FairTurns(workers=1, per_client=4, per_address=8)
        await turns.acquire("a", "here")  # the one worker is busy
        waiter = asyncio.ensure_future(turns.acquire("b", "here"))
        await asyncio.sleep(0)
        waiter.cancel()  # the client left ...
        turns.release("a", 0.01)  # ... and the job ended, before the waiter ran again
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
        after = turns.state()
        third = asyncio.ensure_future(turns.acquire("c", "here"))
        await asyncio.wait_for(asyncio.shield(third), 1.0)  # the worker is free for the next one
        return after

    assert in_a_fresh_loop(scenario)["running"] == 0


def test_a_client_over_its_share_gets_429_and_others_go_first(tmp_path):
    """A page with two slow jobs running and a third waiting: a fourth is refused (429), and
    another page's calculation goes before the third slow one. The slow jobs are held until the
    test lets them go (tests/slow_jobs.py), so the order of events is all that is checked."""
    with running(web.create_app(workers=2, per_client=3, timeout=20.0, job=HeldJobs(str(tmp_path)))) as url:
        client, hog, answers = Client(url), "a" * 16, {}

        def slow(number):
            answers[number] = _post_as(url, hog, {"formula": SLOW, "values": {"x": number}})

        threads = [threading.Thread(target=slow, args=(n,)) for n in range(3)]
        for number, thread in enumerate(threads):
            thread.start()
            wait_for_turns(client, running=min(number + 1, 2), waiting=max(0, number - 1))
        refused = _post_as(url, hog, {"formula": SLOW, "values": {"x": 9}})
        assert refused.status_code == 429 and refused.headers["retry-after"].isdigit()
        assert "too many calculate jobs" in refused.json()["error"]
        page = {}
        other = threading.Thread(target=lambda: page.update(answer=_post_as(url, "b" * 16, {"values": {"W1": 0.3}})))
        other.start()
        wait_for_turns(client, running=2, waiting=2)  # the hog's third job came first
        gate(tmp_path, 0).touch()  # the hog's first job ends: one worker is free
        other.join(60)
        assert page["answer"].status_code == 200 and page["answer"].json()["loss"] == 9.0
        for number in (1, 2):
            gate(tmp_path, number).touch()
        for thread in threads:
            thread.join(60)
        assert [answers[n].status_code for n in range(3)] == [200, 200, 200]
        assert started(tmp_path) == ["slow 0", "slow 1", "other", "slow 2"]  # the page went first


def wait_for_turns(client, *, running, waiting, seconds=60.0, pool="calculate"):
    """Wait until the ``pool`` (calculate) has ``running`` jobs running and ``waiting`` waiting."""
    deadline = time.monotonic() + seconds
    name = pool
    while True:
        pool = client.get("/api/health").json()["pools"][name]
        if (pool["running"], pool["waiting"]) == (running, waiting):
            return
        assert time.monotonic() < deadline, f"not {running} running and {waiting} waiting: {pool}"
        time.sleep(0.05)


def _post_as(url, session, body, endpoint="calculate"):
    """A calculation (or another ``endpoint``) from the page whose session is ``session``."""
    host, port = Client(url).address
    connection = http.client.HTTPConnection(host, port, timeout=60)
    connection.request("POST", f"/api/{endpoint}", body=json.dumps(body).encode(), headers={
        "Content-Type": "application/json", "X-Graphviz-Grad-Session": session})
    response = connection.getresponse()
    answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    connection.close()
    return answer


# --- HTTP-level faults --------------------------------------------------------------------------

@pytest.mark.parametrize("head, fragment", [
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "multiple Host"),
    (b"POST /api/calculate HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n", "not valid HTTP/1.1"),
])
def test_malformed_http_gets_a_json_400_with_the_security_headers(server, head, fragment):
    status, headers, body = parse(raw(server, head))
    assert status == 400 and fragment in body["error"] and body["field"] is None
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff" and "default-src 'none'" in headers[
        "content-security-policy"]


@pytest.mark.parametrize("whole", [True, False])
def test_a_huge_header_is_refused_with_431(server, whole):
    big = b"X-Big: " + b"a" * 100_000 + b"\r\n"
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + big + b"\r\n"
    if whole:  # arrives in one piece
        status, headers, body = parse(raw(server, head))
    else:  # an unfinished head that keeps growing
        status, headers, body = parse(raw(server, head[:60_000]))
    assert status == 431 and "over the limit of 16,384" in body["error"]
    assert headers["x-content-type-options"] == "nosniff"


def test_a_json_null_body_is_refused_like_a_list(server):
    client = Client(server)
    for body, kind in ((b"null", "null"), (b"[]", "a list")):
        answer = client.post("/api/calculate", content=body)
        assert answer.status_code == 400 and answer.json()["error"] == f"the request must be a JSON object, not {kind}"
    assert client.post("/api/calculate", content=b"").json()["loss"] == 4.0  # an empty body is {}


def test_an_idle_connection_is_closed_and_a_half_sent_head_gets_408(server):
    started = time.monotonic()
    assert raw(server, b"") == b""  # closed by the server after the head timeout (1 s here)
    assert time.monotonic() - started < 10
    status, _, body = parse(raw(server, b"GET / HTTP/1.1\r\nHost: 127"))
    assert status == 408 and "did not arrive within 1 s" in body["error"]


def test_a_slow_body_gets_408():
    with running(web.create_app(workers=1, body_seconds=0.5)) as url:
        head = (b"POST /api/calculate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 10\r\n\r\n{")
        status, _, body = parse(raw(url, head))
        assert status == 408 and body["error"] == "the request body did not arrive within 0.5 s"


def test_a_disconnect_in_the_middle_of_the_body_is_one_log_line(server, caplog):
    caplog.set_level(logging.WARNING)
    head = (b"POST /api/calculate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{\"values\"")
    raw(server, head, read=False)
    deadline = time.monotonic() + 10
    while not any("closed the connection" in r.getMessage() for r in caplog.records) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [r for r in caplog.records if "closed the connection" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None and "\n" not in lines[0].getMessage()
    assert not any("Exception in ASGI application" in r.getMessage() for r in caplog.records)


def test_idle_connections_over_the_cap_make_room_for_a_normal_client():
    with running(web.create_app(workers=1), connections=20, head_seconds=60.0) as url:
        host, port = url.split("//")[1].strip("/").split(":")
        idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(40)]
        try:
            answer = Client(url, timeout=5).get("/api/seed")
            assert answer.status_code == 200
            open_now = sum(1 for sock in idle if _still_open(sock))
            assert open_now <= 20
        finally:
            for sock in idle:
                sock.close()


def _still_open(sock):
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def test_the_guarded_protocol_is_what_the_server_runs():
    config = web.server_config(web.create_app())
    config.load()
    assert issubclass(config.http_protocol_class, GuardedH11)


def test_notes_of_different_kinds_are_each_logged_once(caplog, monkeypatch):
    # each kind has its own once-per-10-s budget; one kind's note must not silence another's, and
    # the count of the ones left out is said once
    from graphviz_grad import connections

    monkeypatch.setattr(connections, "_last", {})
    connections.quiet_logs()
    caplog.set_level(logging.WARNING)
    for kind in ("disconnect", "connections", "disconnect", "malformed"):
        connections.note(kind, f"a note of the kind {kind}")
    assert [r.getMessage() for r in caplog.records] == [
        "a note of the kind disconnect", "a note of the kind connections", "a note of the kind malformed"]
    connections._last["disconnect"] = (time.monotonic() - 60, 1)
    connections.note("disconnect", "again")
    assert caplog.records[-1].getMessage() == "again (1 more since the last note)"


def test_a_malformed_request_is_one_log_line(server, caplog, monkeypatch):
    from graphviz_grad import connections

    monkeypatch.setattr(connections, "_last", {})
    caplog.set_level(logging.WARNING)
    status, _, _ = parse(raw(server, b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n"))
    assert status == 400
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "Bad Header" in lines[0], lines


def test_an_incompatible_uvicorn_is_a_clear_error_not_a_silent_loss_of_limits(monkeypatch, capsys):
    # GuardedH11 builds on uvicorn's internals: a uvicorn whose h11 protocol no longer sends its
    # 400s through send_400_response would lose the JSON answers (and a renamed `conn`, the bounds)
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from graphviz_grad import connections
    from graphviz_grad.cli import main

    def handle_events(self):
        self.conn.next_event()
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    monkeypatch.setattr(H11Protocol, "handle_events", handle_events)
    with pytest.raises(connections.UnsupportedUvicorn, match=r"handle_events \(send_400_response\)"):
        web.server_config(web.create_app(workers=1))
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "is not supported by graphviz-grad serve" in err and "Traceback" not in err and err.count("\n") == 1


def test_a_pipelined_request_that_is_running_is_not_closed_as_idle():
    # the second of two pipelined requests starts as the first is answered: its connection is busy,
    # not waiting for a head, so new connections over the cap must not close it (the slow job is
    # held until its worker is killed: tests/slow_jobs.py)
    with running(web.create_app(workers=1, timeout=2.5, job=HeldJobs()), connections=8, head_seconds=60.0) as url:
        host, port = url.split("//")[1].strip("/").split(":")
        slow = json.dumps({"formula": SLOW, "values": {"x": 0.7}}).encode()
        pipelined = (b"GET /api/seed HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                     b"POST /api/calculate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Connection: close\r\nContent-Length: " + str(len(slow)).encode() + b"\r\n\r\n" + slow)
        busy = socket.create_connection((host, int(port)), timeout=30)
        busy.sendall(pipelined)
        client = Client(url)
        deadline = time.monotonic() + 60
        while client.get("/api/health").json()["pools"]["calculate"]["running"] != 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(12)]
        try:
            answers = b""
            while chunk := busy.recv(65536):
                answers += chunk
            assert answers.count(b"HTTP/1.1 ") == 2 and b"took longer than 2.5 s" in answers
        finally:
            busy.close()
            for sock in idle:
                sock.close()


def test_a_job_on_a_pool_that_is_replaced_runs_again_on_the_new_one():
    # a killed fork server under load: the watchdog replaces the pool while a job runs on it; the
    # old pool, stopped, may never settle that job's future (seen: a 20 s "took longer" answer)
    from graphviz_grad.jobs import Workers

    async def scenario():
        workers = Workers("test", 1, memory=None)
        await workers.start()
        try:
            job = asyncio.ensure_future(workers.run(time.sleep, (1.0,), timeout=30))
            await asyncio.sleep(0.3)
            await workers.rebuild()
            return await asyncio.wait_for(job, 30), workers.rebuilds
        finally:
            await workers.stop()

    assert in_a_fresh_loop(scenario) == (None, 1)


def test_both_pools_breaking_are_both_logged(caplog, monkeypatch):
    # the two pools' lines share a format ("the %s pool broke ..."): one must not hide the other
    from graphviz_grad import connections, jobs

    monkeypatch.setattr(connections, "_last", {})
    connections.quiet_logs()
    caplog.set_level(logging.WARNING)
    for name in ("calculate", "render", "render"):
        jobs.log.warning("the %s pool broke: starting a new one", name)
    assert [r.getMessage() for r in caplog.records] == [
        "the calculate pool broke: starting a new one", "the render pool broke: starting a new one"]
