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

* ``--targets``: the issue's targets side by side: the seed's check per input change with the
  derivation cached (derive once) against re-deriving at every change (the cache cleared), and
  their ratio; the two-layer tanh MLP's ``check`` in a fresh process (wall time, exit code); a
  100-operation formula over the op table and a 1,000-node graph (fresh processes); towers of
  powers (time, peak RSS, exit code).

Run from the repository root::

    python benchmarks/bench_check.py            # sizes 10 .. 10,000; a few minutes
    python benchmarks/bench_check.py --quick    # sizes up to 1,000
    python benchmarks/bench_check.py --targets  # the targets only
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
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


MLP = ("h1 = tanh(w11*x1 + w12*x2 + b1); h2 = tanh(w21*x1 + w22*x2 + b2); "
       "yhat = v1*h1 + v2*h2 + c; L = (yhat - t)**2")
MLP_AT = "w11=0.1,w12=-0.2,w21=0.3,w22=0.4,b1=0,b2=0.1,v1=0.5,v2=-0.5,c=0,x1=1,x2=2,t=1"
UNARY = ["exp", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "softplus", "leaky_relu", "elu",
         "silu", "gelu"]


def op_table_formula(operations: int) -> tuple[str, str]:
    """A formula of about ``operations`` operation nodes cycling through the op table."""
    lines, previous = [], "x"
    for k in range(max(1, operations // 3)):  # three operations a line
        unary = UNARY[k % len(UNARY)]
        lines.append(f"z{k} = {unary}({previous}*w{k % 5} + b{k % 3})")
        previous = f"z{k}"
    lines.append(f"L = {previous}**2")
    at = "x=0.3," + ",".join(f"w{j}=0.{j + 2}" for j in range(5)) + "," + ",".join(f"b{j}=0.0{j + 1}"
                                                                               for j in range(3))
    return "; ".join(lines), at


def fresh(formula: str, at: str, *extra: str) -> tuple[float, int, int, float]:
    """``graphviz-grad check`` in a new process: wall seconds, exit code, peak RSS in MB and CPU
    seconds (user + system, the process and its simplify child). On a shared machine the CPU
    time is the figure to compare: the wall time grows with the other processes' load."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "graphviz_grad", "check", formula, "--at", at, *extra],
                          capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, done.returncode, after.ru_maxrss // 1024, cpu


def targets(repeats: int = 200) -> None:
    from graphviz_grad.symbolic.derive import derived

    graph = gg.parse(SEED)
    gg.check(graph, **SEED_POINT)
    cached, cached_cpu, fresh_derive = [], [], []
    for k in range(repeats):  # interleaved: a user typing, the value changing each call
        point = {**SEED_POINT, "W1": 0.1 + k * 1e-3}
        start, start_cpu = time.perf_counter(), time.process_time()
        gg.check(graph, **point)
        cached.append(time.perf_counter() - start)
        cached_cpu.append(time.process_time() - start_cpu)
        if k % 10 == 0:
            derived.cache_clear()
            start = time.perf_counter()
            gg.check(graph, **point)
            fresh_derive.append(time.perf_counter() - start)
    once, every = sorted(cached)[len(cached) // 2], sorted(fresh_derive)[len(fresh_derive) // 2]
    once_cpu = sorted(cached_cpu)[len(cached_cpu) // 2]
    print("| target | measured | goal | met |\n|---|---|---|---|")
    print(f"| seed check per input change, derive once (median of {repeats}) | {once * 1e3:.2f} ms wall, "
          f"{once_cpu * 1e3:.2f} ms CPU | <= 0.5 ms | {'yes' if once <= 5e-4 else 'no'} |")
    print(f"| seed check re-deriving every change (median) | {every * 1e3:.1f} ms "
          f"| ratio {every / once:.0f}x | |")
    seconds, code, peak, cpu = fresh(MLP, MLP_AT)
    print(f"| 2-layer tanh MLP, check in a fresh process | {seconds:.2f} s wall, {cpu:.2f} s CPU, "
          f"exit {code}, {peak} MB | < 3 s, exit 0 | {'yes' if seconds < 3 and code == 0 else 'no'} |")
    formula, at = op_table_formula(100)
    seconds, code, peak, cpu = fresh(formula, at)
    print(f"| 100-op formula over the op table, fresh process | {seconds:.2f} s wall, {cpu:.2f} s CPU, "
          f"exit {code} | < 5 s | {'yes' if seconds < 5 else 'no'} |")
    formula, at = op_table_formula(1000)
    seconds, code, peak, cpu = fresh(formula, at)
    print(f"| 1,000-op formula, fresh process | {seconds:.2f} s wall, {cpu:.2f} s CPU, exit {code} | < 5 s "
          f"| {'yes' if seconds < 5 else 'no'} |")
    for tower, point in (("L = a**a**a**a", "a=10"), ("L = a**b**c**d**e**f", "a=2,b=2,c=2,d=2,e=2,f=2"),
                         ("L = sin(exp(exp(x)))", "x=10")):
        seconds, code, peak, cpu = fresh(tower, point)
        print(f"| `{tower}` at {point}, fresh process | {seconds:.2f} s wall, {cpu:.2f} s CPU, exit {code}, "
              f"peak {peak} MB | an answer, < 1 GB | {'yes' if code in (0, 3) and peak < 1024 else 'no'} |")
    print(f"\nload average during the run: {', '.join(f'{load:.1f}' for load in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 1,000 only")
    parser.add_argument("--sizes", type=int, nargs="+", help="operation nodes (default 10 100 1000 10000)")
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=["chain", "sum"])
    parser.add_argument("--cap", type=float, default=30.0, help="time cap of the naive approach, in seconds")
    parser.add_argument("--targets", action="store_true", help="the issue's targets only")
    args = parser.parse_args()
    if args.targets:
        targets()
        return
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
