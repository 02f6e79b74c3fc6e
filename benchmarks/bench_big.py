"""Benchmark: big graphs as readable overviews (docs/big-graphs.md has the figures).

Workloads:

* ``formula``: a least-squares fit written as a formula program, one statement per sample
  (``e{k} = (w*x{k} + b - y{k})**2``) and their sum, 1,430 samples: 10,012 nodes.
* ``mlp``: micrograd's demo, ``MLP(2, [16, 16, 1])`` on 100 samples with its max-margin
  loss and L2 penalty, built through our builder with groups
  (`graphviz_grad.mlp_demo.mlp_trace`): 65,616 nodes (micrograd's 65,414 plus shared
  constant nodes).

Timed (wall clock, median of ``--repeats`` runs; the workloads take turns within a repeat):

* ``overview``: from the `Trace` to the overview's SVG bytes: the group tree, the
  summaries, the automatic level, the DOT text and the system ``dot`` run;
* ``expand``: `Overview.expand` of one neuron (``sample34.layer2.n5``) plus the new SVG;
* for reference, building the graph and running `backward` (not part of the targets).

Also: peak resident memory of the process (``ru_maxrss``, after the MLP runs), the number
of boxes drawn (groups, nodes and constants; not the frames of expanded groups) and of
edges, the SVG's width, and the smallest text at fit-to-width on a 1,280 px screen: the
SVG's font sizes are in its viewBox units, so a text of size ``s`` in a picture ``W``
units wide is ``s · 1280 / W`` px high when the picture fills 1,280 px.

Targets (from the issue): formula overview <= 5 s; mlp overview <= 10 s; expand <= 1 s;
memory <= 1 GB; no text under 8 px.

Run from the repository root (needs the Graphviz binaries)::

    python benchmarks/bench_big.py               # 3 repeats, about a minute on 2 cores
    python benchmarks/bench_big.py --repeats 1 --pictures docs   # the pictures of docs/big-graphs.md
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import graphviz_grad as gg
from graphviz_grad.mlp_demo import mlp_trace
from graphviz_grad.overview import Overview
from graphviz_grad.overview_dot import overview_pictures
from graphviz_grad.paths import top_paths

SAMPLES = 1430
NEURON = "sample34.layer2.n5"
PATHS_TO = "layer2.n5.w3"
SCREEN = 1280


def formula_trace() -> gg.Trace:
    lines = [f"e{k} = (w*x{k} + b - y{k})**2" for k in range(SAMPLES)]
    graph = gg.parse("\n".join([*lines, "L = " + " + ".join(f"e{k}" for k in range(SAMPLES))]))
    rng = random.Random(7)
    return gg.backward(graph, {name: rng.uniform(-1, 1) for name in graph.inputs})


def smallest_text_px(svg: bytes) -> tuple[float, float]:
    """(viewBox width, smallest font size · SCREEN / width)."""
    text = svg.decode("utf-8")
    width = float(re.search(r'viewBox="[-0-9.]+ [-0-9.]+ ([0-9.]+) ', text).group(1))  # type: ignore[union-attr]
    sizes = [float(size) for size in re.findall(r'font-size="([0-9.]+)"', text)]
    return width, min(sizes) * SCREEN / width


def timed(action: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pictures", metavar="DIR",
                        help="also write the MLP overview (big-overview.svg) and its main gradient paths "
                             f"to {PATHS_TO} (big-paths.svg) into DIR")
    args = parser.parse_args()
    times: dict[str, list[float]] = {key: [] for key in
                                     ("formula build", "formula overview", "mlp build", "mlp overview",
                                      "mlp expand")}
    facts: dict[str, object] = {}
    for _ in range(args.repeats):
        seconds, trace = timed(formula_trace)
        times["formula build"].append(seconds)
        seconds, (view, svg) = timed(lambda: _overview(trace))  # noqa: B023
        times["formula overview"].append(seconds)
        facts["formula"] = (len(trace.graph), *_drawn(view), *smallest_text_px(svg))
        seconds, trace = timed(mlp_trace)
        times["mlp build"].append(seconds)
        seconds, (view, svg) = timed(lambda: _overview(trace))  # noqa: B023
        times["mlp overview"].append(seconds)
        facts["mlp"] = (len(trace.graph), *_drawn(view), *smallest_text_px(svg))
        seconds, (change, expanded) = timed(lambda: (view.expand(NEURON),  # noqa: B023
                                                     overview_pictures(view)[0]))  # noqa: B023
        times["mlp expand"].append(seconds)
        facts["mlp expanded"] = (len(trace.graph), *_drawn(view), *smallest_text_px(expanded))
        facts["change"] = (len(change["added"]), len(change["removed"]))  # type: ignore[index]
        if args.pictures:
            folder = Path(args.pictures)
            (folder / "big-overview.svg").write_bytes(svg)
            paths = Overview(trace, paths=top_paths(trace, PATHS_TO, 3))
            (folder / "big-paths.svg").write_bytes(overview_pictures(paths)[0])
    memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"median of {args.repeats} run(s), seconds:\n")
    print("| step | median | runs | target |")
    print("|---|---|---|---|")
    targets = {"formula overview": "<= 5", "mlp overview": "<= 10", "mlp expand": "<= 1"}
    for key, values in times.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {key} | {statistics.median(values):.2f} | {runs} | {targets.get(key, '')} |")
    print("\n| picture | graph nodes | boxes | edges drawn | SVG width (pt) | smallest text at 1,280 px |")
    print("|---|---|---|---|---|---|")
    for key in ("formula", "mlp", "mlp expanded"):
        nodes, boxes, edges, width, pixels = facts[key]  # type: ignore[misc]
        print(f"| {key} | {nodes:,} | {boxes} | {edges} | {width:,.0f} | {pixels:.1f} px |")
    print(f"\nexpanding {NEURON}: {facts['change'][0]} boxes added, {facts['change'][1]} removed")  # type: ignore[index]
    print(f"peak resident memory of this process: {memory:,.0f} MB (target <= 1,024)")


def _overview(trace: gg.Trace) -> tuple[Overview, bytes]:
    view = Overview(trace)
    return view, overview_pictures(view)[0]


def _drawn(view: Overview) -> tuple[int, int]:
    boxes, edges = view.layout()
    return sum(kind != "frame" for kind, _, _ in boxes), len(edges)


if __name__ == "__main__":
    main()
