"""Benchmark of ``graphviz-grad serve``: how long the page waits for its data, alone and under load.

What it measures, against a real server (``python -m graphviz_grad serve --port 0``, started here):

* ``latency``: from an input change to the updated page data for the seed, with a new W1 each
  time (as a user typing), on kept-alive connections; median and 95th percentile of: the whole
  calculation with its SymPy check in one ``POST /api/calculate`` (what the page asked before
  it split the two), the engine's numbers alone (``"check": false``) and the check alone
  (``POST /api/check``), which the page now sends at the same time; and ``POST /api/graph``
  (the 17 step-by-step frames), which the page asks for after the numbers. The peer is the same
  work in process, ``calculate(W1=...).to_dict()``: the ratio is what HTTP, JSON and the worker
  process add.
* ``load``: ``--clients`` pages (default 50) each changing inputs as fast as the answers come
  for ``--seconds`` (default 60), one change in ten asking for the pictures. A change is what
  the page sends: the numbers and the check at once, on two connections (``--whole``: one
  calculation with the check, as the page did before). Answers per second, errors, wrong
  answers (a loss other than the seed's at those values, a check that is not ok), and the
  latency of the numbers and of the check (median, 95th percentile, worst).

Run from the repository root::

    python benchmarks/bench_serve.py
    python benchmarks/bench_serve.py --repeats 100 --clients 50 --seconds 10
    python benchmarks/bench_serve.py --only load --whole   # the page before the split, for comparison
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

from graphviz_grad.calculator import calculate


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _send(connection: http.client.HTTPConnection, path: str, body: dict, session: str = "") -> None:
    headers = {"Content-Type": "application/json"}
    if session:
        headers["X-Graphviz-Grad-Session"] = session
    connection.request("POST", path, body=json.dumps(body), headers=headers)


def _answer(connection: http.client.HTTPConnection) -> tuple[int, bytes]:
    response = connection.getresponse()
    return response.status, response.read()


def _post(connection: http.client.HTTPConnection, path: str, body: dict,
          session: str = "") -> tuple[int, bytes]:
    _send(connection, path, body, session)
    return _answer(connection)


IDLE = 4.0
"""Seconds after which a client opens a new connection rather than reuse an idle one (the
server closes those idle for 5 s)."""


def _seed_loss(values: dict[str, float]) -> float:
    return (values["x"] * values["W1"] + values["y"] * values["W2"] - values["B"]) ** 2


def bench_latency(address: tuple[str, int], repeats: int) -> list[str]:
    connection = http.client.HTTPConnection(*address, timeout=60)
    _post(connection, "/api/calculate", {})
    requests = {"whole": ("calculate", {}), "numbers": ("calculate", {"check": False}),
                "check": ("check", {}), "graph": ("graph", {})}
    timings: dict[str, list[float]] = {kind: [] for kind in [*requests, "in process"]}
    for k in range(repeats):
        values = {"W1": 0.1 + 0.001 * k}
        for kind, (endpoint, extra) in requests.items():
            start = time.perf_counter()
            status, _ = _post(connection, f"/api/{endpoint}", {"values": values, **extra})
            timings[kind].append(time.perf_counter() - start)
            assert status == 200
        start = time.perf_counter()
        calculate(**values).to_dict()
        timings["in process"].append(time.perf_counter() - start)
    connection.close()
    base = statistics.median(timings["in process"])
    lines = [f"latency, {repeats} changes of W1 on the seed (one kept-alive connection):",
             f"  {'request':<38} {'median':>9} {'p95':>9} {'ratio to in process':>21}"]
    rows = (("POST /api/calculate (with the check)", "whole"),
            ("POST /api/calculate, check: false", "numbers"), ("POST /api/check", "check"),
            ("POST /api/graph (17 frames)", "graph"), ("calculate(...).to_dict() in process", "in process"))
    for label, kind in rows:
        samples = timings[kind]
        median = statistics.median(samples)
        lines.append(f"  {label:<38} {median * 1e3:>7.1f}ms {_quantile(samples, 0.95) * 1e3:>7.1f}ms "
                     f"{median / base:>21.2f}")
    return lines


def bench_load(address: tuple[str, int], clients: int, seconds: float, whole: bool = False) -> list[str]:
    latencies: dict[str, list[float]] = {"numbers": [], "check": []}
    failures: list[str] = []
    counts = {"calculate": 0, "check": 0, "graph": 0}
    lock = threading.Lock()

    def right(kind: str, status: int, data: dict, values: dict[str, float]) -> bool:
        if status != 200:
            return False
        if kind == "graph":
            return len(data["frames"]) == 17
        if kind == "check":
            return data["check"]["ok"] is True and data["inputs"] == values
        return data["loss"] == _seed_loss(values) and (not whole or data["check"]["ok"] is True)

    def page(number: int) -> None:
        rng = random.Random(number)
        session = f"bench{number:04d}page"
        # two connections, as the browser opens for two requests at once; the pictures go on the
        # numbers' one (a connection idle for longer than the server's keep-alive is closed)
        connections = {kind: http.client.HTTPConnection(*address, timeout=120)
                       for kind in ("calculate", "check")}
        connections["graph"] = connections["calculate"]
        used: dict[http.client.HTTPConnection, float] = {}
        stop = time.monotonic() + seconds
        done = 0
        while time.monotonic() < stop:
            values = {"x": 5.0, "y": 10.0, "W1": round(rng.uniform(-1, 1), 3), "W2": 0.2,
                      "B": round(rng.uniform(-5, 5), 2)}
            if done % 10 == 9:
                asked = {"graph": ("/api/graph", {"values": values})}
            elif whole:
                asked = {"calculate": ("/api/calculate", {"values": values})}
            else:  # as the page: both at once, the numbers read first
                asked = {"calculate": ("/api/calculate", {"values": values, "check": False}),
                         "check": ("/api/check", {"values": values})}
            start = time.perf_counter()
            for kind in asked:  # a browser does not reuse a connection the server may have closed
                if start - used.get(connections[kind], start) > IDLE:
                    connections[kind].close()  # (http.client opens it again on the next request)
            try:
                for kind, (path, body) in asked.items():
                    _send(connections[kind], path, body, session)
                    used[connections[kind]] = start
                for kind in asked:
                    status, answer = _answer(connections[kind])
                    spent = time.perf_counter() - start
                    ok = right(kind, status, json.loads(answer), values)
                    with lock:
                        counts[kind] += 1
                        if kind != "graph":
                            latencies["numbers" if kind == "calculate" else "check"].append(spent)
                        if not ok:
                            failures.append(f"{kind}: {status} {answer[:120]!r}")
            except OSError as failure:
                with lock:
                    failures.append(f"{'/'.join(asked)}: {failure}")
                for kind in ("calculate", "check"):
                    connections[kind].close()
                    connections[kind] = http.client.HTTPConnection(*address, timeout=120)
                connections["graph"] = connections["calculate"]
                continue
            done += 1
        for connection in set(connections.values()):
            connection.close()

    threads = [threading.Thread(target=page, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    total = sum(counts.values())
    how = ("one request each, the calculation with its check" if whole
           else "the numbers and the check at once, as the page asks")
    lines = [f"load, {clients} pages for {seconds:g} s ({how}; one change in ten asks for the pictures):",
             f"  answers: {total} ({counts['calculate']} calculations, {counts['check']} checks, "
             f"{counts['graph']} graphs), {total / elapsed:.1f} per second",
             f"  errors or wrong answers: {len(failures)}" + (f" (first: {failures[0]})" if failures else "")]
    for kind, label in (("numbers", "the numbers" if not whole else "the calculation with its check"),
                        ("check", "the check")):
        samples = latencies[kind]
        if samples:
            lines.append(f"  {label}: median {statistics.median(samples) * 1e3:.0f} ms, "
                         f"p95 {_quantile(samples, 0.95) * 1e3:.0f} ms, worst {max(samples) * 1e3:.0f} ms")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="input changes timed one by one")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--whole", action="store_true",
                        help="load: one calculation with its check per change (the page before the split)")
    parser.add_argument("--only", default="latency,load", help="the parts to run: latency, load")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    with subprocess.Popen([sys.executable, "-m", "graphviz_grad", "serve", "--port", "0"],
                          stdout=subprocess.PIPE, text=True) as server:
        try:
            found = re.search(r"http://[^ ]+/", server.stdout.readline())
            if not found:
                raise SystemExit("the server did not start")
            url = urlsplit(found.group(0))
            address = (url.hostname, url.port)
            latency = bench_latency(address, args.repeats) if "latency" in parts else []
            load = bench_load(address, args.clients, args.seconds, args.whole) if "load" in parts else []
            print("\n".join([*latency, "", *load]))
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
