"""Benchmark of forward mode and of the Hessian, side by side with the engine's own passes.

Ratios, each the median of interleaved repeats of the process's CPU time (the runs take turns, so
load on the machine touches both alike; the garbage collector runs before each timed sample, outside
the timer):

* ``sweep / forward``: the tangent pass alone (`graphviz_grad.forward.sweep`: every node's tangent
  from known values) against `graphviz_grad.forward` (values only) on the same graph: target <= 2.
* ``tangents / forward``: the whole `graphviz_grad.tangents` call (a value pass, then the tangent
  pass) against the same forward pass: about 2 by construction.
  Workloads: ``chain`` (``y = y*c + d`` repeated) and ``sum`` (``b + w1*x1 + w2*x2 + ...``),
  the direction moving the first input (every node moves).
* ``Hessian / gradient``: `graphviz_grad.hessian` in all n inputs (its SymPy check not included)
  against one gradient evaluation, in gradient evaluations; target <= 4·n. Two yardsticks: the
  engine's `graphviz_grad.backward` (what `gg.grad` runs) and the compiled replay's
  ``value_and_gradients`` (`graphviz_grad.compile`, about 4x faster, the strictest unit we have).
  *warm*: the graph's program is prepared (as in a loop or a calculator); *cold*: every timed call
  parses the formula anew, the gradient's too. Workloads: ``squares`` (``L = x1**2 + ... + xn**2``,
  n = 100, as the issue asks), ``ring`` (``L = (x1*x2 + x2*x3 + ... + xn*x1)**2``: every entry
  nonzero, no sparsity to exploit) and the ``seed`` (n = 5, 11 nodes: the fixed cost of a call).

Run from the repository root::

    python benchmarks/bench_forward.py            # about half a minute
    python benchmarks/bench_forward.py --repeats 21
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import time
from collections.abc import Callable

import graphviz_grad as gg
from graphviz_grad.forward import sweep


def _timed(call: Callable[[], object], number: int = 1) -> float:
    """CPU seconds of this process per call, over ``number`` calls in a row (many for a call of
    microseconds). CPU time, not wall time: on a machine shared with other jobs, a call of ten
    milliseconds waits for the processor several times where a call of one rarely does, so wall
    time would charge the longer call for other processes' work."""
    gc.collect()
    start = time.process_time()
    for _ in range(number):
        call()
    return (time.process_time() - start) / number


def interleaved(first: Callable[[], object], second: Callable[[], object],
                repeats: int) -> tuple[float, float]:
    """Median seconds of each, the two taking turns; each sample at least about a millisecond."""
    numbers = [max(1, int(1e-3 / max(_timed(call), 1e-7))) for call in (first, second)]
    a, b = [], []
    for _ in range(repeats):
        a.append(_timed(first, numbers[0]))
        b.append(_timed(second, numbers[1]))
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
    tangent_table(args.repeats)
    hessian_table(args.repeats)  # in a function of its own: the 200,001-node graphs above are freed,
    # so the collector's passes in the Hessian's allocations do not walk them


def tangent_table(repeats: int) -> None:
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
                                         repeats)
            known = gg.forward(graph, values)
            plain_again, alone = interleaved(lambda g=graph, v=values: gg.forward(g, v),
                                             lambda g=graph, k=known, f=first: sweep(g, k, {f: 1.0}),
                                             repeats)
            print(f"| {name} | {len(graph):,} | {plain * 1e3:.2f} | {alone * 1e3:.2f} | "
                  f"{tangent * 1e3:.2f} | {alone / plain_again:.2f} | {tangent / plain:.2f} |")


def hessian_table(repeats: int) -> None:
    print()
    print("| workload | n | nodes | gradient (ms) | compiled gradient (ms) | Hessian (ms) "
          "| Hessian / gradient | Hessian / compiled gradient | per column | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, text in hessian_workloads():
        graph = gg.parse(text)
        n = len(graph.inputs)
        example = [5.0, 0.1, 10.0, 0.2, 0.5]  # the seed at Example 1
        values = [0.1 + 0.01 * k for k in range(n)] if n > 5 else example
        check_columns(graph, values)
        replay = gg.compile(graph)
        repeats = max(5, repeats)
        gradient, second = interleaved(lambda g=graph, v=values: gg.backward(g, v),
                                       lambda g=graph, v=values: gg.hessian(g, v), repeats)
        compiled, second_again = interleaved(lambda r=replay, v=values: r.value_and_gradients(v),
                                             lambda g=graph, v=values: gg.hessian(g, v), repeats)
        cold_gradient, cold_second = interleaved(lambda t=text, v=values: gg.backward(gg.parse(t), v),
                                                 lambda t=text, v=values: gg.hessian(gg.parse(t), v), repeats)
        rows = (("warm", gradient, second, f"{compiled * 1e3:.3f}", f"{second_again / compiled:.0f}"),
                ("cold", cold_gradient, cold_second, "", ""))  # compiled: warm only
        for how, unit, h, fast, against_fast in rows:
            print(f"| {name} ({how}) | {n} | {len(graph):,} | {unit * 1e3:.3f} | {fast} | {h * 1e3:.2f} "
                  f"| {h / unit:.0f} | {against_fast} | {h / unit / n:.2f} | <= {4 * n} |")


def hessian_workloads() -> list[tuple[str, str]]:
    n = 100
    squares = "L = " + " + ".join(f"x{k}**2" for k in range(n))
    ring = "L = (" + " + ".join(f"x{k}*x{(k + 1) % n}" for k in range(n)) + ")**2"
    return [("seed", "L = (x*W1 + y*W2 - B)**2"), ("squares", squares), ("ring", ring)]


def check_columns(graph: gg.Graph, values: list[float]) -> None:
    """The Hessian the benchmark times is right: each column equals a Hessian-vector product."""
    found = gg.hessian(graph, values)
    for j in (0, len(graph.inputs) // 2, len(graph.inputs) - 1):
        product = gg.hvp(graph, values, vector=graph.inputs[j])
        assert all(math.isclose(found.matrix[i][j], product[name], rel_tol=1e-12, abs_tol=1e-12)
                   for i, name in enumerate(graph.inputs))

if __name__ == "__main__":
    main()
