"""Benchmark of the gradient calculator, the worked derivation and gradient descent.

What it measures, in one run:

* ``calc``: the seed page's full result for a new input value, ``calculate(W1=...).to_dict()``
  (forward and backward pass, SymPy formulas and check, derivation, interpretation, update,
  copy block), the value changing each call as a user typing would; and its parts. The peer is
  the page's own closed-form arithmetic written out in Python (loss and five gradients only):
  the ratio says what the explanation costs over the bare numbers.
* ``derive``: ``derive(trace)`` (text) and ``.to_latex()`` on sums ``w1*x1 + w2*x2 + ...`` of
  growing size.
* ``descend``: gradient descent on the seed's W1, W2, B from Example 1 (lr 0.001), against
  micrograd (``pip install micrograd==0.1.0``: the expression is rebuilt each step, as micrograd
  requires) and a hand-written closed-form loop; steps per second and ratios.

Times are medians of the repeats (the 95th percentile too for ``calc``), on whatever machine
runs it; the first call of each kind (imports, SymPy's caches) is made before timing.

Run from the repository root::

    python benchmarks/bench_calc.py
    python benchmarks/bench_calc.py --repeats 50 --sizes 100 1000
"""

from __future__ import annotations

import argparse
import statistics
import time

import graphviz_grad as gg
from graphviz_grad.calculator import calculate
from graphviz_grad.derivation import derive
from graphviz_grad.descent import descend
from graphviz_grad.seed import EXAMPLE_1, SEED_FORMULA


def _times(function, repeats: int) -> list[float]:
    samples = []
    for k in range(repeats):
        start = time.perf_counter()
        function(k)
        samples.append(time.perf_counter() - start)
    return samples


def _closed_form(x: float, y: float, W1: float, W2: float, B: float) -> tuple[float, ...]:
    r = x * W1 + y * W2 - B
    return r * r, 2 * r * x, 2 * r * y, -2 * r, 2 * r * W1, 2 * r * W2


def bench_calc(repeats: int) -> list[str]:
    calculate().to_dict()  # imports and SymPy's caches
    w1 = [0.1 + 0.001 * k for k in range(repeats)]
    full = _times(lambda k: calculate(W1=w1[k]).to_dict(), repeats)
    engine = _times(lambda k: gg.backward(gg.parse(SEED_FORMULA), {**EXAMPLE_1, "W1": w1[k]}), repeats)
    parts = {
        "engine (parse + backward)": engine,
        "derivation (text)": _times(lambda k: derive(calculate(W1=w1[k]).trace), repeats),
        "SymPy check": _times(lambda k: calculate(W1=w1[k]).report, repeats),
    }
    point = dict(EXAMPLE_1)
    hand = _times(lambda k: _closed_form(**{**point, "W1": w1[k % repeats]}), repeats * 10)
    median = statistics.median(full)
    p95 = sorted(full)[int(0.95 * (len(full) - 1))]
    lines = ["#### Seed calculator: a new input value to the full result (ms)", "",
             "| what | median | 95th percentile |", "|---|---|---|",
             f"| calculate(...).to_dict(), everything | {median * 1e3:.2f} | {p95 * 1e3:.2f} |"]
    lines += [f"| part: {name} | {statistics.median(samples) * 1e3:.2f} | "
              f"{sorted(samples)[int(0.95 * (len(samples) - 1))] * 1e3:.2f} |"
              for name, samples in parts.items()]
    lines += [f"| peer: the closed-form numbers in plain Python | {statistics.median(hand) * 1e3:.4f} | |",
              "", f"Full result / closed-form numbers: {median / statistics.median(hand):,.0f} times.", ""]
    return lines


def bench_derive(sizes: list[int], repeats: int) -> list[str]:
    lines = ["#### Derivation against graph size (s)", "", "| terms | nodes | text | LaTeX |",
             "|---|---|---|---|"]
    for terms in sizes:
        graph = gg.parse("L = " + " + ".join(f"w{k}*x{k}" for k in range(terms)))
        trace = gg.backward(graph, [1.0] * len(graph.inputs))
        derive(trace)  # warm SymPy's caches for this op pattern
        text = _times(lambda _, trace=trace: derive(trace), repeats)
        latex = _times(lambda _, trace=trace: derive(trace).to_latex(), max(1, repeats // 2))
        lines.append(f"| {terms:,} | {len(graph):,} | {statistics.median(text):.3f} | "
                     f"{statistics.median(latex):.3f} |")
    return [*lines, ""]


def _micrograd_descent(steps: int) -> float | None:
    try:
        from micrograd.engine import Value
    except ImportError:
        return None
    x, y = 5.0, 10.0
    W1, W2, B = Value(0.1), Value(0.2), Value(0.5)
    for _ in range(steps):
        loss = (W1 * x + W2 * y - B) ** 2
        for p in (W1, W2, B):
            p.grad = 0.0
        loss.backward()
        for p in (W1, W2, B):
            p.data -= 0.001 * p.grad
    return ((W1.data * x + W2.data * y - B.data) ** 2)


def _hand_descent(steps: int) -> float:
    x, y, W1, W2, B = 5.0, 10.0, 0.1, 0.2, 0.5
    for _ in range(steps):
        r = x * W1 + y * W2 - B
        W1, W2, B = W1 - 0.001 * 2 * r * x, W2 - 0.001 * 2 * r * y, B + 0.001 * 2 * r
    return (x * W1 + y * W2 - B) ** 2


def bench_descend(steps: int, repeats: int) -> list[str]:
    ours = _times(lambda _: descend(SEED_FORMULA, EXAMPLE_1, wrt="W1,W2,B", lr=0.001, steps=steps),
                  repeats)
    have_micrograd = _micrograd_descent(1) is not None
    micro = _times(lambda _: _micrograd_descent(steps), repeats) if have_micrograd else None
    hand = _times(lambda _: _hand_descent(steps), repeats)
    rate = lambda samples: steps / statistics.median(samples)  # noqa: E731
    lines = [f"#### Gradient descent on the seed, {steps:,} steps (steps per second)", "",
             "| engine | steps/s | our time / its time |", "|---|---|---|",
             f"| ours: descend (the trajectory kept, every step checked) | {rate(ours):,.0f} | 1 |"]
    if micro is None:
        lines.append("| micrograd 0.1.0 | not installed (pip install micrograd==0.1.0) | |")
    else:
        lines.append(f"| micrograd 0.1.0 | {rate(micro):,.0f} | "
                     f"{statistics.median(ours) / statistics.median(micro):.2f} |")
    lines.append(f"| closed form in plain Python | {rate(hand):,.0f} | "
                 f"{statistics.median(ours) / statistics.median(hand):.1f} |")
    return [*lines, ""]


def bench_targets(repeats: int) -> list[str]:
    """The issue's target: ``calculate().to_dict()`` per input change <= 2 ms and within 10x of
    the engine alone (``gg.grad``), interleaved, medians."""
    graph = gg.parse(SEED_FORMULA)
    calculate(graph, EXAMPLE_1).to_dict()  # derive once, SymPy imported
    page, engine = [], []
    for k in range(repeats):
        values = {**EXAMPLE_1, "W1": 0.1 + k * 1e-3}
        start = time.perf_counter()
        calculate(graph, values).to_dict()
        page.append(time.perf_counter() - start)
        start = time.perf_counter()
        gg.grad(graph, values)
        engine.append(time.perf_counter() - start)
    full, alone = statistics.median(page), statistics.median(engine)
    return ["| target | measured | goal |", "|---|---|---|",
            f"| calculate().to_dict() per input change | {full * 1e3:.2f} ms | <= 2 ms |",
            f"| the engine alone (gg.grad) | {alone * 1e3:.3f} ms | |",
            f"| ratio | {full / alone:.0f}x | <= 10x |", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 2000])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--targets", action="store_true", help="the issue's targets only")
    args = parser.parse_args()
    if args.targets:
        print("\n".join(bench_targets(args.repeats)))
        return
    lines = bench_calc(args.repeats)
    lines += bench_derive(args.sizes, max(3, args.repeats // 20))
    lines += bench_descend(args.steps, 5)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
