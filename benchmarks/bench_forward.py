"""Benchmark of forward mode and of the Hessian, side by side with the engine's own passes.

Two ratios, each the median of interleaved repeats (the runs take turns, so load on the machine
touches both alike; the garbage collector is collected before each timed call, outside the timer):

* ``sweep / forward``: the tangent pass alone (`graphviz_grad.forward.sweep`: every node's tangent
  from known values) against `graphviz_grad.forward` (values only) on the same graph: target <= 2.
* ``tangents / forward``: the whole `graphviz_grad.tangents` call (a value pass, then the tangent
  pass) against the same forward pass: about 2 by construction.
  Workloads: ``chain`` (``y = y*c + d`` repeated) and ``sum`` (``b + w1*x1 + w2*x2 + ...``),
  the direction moving the first input (every node moves).
* ``hessian / gradient``: `graphviz_grad.hessian` in all n inputs against one
  `graphviz_grad.backward`, for ``L = x1**2 + ... + xn**2`` with n = 100: target <= 4·n = 400.
  Also shown divided by n (the cost of one column in gradient evaluations).

Run from the repository root::

    python benchmarks/bench_forward.py            # about half a minute
    python benchmarks/bench_forward.py --repeats 21
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

import graphviz_grad as gg
from graphviz_grad.forward import sweep


def _timed(call: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def interleaved(first: Callable[[], object], second: Callable[[], object],
                repeats: int) -> tuple[float, float]:
    """Median seconds of each, the two taking turns."""
    a, b = [], []
    for _ in range(repeats):
        a.append(_timed(first))
        b.append(_timed(second))
    return statistics.median(a), statistics.median(b)


def chain(n: int) -> tuple[gg.Graph, dict[str, float]]:
    x, c, d = gg.inputs("x c d")
    y = x
    for _ in range(n // 2):
        y = y * c + d
    return gg.build(y.named("L")), {"x": 0.5, "c": 0.999, "d": 0.001}


def weighted_sum(n: int) -> tuple[gg.Graph, dict[str, float]]:
    terms = ["b"] + [f"w{k}*x{k}" for k in range(n // 2)]
    graph = gg.parse("L = " + " + ".join(terms))
    return graph, {name: 0.01 * (k % 7) for k, name in enumerate(graph.inputs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    print("| workload | nodes | forward (ms) | sweep (ms) | tangents (ms) | sweep / forward "
          "| tangents / forward |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, make in (("chain", chain), ("sum", weighted_sum)):
        for n in (1_000, 10_000, 100_000):
            graph, values = make(n)
            first = graph.inputs[0]
            gg.tangents(graph, values, direction=first)  # the per-graph preparation, once
            plain, tangent = interleaved(lambda g=graph, v=values: gg.forward(g, v),
                                         lambda g=graph, v=values, f=first: gg.tangents(g, v, direction=f),
                                         args.repeats)
            known = gg.forward(graph, values)
            plain_again, alone = interleaved(lambda g=graph, v=values: gg.forward(g, v),
                                             lambda g=graph, k=known, f=first: sweep(g, k, {f: 1.0}),
                                             args.repeats)
            print(f"| {name} | {len(graph):,} | {plain * 1e3:.2f} | {alone * 1e3:.2f} | "
                  f"{tangent * 1e3:.2f} | {alone / plain_again:.2f} | {tangent / plain:.2f} |")
    n = 100
    graph = gg.parse("L = " + " + ".join(f"x{k}**2" for k in range(n)))
    values = [0.1 * k for k in range(n)]
    trace = gg.backward(graph, values)
    found = gg.hessian(trace)
    assert all(found.matrix[i][j] == (2.0 if i == j else 0.0) for i in range(n) for j in range(n))
    gradient, second = interleaved(lambda: gg.backward(graph, values), lambda: gg.hessian(graph, values),
                                   max(3, args.repeats // 3))
    print()
    print("| n | gradient (ms) | Hessian (ms) | Hessian / gradient | per column | target |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {n} | {gradient * 1e3:.3f} | {second * 1e3:.1f} | {second / gradient:.1f} | "
          f"{second / gradient / n:.2f} | <= {4 * n} |")


if __name__ == "__main__":
    main()
