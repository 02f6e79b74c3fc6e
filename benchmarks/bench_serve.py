"""Benchmark of ``graphviz-grad serve``: how long the page waits for its data, alone and under load.

What it measures, against a real server (``python -m graphviz_grad serve --port 0``, started here):

* ``latency``: from an input change to the updated page data for the seed, that is one
  ``POST /api/calculate`` on a kept-alive connection with a new W1 each time (as a user typing);
  median and 95th percentile. Also ``POST /api/graph`` (the 17 step-by-step SVGs), which the
  page asks for after the numbers. The peer is the same work in process,
  ``calculate(W1=...).to_dict()``: the ratio is what HTTP, JSON and the worker process add.
* ``load``: ``--clients`` clients (default 50) each changing inputs as fast as the answers come
  for ``--seconds`` (default 60), one in ten asking for the pictures; answers per second, errors,
  wrong answers, and the latency of the calculations (median, 95th percentile, worst).

Run from the repository root::

    python benchmarks/bench_serve.py
    python benchmarks/bench_serve.py --repeats 100 --clients 50 --seconds 10
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


def _post(connection: http.client.HTTPConnection, path: str, body: dict) -> tuple[int, bytes]:
    connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def _seed_loss(values: dict[str, float]) -> float:
    return (values["x"] * values["W1"] + values["y"] * values["W2"] - values["B"]) ** 2


def bench_latency(address: tuple[str, int], repeats: int) -> list[str]:
    connection = http.client.HTTPConnection(*address, timeout=60)
    _post(connection, "/api/calculate", {})
    timings: dict[str, list[float]] = {"calculate": [], "graph": [], "in process": []}
    for k in range(repeats):
        values = {"W1": 0.1 + 0.001 * k}
        for kind in ("calculate", "graph"):
            start = time.perf_counter()
            status, _ = _post(connection, f"/api/{kind}", {"values": values})
            timings[kind].append(time.perf_counter() - start)
            assert status == 200
        start = time.perf_counter()
        calculate(**values).to_dict()
        timings["in process"].append(time.perf_counter() - start)
    connection.close()
    base = statistics.median(timings["in process"])
    lines = [f"latency, {repeats} changes of W1 on the seed (one kept-alive connection):",
             f"  {'request':<34} {'median':>9} {'p95':>9} {'ratio to in process':>21}"]
    rows = (("POST /api/calculate (page data)", "calculate"), ("POST /api/graph (17 SVG frames)", "graph"),
            ("calculate(...).to_dict() in process", "in process"))
    for label, kind in rows:
        samples = timings[kind]
        median = statistics.median(samples)
        lines.append(f"  {label:<34} {median * 1e3:>7.1f}ms {_quantile(samples, 0.95) * 1e3:>7.1f}ms "
                     f"{median / base:>21.2f}")
    return lines


def bench_load(address: tuple[str, int], clients: int, seconds: float) -> list[str]:
    latencies: list[float] = []
    failures: list[str] = []
    counts = {"calculate": 0, "graph": 0}
    lock = threading.Lock()

    def typist(number: int) -> None:
        rng = random.Random(number)
        connection = http.client.HTTPConnection(*address, timeout=120)
        stop = time.monotonic() + seconds
        done = 0
        while time.monotonic() < stop:
            values = {"x": 5.0, "y": 10.0, "W1": round(rng.uniform(-1, 1), 3), "W2": 0.2,
                      "B": round(rng.uniform(-5, 5), 2)}
            kind = "graph" if done % 10 == 9 else "calculate"
            start = time.perf_counter()
            try:
                status, body = _post(connection, f"/api/{kind}", {"values": values})
            except OSError as failure:
                with lock:
                    failures.append(f"{kind}: {failure}")
                connection.close()
                connection = http.client.HTTPConnection(*address, timeout=120)
                continue
            spent = time.perf_counter() - start
            data = json.loads(body)
            right = status == 200 and (len(data["frames"]) == 17 if kind == "graph"
                                       else data["loss"] == _seed_loss(values))
            with lock:
                counts[kind] += 1
                if kind == "calculate":
                    latencies.append(spent)
                if not right:
                    failures.append(f"{kind}: {status} {body[:120]!r}")
            done += 1
        connection.close()

    threads = [threading.Thread(target=typist, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    total = counts["calculate"] + counts["graph"]
    return [f"load, {clients} clients for {seconds:g} s (one request in ten asks for the pictures):",
            f"  answers: {total} ({counts['calculate']} calculations, {counts['graph']} graphs), "
            f"{total / elapsed:.1f} per second",
            f"  errors or wrong answers: {len(failures)}" + (f" (first: {failures[0]})" if failures else ""),
            f"  calculation latency: median {statistics.median(latencies) * 1e3:.0f} ms, "
            f"p95 {_quantile(latencies, 0.95) * 1e3:.0f} ms, worst {max(latencies) * 1e3:.0f} ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="input changes timed one by one")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with subprocess.Popen([sys.executable, "-m", "graphviz_grad", "serve", "--port", "0"],
                          stdout=subprocess.PIPE, text=True) as server:
        try:
            found = re.search(r"http://[^ ]+/", server.stdout.readline())
            if not found:
                raise SystemExit("the server did not start")
            parts = urlsplit(found.group(0))
            address = (parts.hostname, parts.port)
            latency = bench_latency(address, args.repeats)
            load = bench_load(address, args.clients, args.seconds)
            print("\n".join([*latency, "", *load]))
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
