"""Soak and fault benchmark of ``graphviz-grad serve`` and ``demo -o DIR`` (127.0.0.1 only).

Four parts, each bounded in count and time (``--only`` picks some):

* ``soak``: ``--clients`` pages (default 50, each its own session) change the seed's inputs for
  ``--seconds`` (default 60), pausing ``--pause`` seconds on average (default 2, uniform from
  half to one and a half times that) between an answer and their next request, as a person
  does; ``--pause 0`` asks as fast as the answers come. One request in ten is a hostile
  formula (``L = a**a**a**a`` at a = 10, whose exact value SymPy cannot hold), one in ten of the
  rest asks for the pictures. Counted: wrong answers, 5xx answers to valid requests, the seed
  calculation's median and 95th percentile, and the peak RSS of the server and its workers.
* ``kill``: under load from 10 pages, the pools' fork server is killed, then a worker: the
  seconds until ``/api/health`` is 200 again, and the valid requests that failed meanwhile.
* ``descriptors``: the server runs with a 1,024 file-descriptor limit while 1,100 idle
  connections are held open, then also reopened as fast as the server closes them: a normal
  client's answer time (five tries each: alone, beside the held ones, beside the reopened
  ones), how many idle ones are still open after the head timeout, and the server's log lines.
* ``folder``: ``demo -o DIR`` over a folder holding an old set, killed with SIGKILL at 40
  random instants of its write phase: how many folders held exactly the old set or exactly the
  new one, and whether the next run left anything beside or in the folder.

Run from the repository root::

    python benchmarks/bench_faults.py
    python benchmarks/bench_faults.py --only soak --clients 20 --seconds 10
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import pickle
import random
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import psutil

HOSTILE = {"formula": "L = a**a**a**a", "values": {"a": 10}}


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.contextmanager
def server(descriptors: int | None = None) -> Iterator[tuple[tuple[str, int], subprocess.Popen, str]]:
    """A real server on 127.0.0.1 (optionally at a file-descriptor limit); its address, its
    process and the file its log goes to."""
    handle, log = tempfile.mkstemp(suffix=".log")

    def limit() -> None:
        if descriptors:
            resource.setrlimit(resource.RLIMIT_NOFILE, (descriptors, descriptors))

    process = subprocess.Popen([sys.executable, "-m", "graphviz_grad", "serve", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=handle, text=True, preexec_fn=limit)
    os.close(handle)
    try:
        found = re.search(r"http://[^ ]+/", process.stdout.readline())
        if not found:
            raise SystemExit("the server did not start")
        parts = urlsplit(found.group(0))
        yield (parts.hostname, parts.port), process, log
    finally:
        process.terminate()
        process.wait(30)
        os.unlink(log)


def _post(connection: http.client.HTTPConnection, path: str, body: dict, session: str) -> tuple[int, bytes]:
    connection.request("POST", path, body=json.dumps(body), headers={
        "Content-Type": "application/json", "X-Graphviz-Grad-Session": session})
    response = connection.getresponse()
    return response.status, response.read()


def _seed_loss(values: dict[str, float]) -> float:
    return (values["x"] * values["W1"] + values["y"] * values["W2"] - values["B"]) ** 2


class Load:
    """Pages typing into the seed (with hostile formulas mixed in) until stopped."""

    def __init__(self, address: tuple[str, int], clients: int, hostile: float, pause: float = 0.0):
        self.address, self.clients, self.hostile, self.pause = address, clients, hostile, pause
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.wrong: list[str] = []
        self.server_errors: list[str] = []
        self.counts = {"calculate": 0, "graph": 0, "hostile": 0, "hostile 4xx": 0, "hostile 5xx": 0}
        self.threads = [threading.Thread(target=self.page, args=(n,)) for n in range(clients)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(120)

    def page(self, number: int) -> None:
        rng = random.Random(number)
        session = f"bench{number:04d}page"
        connection = http.client.HTTPConnection(*self.address, timeout=120)
        done = 0
        while not self.stop.is_set():
            values = {"x": 5.0, "y": 10.0, "W1": round(rng.uniform(-1, 1), 3), "W2": 0.2,
                      "B": round(rng.uniform(-5, 5), 2)}
            hostile = rng.random() < self.hostile
            kind = "hostile" if hostile else "graph" if done % 10 == 9 else "calculate"
            body = HOSTILE if hostile else {"values": values}
            start = time.perf_counter()
            try:
                status, answer = _post(connection, "/api/graph" if kind == "graph" else "/api/calculate",
                                       body, session)
            except OSError as failure:
                with self.lock:
                    self.server_errors.append(f"{kind}: {failure}")
                connection.close()
                connection = http.client.HTTPConnection(*self.address, timeout=120)
                continue
            spent = time.perf_counter() - start
            with self.lock:
                self.counts[kind] += 1
                if hostile:
                    self.counts["hostile 4xx"] += 400 <= status < 500
                    self.counts["hostile 5xx"] += status >= 500
                elif status >= 500:
                    self.server_errors.append(f"{kind}: {status} {answer[:160]!r}")
                else:
                    data = json.loads(answer)
                    right = status == 200 and (len(data["frames"]) == 17 if kind == "graph"
                                               else data["loss"] == _seed_loss(values))
                    if not right:
                        self.wrong.append(f"{kind}: {status} {answer[:160]!r}")
                    if kind == "calculate":
                        self.latencies.append(spent)
            done += 1
            self.stop.wait(self.pause * rng.uniform(0.5, 1.5))
        connection.close()


def _tree_rss(pid: int) -> int:
    """Bytes resident in a process and all its descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total


def bench_soak(clients: int, seconds: float, pause: float) -> list[str]:
    with server() as (address, process, _):
        peak = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _tree_rss(process.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.perf_counter()
        with Load(address, clients, hostile=0.1, pause=pause) as load:
            time.sleep(seconds)
        elapsed = time.perf_counter() - started
        stop.set()
        sampler.join()
    counts, latencies = load.counts, load.latencies
    return [f"soak, {clients} pages for {seconds:g} s, pausing {pause:g} s on average between an answer and "
            "the next request, one request in ten hostile (L = a**a**a**a at a = 10):",
            f"  answers: {sum(counts[k] for k in ('calculate', 'graph', 'hostile'))} in {elapsed:.0f} s "
            f"({counts['calculate']} calculations, {counts['graph']} graphs, {counts['hostile']} hostile: "
            f"{counts['hostile 4xx']} of them 4xx, {counts['hostile 5xx']} 5xx)",
            f"  wrong answers: {len(load.wrong)}" + (f" (first: {load.wrong[0]})" if load.wrong else ""),
            f"  5xx or failures for valid requests: {len(load.server_errors)}"
            + (f" (first: {load.server_errors[0]})" if load.server_errors else ""),
            f"  seed calculation: median {statistics.median(latencies) * 1e3:.0f} ms, "
            f"p95 {_quantile(latencies, 0.95) * 1e3:.0f} ms",
            f"  peak RSS of the server and its workers: {peak[0] / 2**20:.0f} MB"]


def _healthy(address: tuple[str, int]) -> bool:
    try:
        connection = http.client.HTTPConnection(*address, timeout=5)
        connection.request("GET", "/api/health")
        status = connection.getresponse().status
        connection.close()
    except OSError:
        return False
    return status == 200


def bench_kill() -> list[str]:
    lines = ["kill, under load from 10 pages:"]
    with server() as (address, process, _), Load(address, 10, hostile=0.0) as load:
        for victim in ("fork server", "worker"):
            time.sleep(2.0)
            failed_before = len(load.server_errors) + len(load.wrong)
            workers = [child for child in psutil.Process(process.pid).children(recursive=True)
                       if child.ppid() != process.pid]
            target = workers[0].ppid() if victim == "fork server" else workers[0].pid
            killed = time.monotonic()
            os.kill(target, signal.SIGKILL)
            time.sleep(0.6)  # the watchdog looks twice a second
            while not _healthy(address) and time.monotonic() - killed < 60:
                time.sleep(0.05)
            back = time.monotonic() - killed
            time.sleep(1.0)
            failed = len(load.server_errors) + len(load.wrong) - failed_before
            lines.append(f"  {victim} killed: healthy again after {back:.1f} s; "
                         f"valid requests that failed: {failed}")
    return lines


def bench_descriptors() -> list[str]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    with server(descriptors=1024) as (address, _, log):
        logged_before = _lines(log)
        idle: list[socket.socket] = []
        stop, reopen = threading.Event(), threading.Event()

        def flood() -> None:  # 1,100 idle connections; later, reopen the ones the server closes
            while not stop.is_set():
                idle[:] = [sock for sock in idle if _open(sock) or sock.close()]
                while len(idle) < 1100 and not stop.is_set():
                    with contextlib.suppress(OSError):
                        idle.append(socket.create_connection(address, timeout=5))
                while not reopen.is_set() and not stop.is_set():
                    reopen.wait(0.1)
                stop.wait(0.5)

        def normal_client() -> list[tuple[float, bool]]:
            answers = []
            for _ in range(5):
                start = time.perf_counter()
                try:
                    connection = http.client.HTTPConnection(*address, timeout=10)
                    status, body = _post(connection, "/api/calculate", {"values": {"W1": 0.3}},
                                         "normalpage01")
                    connection.close()
                    ok = status == 200 and json.loads(body)["loss"] == 9.0
                except OSError:
                    ok = False
                answers.append((time.perf_counter() - start, ok))
                time.sleep(1.0)
            return answers

        alone = normal_client()
        flooder = threading.Thread(target=flood)
        flooder.start()
        time.sleep(5.0)
        held = normal_client()
        reopen.set()
        time.sleep(2.0)
        churned = normal_client()
        stop.set()
        flooder.join()
        time.sleep(12.0)  # past the head timeout (10 s)
        still_open = sum(1 for sock in idle if _open(sock))
        for sock in idle:
            sock.close()
        logged = _lines(log) - logged_before
        with open(log, encoding="utf-8", errors="replace") as file:
            lines = file.read().splitlines()[-logged:] if logged else []
        kinds = sorted({line[:60] for line in lines})
    def summary(answers: list[tuple[float, bool]]) -> str:
        times = [spent for spent, _ in answers]
        return (f"{sum(ok for _, ok in answers)}/5 answered right, median {statistics.median(times):.2f} s, "
                f"worst {max(times):.2f} s")

    return ["descriptors, the server at a 1,024-descriptor limit, a normal client asking five times:",
            f"  alone: {summary(alone)}",
            f"  beside 1,100 idle connections: {summary(held)}",
            f"  beside 1,100 idle connections reopened as fast as the server closes them: {summary(churned)}",
            f"  idle connections still open 12 s after the flood stopped: {still_open}",
            f"  server log lines during the test: {logged}" + (f" ({'; '.join(kinds)})" if kinds else "")]


def _lines(path: str) -> int:
    with open(path, "rb") as file:
        return file.read().count(b"\n")


def _open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


DEMO_CHILD = """
import pickle, sys
from graphviz_grad import demo
files, notes, report = pickle.load(open(sys.argv[2], "rb"))
demo.demo_files = lambda backend=None: (files, notes, report)
print("writing", flush=True)
demo.write_demo(sys.argv[1])
print("done", flush=True)
"""


def bench_folder(kills: int) -> list[str]:
    from graphviz_grad import demo
    from graphviz_grad.files import write_folder

    files, notes, report = demo.demo_files()
    root = tempfile.mkdtemp()
    target = os.path.join(root, "out")
    cache = os.path.join(tempfile.mkdtemp(), "demo.pickle")
    with open(cache, "wb") as file:
        pickle.dump((files, notes, report), file)
    old = {name: f"old {name}\n".encode() for name in files}

    def run(kill_after: float | None) -> float:
        child = subprocess.Popen([sys.executable, "-c", DEMO_CHILD, target, cache], stdout=subprocess.PIPE,
                                 text=True)
        assert child.stdout.readline() == "writing\n"
        started = time.perf_counter()
        if kill_after is None:
            child.stdout.readline()  # "done": the write phase is over
            spent = time.perf_counter() - started
        else:
            time.sleep(kill_after)
            child.send_signal(signal.SIGKILL)
            spent = 0.0
        child.wait()
        child.stdout.close()
        return spent

    write_folder(target, old)
    window = statistics.median(run(None) for _ in range(5))  # the write phase
    rng = random.Random(15)
    exact, debris, sides = 0, 0, {"old": 0, "new": 0}
    for _ in range(kills):
        write_folder(target, old, owned=demo.CONTENTS)
        run(rng.uniform(0, window))
        held = {}
        for name in os.listdir(target):
            with open(os.path.join(target, name), "rb") as file:
                held[name] = file.read()
        exact += held in (old, files)
        sides["old" if held == old else "new"] += held in (old, files)
        write_folder(target, old, owned=demo.CONTENTS)  # the next run
        debris += os.listdir(root) != ["out"] or set(os.listdir(target)) != set(old)
    return [f"folder, demo -o DIR killed at {kills} random instants of its write phase "
            f"({window * 1e3:.0f} ms):",
            f"  exactly the old set or exactly the new set: {exact}/{kills} "
            f"(old {sides['old']}, new {sides['new']})",
            f"  runs after which anything was left over: {debris}/{kills}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pause", type=float, default=2.0,
                        help="seconds a page waits on average before its next request (a person "
                        "changing inputs; default 2; 0: as fast as the answers come)")
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--only", default="soak,kill,descriptors,folder",
                        help="the parts to run, comma-separated (default: all)")
    args = parser.parse_args()
    parts = {"soak": lambda: bench_soak(args.clients, args.seconds, args.pause), "kill": bench_kill,
             "descriptors": bench_descriptors, "folder": lambda: bench_folder(args.kills)}
    for name in args.only.split(","):
        print("\n".join(parts[name.strip()]()), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
