"""Benchmark of the interactive viewer: page sizes, build times and the browser's response.

What it measures, in one run:

* **player**: ``player_html`` for the seed and for graphs of about 100 and 300 nodes (``tanh``
  layers with skip connections, bench_render.py's graphs): bytes and build time (median of the
  repeats), side by side with the frame-per-picture way it replaces (every frame drawn as its
  own SVG by ``render_frames``: the sum of their bytes and their time; ``--no-before`` skips it).
* **/api/graph**: the JSON answer's bytes and time for the seed and a 50-node formula.
* **Chromium** (``--browser``, needs playwright): on the 300-node player, a click on a node
  until its details are written, and a step to the next frame (``viewer.show``), each timed
  with ``performance.now()`` in the page, median of 25 of each, interleaved.

Targets (from the issue): seed player ≤ 100 KB; about 100 nodes ≤ 1 MB built in ≤ 2 s;
300 nodes ≤ 3 MB in ≤ 5 s; /api/graph at 50 nodes ≤ 500 KB; click → details ≤ 50 ms;
a step ≤ 16 ms on 300 nodes.

Run from the repository root::

    python benchmarks/bench_viewer.py --browser          # about a minute on 2 cores
    python benchmarks/bench_viewer.py --no-before        # without the old way (300 nodes: ~30 s)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

# the graphs and the timer of bench_render.py (this folder is on the path when a benchmark runs)
from bench_render import SEED, layered, time_it, values_for

import graphviz_grad as gg
from graphviz_grad import service
from graphviz_grad.frames import render_frames
from graphviz_grad.player import player_html
from graphviz_grad.text import table

SEED_VALUES = {"x": 5, "y": 10, "W1": 0.1, "W2": 0.2, "B": 0.5}


def player_rows(repeats: int, before: bool) -> tuple[list[list[str]], dict[str, str]]:
    cases = [("seed", gg.parse(SEED), SEED_VALUES, 100e3, None), ("~100 nodes", layered(101), None, 1e6, 2.0),
             ("~300 nodes", layered(300), None, 3e6, 5.0)]
    rows, pages = [], {}
    for label, graph, values, most_bytes, most_seconds in cases:
        trace = gg.backward(graph, values or values_for(graph))
        start = time.perf_counter()
        page = player_html(trace)
        first = time.perf_counter() - start  # SymPy's local derivatives for this graph included
        seconds = time_it(lambda: player_html(trace), repeats)  # noqa: B023
        old_bytes = old_seconds = None
        if before:
            start = time.perf_counter()
            old_bytes = sum(map(len, render_frames(trace, "svg")))
            old_seconds = time.perf_counter() - start
        met = len(page.encode()) <= most_bytes and (most_seconds is None or first <= most_seconds)
        before_cells = [f"{old_bytes / 1e3:,.0f}", f"{old_seconds:.1f}"] if old_bytes else ["-", "-"]
        rows.append([label, str(len(graph)), f"{len(page.encode()) / 1e3:,.0f}", f"{first:.2f}",
                     f"{seconds:.2f}", *before_cells, "met" if met else "MISSED"])
        pages[label] = page
    return rows, pages


def api_rows(repeats: int) -> list[list[str]]:
    rows = []
    for label, formula in (("seed", SEED), ("50 nodes", _fifty())):
        graph = gg.parse(formula)
        body = {"formula": formula, "values": SEED_VALUES if formula == SEED else values_for(graph)}
        status, data = service.respond("graph", body)
        size = len(json.dumps(data).encode())
        seconds = time_it(lambda: service.respond("graph", body), repeats)  # noqa: B023
        rows.append([label, str(len(graph)), str(status), f"{size / 1e3:,.0f}", f"{seconds:.2f}",
                     "met" if size <= 500e3 else "MISSED"])
    return rows


def _fifty() -> str:
    """A formula of exactly 50 nodes."""
    terms = " + ".join(f"tanh(w{k}*x{k})" for k in range(9))
    return f"L = {terms} + w9*x9 - b"


def browser_rows(page_html: str, repeats: int) -> list[list[str]]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        path = Path(folder) / "player.html"
        path.write_text(page_html, encoding="utf-8")
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(path.as_uri())
        page.wait_for_selector("#stage svg g.node")
        nodes = page.evaluate("window.ggViewer.data.nodes.filter(n => n.op !== 'const').map(n => n.id)")
        frames = page.evaluate("window.ggViewer.data.frames.length")
        clicks, steps, jumps = [], [], []
        timed = """index => {
            const start = performance.now();
            window.ggViewer.show(index);
            return performance.now() - start;
        }"""
        for k in range(repeats):  # interleaved: a click, a step to the next frame, a jump
            node = nodes[(k * 7) % len(nodes)]
            clicks.append(page.evaluate("""id => {
                const start = performance.now();
                document.getElementById(id).dispatchEvent(new MouseEvent('click', {bubbles: true}));
                return document.getElementById('details').hidden ? -1 : performance.now() - start;
            }""", node))
            here = (k * 23) % (frames - 1)
            page.evaluate(timed, here)
            steps.append(page.evaluate(timed, here + 1))
            jumps.append(page.evaluate(timed, (here + frames // 2) % frames))
        browser.close()
    rows = []
    for action, times, most in (("click → details", clicks, 50), ("step to the next frame", steps, 16),
                                ("jump across half the frames", jumps, 16)):
        middle = statistics.median(times)
        verdict = "met" if middle <= most else "MISSED"
        rows.append([action, f"{middle:.1f}", f"{max(times):.1f}", str(most), verdict])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-before", dest="before", action="store_false",
                        help="skip the frame-per-picture way (slow at 300 nodes)")
    parser.add_argument("--browser", action="store_true", help="time clicks and steps in Chromium")
    args = parser.parse_args()
    rows, pages = player_rows(args.repeats, args.before)
    print("Player page (player_html): the first build (the seed's loads SymPy; each first build derives"
          " its graph's local derivatives) and the median of later ones; before: one SVG per frame")
    print(table([["graph", "nodes", "KB", "first s", "again s", "before KB", "before s", "target"], *rows]))
    print()
    print("/api/graph answer (one drawing + changes)")
    print(table([["graph", "nodes", "status", "KB", "s", "target"], *api_rows(args.repeats)]))
    if args.browser:
        print()
        print("Chromium, ~300-node player: ms, median and worst of 25 interleaved")
        print(table([["action", "median ms", "worst ms", "target ms", "target"],
                     *browser_rows(pages["~300 nodes"], 25)]))


if __name__ == "__main__":
    main()
