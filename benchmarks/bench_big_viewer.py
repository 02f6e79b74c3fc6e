"""Benchmark: opening and closing groups of a big graph in the viewer (docs/big-graphs.md has the figures).

Workload: micrograd's demo network (`graphviz_grad.mlp_demo.mlp_trace`, 65,616 nodes).

Timed (wall clock, median of ``--repeats`` runs):

* ``api first``: ``/api/overview`` for the demo's automatic view, as a worker answers it
  (`graphviz_grad.service.respond`, no HTTP; the demo's trace is built once per process and
  kept, so this is the view rebuilt from scratch, its viewer data and its drawing);
* ``api open``: the same request opening one group (``sample[0-99].sample[30-39]``, a block
  of ten samples), and ``api neuron``: opening ``sample34.layer2.n5`` when the view has its
  sample open already: what one click costs the server;
* ``player``: the self-contained page (`graphviz_grad.overview_player.overview_player_html`):
  every view a click or two from the first, laid out beforehand.

Also: the answers' JSON size and the page's size and views.

Run from the repository root (needs the Graphviz binaries)::

    python benchmarks/bench_big_viewer.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphviz_grad import service
from graphviz_grad.overview import Overview
from graphviz_grad.overview_player import overview_player_html
from graphviz_grad.overview_scene import open_groups
from graphviz_grad.overview_service import demo_trace

BLOCK = "sample[0-99].sample[30-39]"
NEURON = "sample34.layer2.n5"


def timed(action):
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def ask(**body):
    status, data = service.respond("overview", {"demo": "mlp", **body})
    assert status == 200, data
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    build, _ = timed(lambda: demo_trace("mlp"))
    times: dict[str, list[float]] = {"api first": [], "api open": [], "api neuron": [], "player": []}
    sizes: dict[str, int] = {}
    for _ in range(args.repeats):
        seconds, first = timed(ask)
        times["api first"].append(seconds)
        seconds, opened = timed(lambda: ask(open=first["open"], group=BLOCK))  # noqa: B023
        times["api open"].append(seconds)
        deep = Overview(demo_trace("mlp"), expand=["sample34.layer2"])
        opened_to = _open_ids(deep)
        seconds, neuron = timed(lambda: ask(open=opened_to, group=NEURON))  # noqa: B023
        times["api neuron"].append(seconds)
        seconds, page = timed(lambda: overview_player_html(Overview(demo_trace("mlp")), title="demo"))
        times["player"].append(seconds)
        sizes = {"api first": len(json.dumps(first)), "api open": len(json.dumps(opened)),
                 "api neuron": len(json.dumps(neuron)), "player": len(page.encode("utf-8"))}
        views = len(json.loads(page.split('id="gg-scene">')[1].split("</script>")[0])["views"])
    print(f"demo trace built once: {build:.2f} s\n")
    print(f"median of {args.repeats} run(s):\n")
    print("| step | median (s) | runs | answer |")
    print("|---|---|---|---|")
    for key, values in times.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {key} | {statistics.median(values):.2f} | {runs} | {sizes[key] / 1024:,.0f} KB |")
    print(f"\nthe player page holds {views} views")


def _open_ids(view: Overview) -> list[str]:
    return open_groups(view)


if __name__ == "__main__":
    main()
