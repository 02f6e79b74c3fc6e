"""Benchmark of the diagrams: our rendering path against the bare layout engine, per backend.

What it measures, in one run:

* **seed, steady state**: new input values for ``L = (x*W1 + y*W2 - B)**2`` to a new
  SVG: ``backward`` + ``to_dot`` + ``layout.render`` (the layout engine's run included),
  side by side with the bare layout command (``dot -Tsvg``, or ``graphviz-pure -Tsvg``)
  reading the same DOT from a pipe, started with ``subprocess.run``. The overhead is
  ours minus bare, as a share of bare. Median of the repeats (the runs alternate).
* **frames**: every frame (forward, backward, done) of a graph of 10 to 300
  nodes as SVG: ``render_frames`` (one layout, then all frames pinned in one run of
  ``neato -n2``), and the player page around them.
* **size**: one annotated SVG for graphs of 10 to 3,000 nodes in all (``tanh`` layers
  with skip connections: ``z_k = tanh(z_{k-1}*w_k + z_{k-2})``), ours and bare.

Targets (from the issue): seed overhead beyond the layout engine under 20 %; all backward
frames of a 100-node graph in under 3 s.

Run from the repository root::

    python benchmarks/bench_render.py            # about 2-4 minutes on 2 cores
    python benchmarks/bench_render.py --quick    # sizes up to 300
    python benchmarks/bench_render.py --backends system
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

import graphviz_grad as gg
from graphviz_grad import layout
from graphviz_grad.dot import to_dot
from graphviz_grad.frames import frames, render_frames
from graphviz_grad.player import player_html

SEED = "L = (x*W1 + y*W2 - B)**2"
POINTS = [{"x": 5, "y": 10, "W1": 0.1 * k, "W2": 0.2, "B": 0.5} for k in range(1, 6)]


def layered(nodes: int) -> gg.Graph:
    """About ``nodes`` nodes in all: z_k = tanh(z_{k-1}*w_k + z_{k-2}), 4 nodes a layer."""
    (x,) = gg.inputs("x")
    previous, current = x, x
    for k in range(max(1, round((nodes - 1) / 4))):
        (w,) = gg.inputs([f"w{k}"])
        previous, current = current, gg.tanh(current * w + previous)
    return gg.build(current)


def values_for(graph: gg.Graph) -> dict[str, float]:
    return {name: 0.5 + 0.01 * i for i, name in enumerate(graph.inputs)}


def bare_command(backend: str) -> list[str]:
    return ["dot", "-Tsvg"] if backend == "system" else [layout.pure_executable(), "-Tsvg"]


def time_it(function, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def seed_rows(backends, repeats):
    graph = gg.parse(SEED)
    rows = []
    for backend in backends:
        source = to_dot(gg.grad(graph, POINTS[0]))
        command = bare_command(backend)
        ours_samples, bare_samples = [], []
        for i in range(repeats):
            values = POINTS[i % len(POINTS)]
            start = time.perf_counter()
            layout.render(to_dot(gg.backward(graph, values)), "svg", backend=backend)
            ours_samples.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(command, input=source.encode(), capture_output=True, check=True)
            bare_samples.append(time.perf_counter() - start)
        ours, bare = statistics.median(ours_samples), statistics.median(bare_samples)
        overhead = (ours - bare) / bare
        rows.append([backend, f"{ours * 1000:.1f}", f"{bare * 1000:.1f}", f"{overhead:+.0%}",
                     "met" if overhead < 0.20 else "missed"])
    return rows


def frame_rows(backends, sizes, repeats):
    rows = []
    for nodes in sizes:
        graph = layered(nodes)
        trace = gg.backward(graph, values_for(graph))
        sequence = frames(trace)
        backward = frames(trace, forward=False)
        for backend in backends:
            pictures = []

            def run():
                pictures[:] = render_frames(trace, "svg", backend=backend)  # noqa: B023

            seconds = time_it(run, repeats)
            backward_seconds = time_it(
                lambda: render_frames(trace, "svg", sequence=backward, backend=backend), repeats)  # noqa: B023
            page_seconds = time_it(lambda: player_html(trace, sequence=sequence, backend=backend), repeats)  # noqa: B023
            target = ("met" if backward_seconds < 3 else "missed") if 90 <= len(graph) <= 110 else ""
            rows.append([str(len(graph)), backend, str(len(backward)), f"{backward_seconds:.2f}",
                         str(len(sequence)), f"{seconds:.2f}", f"{seconds / len(sequence) * 1000:.1f}",
                         f"{page_seconds * 1000:.0f}", f"{sum(map(len, pictures)) / 1e6:.1f}", target])
    return rows


def size_rows(backends, sizes, repeats):
    rows = []
    for nodes in sizes:
        graph = layered(nodes)
        trace = gg.backward(graph, values_for(graph))
        for backend in backends:
            source = to_dot(trace)
            ours = time_it(lambda: layout.render(to_dot(trace), "svg", backend=backend), repeats)  # noqa: B023
            command = bare_command(backend)
            bare = time_it(lambda: subprocess.run(command, input=source.encode(),  # noqa: B023
                                                  capture_output=True, check=True), repeats)
            rows.append([str(len(graph)), "yes" if len(graph) > 60 else "no", backend, f"{ours:.3f}",
                         f"{bare:.3f}", f"{(ours - bare) / bare:+.0%}"])
    return rows


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="graphs up to 300 nodes, fewer repeats")
    parser.add_argument("--backends", default=",".join(layout.available()),
                        help="comma-separated: system, pure (default: every one installed)")
    parser.add_argument("--out", help="also write the tables to this Markdown file")
    args = parser.parse_args()
    backends = [name for name in args.backends.split(",") if name]
    repeats = 5 if args.quick else 15
    sizes = [10, 30, 100, 300] if args.quick else [10, 30, 100, 300, 1000, 3000]
    output = [
        "### Seed example: new input values to a new SVG (ms, median)",
        table(["backend", "ours", "bare layout command", "overhead", "target < 20 %"],
              seed_rows(backends, repeats * 4)),
        "",
        "### Every frame of a graph as SVG (one layout, then all frames pinned in one run)",
        table(["nodes", "backend", "backward frames", "seconds", "all frames", "seconds", "ms per frame",
               "player page ms", "SVG MB", "backward < 3 s (100 nodes)"],
              frame_rows(backends, [10, 30, 100] + ([] if args.quick else [300]), max(1, repeats // 5))),
        "",
        "### One annotated SVG against graph size (seconds, median)",
        table(["nodes", "compact", "backend", "ours", "bare layout command", "overhead"],
              size_rows(backends, sizes, max(1, repeats // 5))),
    ]
    text = "\n".join(output)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as file:
            file.write(text + "\n")


if __name__ == "__main__":
    main()
