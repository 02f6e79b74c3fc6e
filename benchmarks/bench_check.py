"""Benchmark of the SymPy cross-check (`gg.check`) against graph size, and against the naive approach.

What it measures, in one run:

* ``check``: ``gg.check(graph, values)`` on a graph built beforehand, SymPy already imported
  (best of the repeats). It includes the engine run, the high-precision node values, the
  symbolic rows (closed forms for small graphs, the node form for large ones), the kink and
  domain analysis, the forward-rule check and the finite differences.
* ``naive``: what one would write by hand: the output's whole expression (every intermediate
  substituted: our faithful translation `to_sympy`), then for each input ``sympy.simplify(
  sympy.diff(L, input))`` evaluated at the point. It runs in a child process with a time cap
  (``--cap``); past the cap it is stopped and reported as "> cap", and larger sizes of that
  workload are not tried.
* The seed example's full check (``L = (x*W1 + y*W2 - B)**2`` at the page's point), the
  issue's target being under 0.2 s after import.

Workloads, sizes counted in operation nodes: ``chain`` (``y = y*c + d`` repeated; inputs a, c,
d; every node has a row) and ``sum`` (``b + w1*x1 + w2*x2 + ...``; every w and x an input, so
the number of rows grows with the graph). Columns: the check's time, the form the rows got
(``full`` = closed forms by `sympy.diff`, some simplified; ``nodes`` = chain rule over node
symbols), how many rows got `sympy.simplify`, how many rows got a finite difference (they share a
budget of node evaluations), the growth exponent of the time against the previous size
(1 = linear, 2 = quadratic), the naive time and naive/check. Row forms: ``simplified``
(`sympy.simplify` ran, or the form is a single symbol or number), ``factored``
(`sympy.factor_terms`), ``derived`` (as `sympy.diff` gave it), ``nodes`` (the node form).

Run from the repository root::

    python benchmarks/bench_check.py            # sizes 10 .. 10,000; a few minutes
    python benchmarks/bench_check.py --quick    # sizes up to 1,000
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import platform
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sympy  # noqa: E402

import graphviz_grad as gg  # noqa: E402
from graphviz_grad import symbolic  # noqa: E402

SEED = "L = (x*W1 + y*W2 - B)**2"
SEED_POINT = {"x": 5, "y": 10, "W1": 0.1, "W2": 0.2, "B": 0.5}


def chain(n: int) -> tuple[gg.Graph, dict[str, float]]:
    a, c, d = gg.inputs("a c d")
    expr = a
    for _ in range(max(1, n // 2)):
        expr = expr * c + d
    return gg.build(expr.named("L")), {"a": 0.5, "c": 0.99, "d": 0.01}


def total(n: int) -> tuple[gg.Graph, dict[str, float]]:
    terms = max(1, n // 2)
    b, = gg.inputs("b")
    ws = gg.inputs([f"w{k}" for k in range(terms)])
    xs = gg.inputs([f"x{k}" for k in range(terms)])
    expr = b
    for w, x in zip(ws, xs, strict=True):
        expr = expr + w * x
    values = {"b": 0.1, **{f"w{k}": 0.5 + k % 7 / 10 for k in range(terms)},
              **{f"x{k}": 1.0 - k % 5 / 10 for k in range(terms)}}
    return gg.build(expr.named("L")), values


WORKLOADS = {"chain": chain, "sum": total}


def timed_check(graph: gg.Graph, values: dict[str, float], repeats: int) -> tuple[float, gg.CheckReport]:
    best, report = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        report = gg.check(graph, values)
        best = min(best, time.perf_counter() - start)
    return best, report  # type: ignore[return-value]


def naive(graph: gg.Graph, values: dict[str, float]) -> float:
    """sympy.diff + sympy.simplify of the whole output expression, per input, evaluated."""
    start = time.perf_counter()
    exprs = symbolic.to_sympy(graph)
    output = exprs[graph.output]
    point = {exprs[name]: sympy.Float(value, 30) for name, value in values.items()}
    for name in graph.inputs:
        form = sympy.simplify(sympy.diff(output, exprs[name]))
        float(form.xreplace(point).evalf(30))
    return time.perf_counter() - start


def _naive_child(workload: str, n: int, queue: multiprocessing.Queue) -> None:
    sys.setrecursionlimit(100_000)
    try:
        queue.put(naive(*WORKLOADS[workload](n)))
    except (RecursionError, MemoryError) as error:
        queue.put(f"failed ({type(error).__name__})")


def capped_naive(workload: str, n: int, cap: float) -> float | str:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_naive_child, args=(workload, n, queue))
    child.start()
    child.join(cap)
    if child.is_alive():
        child.terminate()
        child.join()
        return f"> {cap:g} s"
    return queue.get() if not queue.empty() else "failed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 1,000 only")
    parser.add_argument("--sizes", type=int, nargs="+", help="operation nodes (default 10 100 1000 10000)")
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=["chain", "sum"])
    parser.add_argument("--cap", type=float, default=30.0, help="time cap of the naive approach, in seconds")
    args = parser.parse_args()
    sizes = args.sizes or ([10, 100, 1000] if args.quick else [10, 100, 1000, 10000])

    gg.check(SEED, **SEED_POINT)  # warm up: SymPy imported, caches filled
    seed_time, seed_report = timed_check(gg.parse(SEED), SEED_POINT, 20)
    print(f"Python {platform.python_version()}, SymPy {sympy.__version__}, {platform.machine()}")
    print(f"\nseed example, full check after import: {seed_time * 1000:.1f} ms "
          f"(target < 200 ms: {'met' if seed_time < 0.2 else 'MISSED'}; ok = {seed_report.ok})\n")
    print("| workload | nodes | rows | check s | rows by form | rows with FD | growth exponent "
          "| naive s | naive/check | ok |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for workload in args.workloads:
        previous: tuple[int, float] | None = None
        naive_over = False
        for n in sizes:
            graph, values = WORKLOADS[workload](n)
            nodes = sum(1 for node in graph.nodes if node.op not in ("input", "const"))
            repeats = 5 if nodes <= 100 else 3 if nodes <= 1000 else 1
            seconds, report = timed_check(graph, values, repeats)
            forms = Counter(row.form for row in report.rows)
            growth = (f"{math.log(seconds / previous[1]) / math.log(nodes / previous[0]):.2f}"
                      if previous else "")
            previous = (nodes, seconds)
            if naive_over:
                naive_time: float | str = "not run (smaller size over the cap)"
            else:
                naive_time = capped_naive(workload, n, args.cap)
                naive_over = not isinstance(naive_time, float)
            ratio = f"{naive_time / seconds:.1f}x" if isinstance(naive_time, float) else ""
            naive_text = f"{naive_time:.3g}" if isinstance(naive_time, float) else naive_time
            fd_rows = sum(1 for row in report.rows if row.finite_difference is not None)
            by_form = ", ".join(f"{form} {count:,}" for form, count in sorted(forms.items()))
            print(f"| {workload} | {nodes:,} | {len(report.rows):,} | {seconds:.3g} | {by_form} | "
                  f"{fd_rows:,} | {growth} | {naive_text} | {ratio} | {report.ok} |", flush=True)


if __name__ == "__main__":
    main()
