"""Benchmark of the reverse-mode engine against micrograd and a minimal flat tape.

What it measures, for each workload and size, in one run:

* ``ours``: ``gg.backward(graph, values)`` (forward + backward, returning the `Trace`
  from which every value, gradient and local derivative can be read) on a graph built
  once beforehand; ``values`` is a dict by input name.
* ``micrograd`` (``pip install micrograd==0.1.0``): building the `Value` graph (its
  forward pass) + ``.backward()``. The leaves (inputs, the MLP's parameters) are made
  once beforehand, like our graph; their ``grad`` is reset before each run. Runs in a
  thread with a large stack and a raised recursion limit, because micrograd orders its
  graph recursively; a size where that still fails shows ``failed (RecursionError)``.
* ``flat tape``: the pure-Python reference written below, a list of
  ``(opcode, a, b, out)`` instructions, one forward loop filling a list of values and
  one backward loop accumulating a list of gradients. It computes values and gradients
  only. Recording the tape is done beforehand, like building our graph.

Workloads: ``chain`` (``y = y*c + d`` repeated, ``x c d`` inputs), ``sum`` (``b + w1*x1 +
w2*x2 + ...``, every ``w`` and ``x`` an input) at 10^3 to 10^6 operation nodes, and
``mlp``: micrograd's ``MLP(2, [16, 16, 1])`` (relu hidden layers, linear output) on 100
fixed random samples with a sum-of-squares loss, its 337 parameters the inputs, built
with identical weights (seeded ``random``) in all three engines.

Columns, all per node, where "nodes" counts operation nodes (mul, add, relu, ...) of our
graph; inputs and constants are extra and listed below the table, and every engine's
time and memory is divided by the same count:

* time: best (minimum) of the repeats, the repeat count being in the table (the
  minimum is the least disturbed by other load on the machine); the three engines take
  turns within each repeat; the garbage collector is on, as in real use, and
  ``gc.collect()`` runs before each timed call, outside the timer;
* ``build``: ours = making the expressions + ``gg.build`` + the engine's one-time
  per-graph preparation (cached on the graph; forced here before the first run);
  flat = recording the tape;
* bytes: ``tracemalloc`` peak in a separate, untimed run: ours = graph (with its
  cached preparation; the expressions it is built from are not counted) + one `Trace`
  (the peak of the run, held graph included);
  micrograd = leaves + the `Value` graph (its forward; the backward is not traced: its
  recursion makes tracemalloc quadratic in depth); flat = tape + value and gradient lists.

The first timed run of each engine is checked: output value and every input gradient
must agree with ours to 1e-9 relative, or the run aborts with the first difference.

Targets (from the issue): micrograd/ours >= 5 and ours/flat <= 1.5 at every size.

Run from the repository root::

    python benchmarks/bench_engine.py            # full run, 10^3 .. 10^6 nodes: 8-9 minutes on 2 cores
    python benchmarks/bench_engine.py --quick    # sizes up to 10^4 only
    python benchmarks/bench_engine.py --out results.md
    python benchmarks/bench_engine.py --quick --profile   # also cProfile our engine
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import itertools
import math
import platform
import pstats
import random
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from micrograd.engine import Value  # noqa: E402
from micrograd.nn import MLP  # noqa: E402

import graphviz_grad as gg  # noqa: E402
from graphviz_grad import engine as gg_engine  # noqa: E402

SIZES = (10**3, 10**4, 10**5, 10**6)
QUICK_SIZES = (10**3, 10**4)
REPEATS = {10**3: 15, 10**4: 7, 10**5: 5, 10**6: 3}
MICROGRAD_STACK = 1 << 30  # bytes of stack for the thread that runs micrograd
RECURSION_LIMIT = 10**7
REL_TOL = 1e-9
SEED = 1337
MLP_SIZES = (2, 16, 16, 1)
MLP_SAMPLES = 100
CHAIN_C, CHAIN_D = 0.999999, 0.001


# --- the flat tape: the pure-Python reference ------------------------------------

ADD, SUB, MUL, POW, RELU, NEG = range(6)


class Tape:
    """Instructions ``(opcode, a, b, out)`` over slots; a leaf (input or constant) is a slot
    without an instruction. ``b`` is unused (-1) for a unary op."""

    __slots__ = ("code", "consts", "inputs", "size")

    def __init__(self) -> None:
        self.code: list[tuple[int, int, int, int]] = []
        self.consts: list[tuple[int, float]] = []
        self.inputs: list[int] = []
        self.size = 0

    def input(self) -> TapeVar:
        self.inputs.append(self.size)
        return self._new()

    def const(self, value: float) -> TapeVar:
        self.consts.append((self.size, float(value)))
        return self._new()

    def emit(self, op: int, a: int, b: int = -1) -> TapeVar:
        self.code.append((op, a, b, self.size))
        return self._new()

    def _new(self) -> TapeVar:
        self.size += 1
        return TapeVar(self, self.size - 1)


class TapeVar:
    """Records operations on a `Tape` through Python operators (recording only, no values)."""

    __slots__ = ("slot", "tape")

    def __init__(self, tape: Tape, slot: int) -> None:
        self.tape = tape
        self.slot = slot

    def _slot(self, other: TapeVar | float) -> int:
        return other.slot if isinstance(other, TapeVar) else self.tape.const(other).slot

    def __add__(self, other: TapeVar | float) -> TapeVar:
        return self.tape.emit(ADD, self.slot, self._slot(other))

    def __radd__(self, other: float) -> TapeVar:
        return self.tape.emit(ADD, self._slot(other), self.slot)

    def __sub__(self, other: TapeVar | float) -> TapeVar:
        return self.tape.emit(SUB, self.slot, self._slot(other))

    def __mul__(self, other: TapeVar | float) -> TapeVar:
        return self.tape.emit(MUL, self.slot, self._slot(other))

    def __rmul__(self, other: float) -> TapeVar:
        return self.tape.emit(MUL, self._slot(other), self.slot)

    def __pow__(self, exponent: float) -> TapeVar:
        return self.tape.emit(POW, self.slot, self._slot(exponent))

    def __neg__(self) -> TapeVar:
        return self.tape.emit(NEG, self.slot)

    def relu(self) -> TapeVar:
        return self.tape.emit(RELU, self.slot)


def tape_run(tape: Tape, input_values: Sequence[float], output: int) -> tuple[list[float], list[float]]:
    """Forward then backward over the tape: every slot's value and d output / d slot."""
    vals = [0.0] * tape.size
    for slot, value in tape.consts:
        vals[slot] = value
    for slot, value in zip(tape.inputs, input_values, strict=True):
        vals[slot] = value
    for op, a, b, out in tape.code:
        if op == MUL:
            vals[out] = vals[a] * vals[b]
        elif op == ADD:
            vals[out] = vals[a] + vals[b]
        elif op == SUB:
            vals[out] = vals[a] - vals[b]
        elif op == POW:
            vals[out] = vals[a] ** vals[b]
        elif op == RELU:
            x = vals[a]
            vals[out] = x if x > 0.0 else 0.0
        else:
            vals[out] = -vals[a]
    grads = [0.0] * tape.size
    grads[output] = 1.0
    for op, a, b, out in reversed(tape.code):
        g = grads[out]
        if op == MUL:
            grads[a] += g * vals[b]
            grads[b] += g * vals[a]
        elif op == ADD:
            grads[a] += g
            grads[b] += g
        elif op == SUB:
            grads[a] += g
            grads[b] -= g
        elif op == POW:
            e = vals[b]
            grads[a] += g * (e * vals[a] ** (e - 1.0))
        elif op == RELU:
            if vals[a] > 0.0:
                grads[a] += g
        else:
            grads[a] -= g
    return vals, grads


# --- workloads: one expression function, used by all three engines ----------------


def chain_expr(leaves: Sequence[Any], pairs: int) -> Any:
    x, c, d = leaves
    y = x
    for _ in range(pairs):
        y = y * c + d
    return y


def sum_expr(leaves: Sequence[Any]) -> Any:
    acc = leaves[0]
    for k in range(1, len(leaves), 2):
        acc = acc + leaves[k] * leaves[k + 1]
    return acc


def split_mlp(leaves: Sequence[Any]) -> list[list[tuple[list[Any], Any]]]:
    """Parameters in micrograd's `MLP.parameters()` order (per layer, per neuron: w..., b)."""
    layers, k = [], 0
    for nin, nout in itertools.pairwise(MLP_SIZES):
        neurons = []
        for _ in range(nout):
            neurons.append((list(leaves[k:k + nin]), leaves[k + nin]))
            k += nin + 1
        layers.append(neurons)
    return layers


def mlp_expr(leaves: Sequence[Any], samples: Sequence[tuple[float, float]], targets: Sequence[float],
             relu: Callable[[Any], Any]) -> Any:
    """micrograd's ``MLP.__call__`` step by step, with a sum-of-squares loss."""
    layers = split_mlp(leaves)

    def net(x: Sequence[Any]) -> Any:
        for k, layer in enumerate(layers):
            outs = []
            for ws, b in layer:
                act = b
                for w, xi in zip(ws, x, strict=True):
                    act = act + w * xi
                outs.append(relu(act) if k < len(layers) - 1 else act)
            x = outs
        return x[0]

    return sum((net(x) - y) ** 2 for x, y in zip(samples, targets, strict=True))


@dataclass
class Workload:
    name: str
    nodes: int  # operation nodes in our graph (filled in after building)
    names: list[str]  # input names, in gradient order
    values: list[float]  # input values, same order
    expr: Callable[[Sequence[Any], Callable[[Any], Any]], Any]  # (leaves, relu) -> output
    micrograd_leaves: Callable[[], list[Value]]  # fresh leaves, in the order of names
    micrograd_expr: Callable[[list[Value]], Value]


def chain_workload(n: int) -> Workload:
    pairs = n // 2
    values = [1.0, CHAIN_C, CHAIN_D]
    return Workload(
        "chain", n, ["x", "c", "d"], values,
        lambda leaves, relu: chain_expr(leaves, pairs),
        lambda: [Value(v) for v in values],
        lambda leaves: chain_expr(leaves, pairs),
    )


def sum_workload(n: int) -> Workload:
    rng = random.Random(SEED + n)
    terms = n // 2
    names = ["b"] + [f"{kind}{i}" for i in range(terms) for kind in ("w", "x")]
    values = [rng.uniform(-1.0, 1.0) for _ in names]
    return Workload(
        "sum", n, names, values,
        lambda leaves, relu: sum_expr(leaves),
        lambda: [Value(v) for v in values],
        sum_expr,
    )


def mlp_workload() -> Workload:
    rng = random.Random(SEED)
    samples = [(rng.uniform(-2.0, 2.0), rng.uniform(-2.0, 2.0)) for _ in range(MLP_SAMPLES)]
    targets = [rng.uniform(-1.0, 1.0) for _ in range(MLP_SAMPLES)]

    def make_mlp() -> MLP:
        random.seed(SEED)  # micrograd draws its weights from the global generator
        return MLP(MLP_SIZES[0], list(MLP_SIZES[1:]))

    names = [f"{'w' if j < nin else 'b'}{layer}.{neuron}" + (f".{j}" if j < nin else "")
             for layer, (nin, nout) in enumerate(itertools.pairwise(MLP_SIZES))
             for neuron in range(nout) for j in range(nin + 1)]
    values = [float(p.data) for p in make_mlp().parameters()]
    model: list[MLP] = []

    def micrograd_leaves() -> list[Value]:
        model[:] = [make_mlp()]
        return model[0].parameters()

    def micrograd_expr(leaves: list[Value]) -> Value:
        mlp = model[0]
        return sum((mlp(list(x)) - y) ** 2 for x, y in zip(samples, targets, strict=True))

    return Workload(
        "mlp", 0, names, values,
        lambda leaves, relu: mlp_expr(leaves, samples, targets, relu),
        micrograd_leaves,
        micrograd_expr,
    )


# --- running each engine ---------------------------------------------------------


@dataclass
class Result:
    value: float
    grads: list[float]


def ours_expr(work: Workload) -> gg.Expr:
    return work.expr(gg.inputs(work.names), gg.relu)  # type: ignore[no-any-return]


def freeze(expr: gg.Expr) -> gg.Graph:
    graph = gg.build(expr)
    prepare = getattr(gg_engine, "_program", None)  # the per-graph preparation, else done on 1st run
    if prepare is not None:
        prepare(graph)
    return graph


WITH_MEMORY = True  # --no-memory: skip the tracemalloc runs
VALUES_AS_LIST = False  # --values-as-list: pass ours a list in graph.inputs order, as the tape gets


def build_ours(work: Workload) -> tuple[gg.Graph, Any]:
    graph = freeze(ours_expr(work))
    values = dict(zip(work.names, work.values, strict=True))
    return graph, [values[name] for name in graph.inputs] if VALUES_AS_LIST else values


def build_tape(work: Workload) -> tuple[Tape, int]:
    tape = Tape()
    leaves = [tape.input() for _ in work.names]
    out = work.expr(leaves, TapeVar.relu)
    return tape, out.slot


def run_ours(graph: gg.Graph, values: Any) -> gg.Trace:
    return gg.backward(graph, values)


def ours_result(work: Workload, trace: gg.Trace) -> Result:
    grads = trace.gradients
    return Result(trace.output_value, [grads[name] for name in work.names])


def tape_result(tape: Tape, output: int, vals: list[float], grads: list[float]) -> Result:
    return Result(vals[output], [grads[slot] for slot in tape.inputs])


def run_micrograd(work: Workload, leaves: list[Value]) -> Value:
    out = work.micrograd_expr(leaves)
    out.backward()
    return out


def in_big_stack(fn: Callable[[], Any]) -> Any:
    """Call ``fn`` in a thread with a large stack; a RecursionError is returned, not raised."""
    box: list[Any] = [None]

    def target() -> None:
        try:
            box[0] = fn()
        except RecursionError as error:
            box[0] = error

    old = threading.stack_size(MICROGRAD_STACK)
    try:
        thread = threading.Thread(target=target)
        thread.start()
    finally:
        threading.stack_size(old)
    thread.join()
    return box[0]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = CLOCK()
    result = fn()
    return CLOCK() - start, result


def timed_micrograd(work: Workload, leaves: list[Value]) -> tuple[float, Any]:
    for leaf in leaves:
        leaf.grad = 0
    gc.collect()

    def go() -> Any:
        start = time.perf_counter()
        try:
            out = run_micrograd(work, leaves)
        except RecursionError as error:
            return error
        return time.perf_counter() - start, out

    outcome = in_big_stack(go)
    if isinstance(outcome, RecursionError):
        return math.nan, outcome
    return outcome


def count_values(root: Value) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack:
        v = stack.pop()
        if id(v) not in seen:
            seen.add(id(v))
            stack.extend(v._prev)
    return len(seen)


# --- memory ----------------------------------------------------------------------


def peak_bytes(setup: Callable[[], Any], run: Callable[[Any], Any]) -> int:
    """tracemalloc peak of ``run(setup())``, counting what ``setup`` keeps but not its own peak."""
    gc.collect()
    tracemalloc.start()
    try:
        state = setup()
        gc.collect()
        tracemalloc.reset_peak()
        result = run(state)
        peak = tracemalloc.get_traced_memory()[1]
        del result, state
    finally:
        tracemalloc.stop()
    return peak


def memory(work: Workload) -> tuple[int, int, int]:
    # Our expressions are made before tracing starts: they are not the graph, and
    # are freed once it is built.
    exprs = [ours_expr(work)]
    ours = peak_bytes(lambda: (freeze(exprs.pop()), dict(zip(work.names, work.values, strict=True))),
                      lambda state: run_ours(*state))
    tape = peak_bytes(lambda: build_tape(work),
                      lambda state: tape_run(state[0], work.values, state[1]))

    def micrograd_graph(_: None) -> tuple[list[Value], Value]:
        leaves = work.micrograd_leaves()
        return leaves, work.micrograd_expr(leaves)

    # The Value graph only: under tracemalloc, micrograd's recursive backward takes time
    # quadratic in the graph's depth (about a minute at 10^5 nodes on CPython 3.11).
    micro = peak_bytes(lambda: None, micrograd_graph)
    return ours, micro, tape


# --- checking --------------------------------------------------------------------


def check(work: Workload, reference: Result, other: Result, engine: str) -> None:
    def close(a: float, b: float) -> bool:
        return a == b or math.isclose(a, b, rel_tol=REL_TOL, abs_tol=0.0)

    problems = []
    if not close(reference.value, other.value):
        problems.append(f"output {other.value!r} != {reference.value!r}")
    if len(reference.grads) != len(other.grads):
        problems.append(f"{len(other.grads)} gradients instead of {len(reference.grads)}")
    else:
        for name, a, b in zip(work.names, reference.grads, other.grads, strict=True):
            if not close(a, b):
                problems.append(f"dL/d{name} = {b!r} != {a!r}")
                break
    if problems:
        sys.exit(f"MISMATCH in {work.name} ({work.nodes} nodes), {engine} vs ours: " + "; ".join(problems))


# --- one row ---------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    nodes: int
    leaves: str
    repeats: int
    ours: float
    micrograd: float | None  # None: failed
    flat: float
    build_ours: float
    build_flat: float
    bytes_ours: int | None  # None: not measured (--no-memory)
    bytes_micrograd: int | None
    bytes_flat: int | None


def time_engines(work: Workload, repeats: int) -> Row:
    """Build, check and time the three engines on one workload (bytes left at 0)."""
    t0 = time.perf_counter()
    graph, values = build_ours(work)
    t_build_ours = time.perf_counter() - t0
    operations = sum(1 for node in graph.nodes if node.op not in ("input", "const"))
    if work.nodes == 0:
        work.nodes = operations
    if operations != work.nodes:
        sys.exit(f"{work.name}: our graph has {operations} operations, expected {work.nodes}")
    t0 = time.perf_counter()
    tape, output = build_tape(work)
    t_build_flat = time.perf_counter() - t0

    micro_leaves = work.micrograd_leaves()
    times: dict[str, list[float]] = {"ours": [], "micrograd": [], "flat": []}
    micro_failed = False
    micro_values = 0
    for r in range(repeats):
        dt, trace = timed(lambda: run_ours(graph, values))
        times["ours"].append(dt)
        dt, (vals, grads) = timed(lambda: tape_run(tape, work.values, output))
        times["flat"].append(dt)
        reference = ours_result(work, trace) if r == 0 else None
        if reference is not None:
            check(work, reference, tape_result(tape, output, vals, grads), "flat tape")
        trace = vals = grads = None
        if micro_failed:
            continue
        dt, out = timed_micrograd(work, micro_leaves)
        if isinstance(out, RecursionError):
            micro_failed = True
            continue
        times["micrograd"].append(dt)
        if reference is not None:
            micro_values = count_values(out)
            result = Result(float(out.data), [float(v.grad) for v in micro_leaves])
            check(work, reference, result, "micrograd")
        out = None
    n = work.nodes
    return Row(
        work.name, n,
        f"ours {len(graph) - n}, micrograd {micro_values - n if micro_values else '-'}",
        repeats,
        min(times["ours"]) / n * 1e6,
        None if micro_failed else min(times["micrograd"]) / n * 1e6,
        min(times["flat"]) / n * 1e6,
        t_build_ours / n * 1e6,
        t_build_flat / n * 1e6,
        None, None, None,
    )


def measure(work: Workload, repeats: int, with_memory: bool) -> Row:
    row = time_engines(work, repeats)
    if with_memory:
        ours, micro, flat = memory(work)
        row.bytes_ours = ours // work.nodes
        row.bytes_micrograd = micro // work.nodes
        row.bytes_flat = flat // work.nodes
    return row


# --- output ----------------------------------------------------------------------


def fmt(x: float) -> str:
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def table(rows: list[Row]) -> str:
    head = ("| workload | nodes | repeats | ours µs/node | micrograd µs/node | flat tape µs/node "
            "| micrograd/ours | ours/flat | build µs/node (ours / flat) "
            "| bytes/node (ours / micrograd / flat) | targets (≥5x micrograd, ≤1.5x flat) |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for row in rows:
        ratio = row.ours / row.flat
        if row.micrograd is None:
            micro, speedup, five = "failed (RecursionError)", "-", "n/a"
        else:
            micro, speedup = fmt(row.micrograd), f"{row.micrograd / row.ours:.1f}x"
            five = "met" if row.micrograd / row.ours >= 5 else "MISSED"
        memory = " / ".join("-" if x is None else str(x)
                            for x in (row.bytes_ours, row.bytes_micrograd, row.bytes_flat))
        lines.append(
            f"| {row.workload} | {row.nodes:,} | {row.repeats} | {fmt(row.ours)} | {micro} | {fmt(row.flat)} "
            f"| {speedup} | {ratio:.2f}x | {fmt(row.build_ours)} / {fmt(row.build_flat)} | {memory} "
            f"| 5x {five}, 1.5x {'met' if ratio <= 1.5 else 'MISSED'} |"
        )
    return "\n".join(lines)


def profile_ours(sizes: Sequence[int]) -> None:
    """cProfile of our forward+backward on each workload (at most 10^5 nodes), top functions."""
    n = min(sizes[-1], 10**5)
    for work in (chain_workload(n), sum_workload(n), mlp_workload()):
        graph, values = build_ours(work)
        run_ours(graph, values)
        profiler = cProfile.Profile()
        profiler.enable()
        run_ours(graph, values)
        profiler.disable()
        print(f"\n### cProfile of gg.backward: {work.name}, {len(graph):,} nodes (incl. leaves)\n")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(10)


# --- one-shot, compiled replay, importers: the engine issue's side-by-side table ---------
#
# One-shot = everything from the leaves to the gradients, inside the timer: ours makes the
# inputs, the expression (Python operators), gg.build, gg.backward and reads .gradients;
# micrograd makes its Values and runs .backward(); PyTorch (if installed) makes 0-dim float64
# tensors and runs .backward(); the flat tape records and runs. Replay = a graph built
# beforehand, evaluated again: our interpreter (gg.backward), gg.compile's straight-line code
# (value_and_gradients) and closed-form Python written by hand for each workload.
# Times are medians of interleaved runs (each engine takes its turn within every round), with
# the garbage collector as in real use (no forced collection before a call: see `warm`).

SEED_VALUES = {"x": 5.0, "y": 10.0, "W1": 0.1, "W2": 0.2, "B": 0.5}
ONESHOT_REPEATS = {5: 2001, 10**3: 41, 10**4: 9, 10**5: 5, 10**6: 3}
TORCH_MAX_NODES = 10**4  # PyTorch spends ~10 µs per 0-dim op: larger sizes would take minutes


def seed_expr(leaves: Sequence[Any], relu: Callable[[Any], Any]) -> Any:
    x, y, W1, W2, B = leaves
    return (x * W1 + y * W2 - B) ** 2


def seed_workload() -> Workload:
    names = ["x", "W1", "y", "W2", "B"]  # reading order, so our gradients come in this order
    ordered = [SEED_VALUES[n] for n in names]
    def swap(leaves: Sequence[Any]) -> list[Any]:  # x W1 y W2 B -> x y W1 W2 B
        return [leaves[0], leaves[2], leaves[1], leaves[3], leaves[4]]

    return Workload("seed", 5, names, ordered,
                    lambda leaves, relu: seed_expr(swap(leaves), relu),
                    lambda: [Value(v) for v in ordered],
                    lambda leaves: seed_expr(swap(leaves), None))


def closed_form(work: Workload) -> Callable[[list[float]], tuple[float, list[float]]] | None:
    """Hand-written value and gradients for the workload (None for the MLP)."""
    if work.name == "seed":
        def seed(v: list[float]) -> tuple[float, list[float]]:
            x, W1, y, W2, B = v
            r = x * W1 + y * W2 - B
            t = 2.0 * r
            return r * r, [t * W1, t * x, t * W2, t * y, -t]
        return seed
    if work.name == "chain":
        pairs = work.nodes // 2

        def chain(v: list[float]) -> tuple[float, list[float]]:
            x, c, d = v
            ys = [x]
            y = x
            for _ in range(pairs):
                y = y * c + d
                ys.append(y)
            g = gc_ = gd = 0.0
            g = 1.0
            for k in range(pairs - 1, -1, -1):
                gc_ += g * ys[k]
                gd += g
                g *= c
            return y, [g, gc_, gd]
        return chain
    if work.name == "sum":
        def total(v: list[float]) -> tuple[float, list[float]]:
            acc = v[0]
            grads = [1.0] * len(v)
            for k in range(1, len(v), 2):
                acc += v[k] * v[k + 1]
                grads[k], grads[k + 1] = v[k + 1], v[k]
            return acc, grads
        return total
    return None


def oneshot_ours(work: Workload) -> dict[str, float]:
    leaves = gg.inputs(work.names)
    graph = gg.build(work.expr(leaves, gg.relu))
    return gg.backward(graph, work.values).gradients


def oneshot_tape(work: Workload) -> list[float]:
    tape = Tape()
    leaves = [tape.input() for _ in work.names]
    out = work.expr(leaves, TapeVar.relu)
    _, grads = tape_run(tape, work.values, out.slot)
    return [grads[slot] for slot in tape.inputs]


def oneshot_torch(work: Workload, torch: Any) -> list[float]:
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in work.values]
    out = work.expr(leaves, torch.relu)
    out.backward()
    return [leaf.grad.item() for leaf in leaves]


def median(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[len(ordered) // 2]


CLOCK = time.perf_counter  # --cpu: time.process_time (CPU seconds of this process)


def warm(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds for one call, the collector left as it is in real use: no gc.collect() first.
    (A forced collection walks every object and leaves the caches cold: it made a one-shot
    seed run 4x slower for us, and less for smaller code such as micrograd's.)"""
    start = CLOCK()
    result = fn()
    return CLOCK() - start, result


REPLAY_BATCH_NODES = 2_000
"""A replay of a small graph takes well under a microsecond, about the cost of reading the
clock twice: replays are timed ``REPLAY_BATCH_NODES // nodes`` calls at a time (200 for the
seed), and the time divided by that count."""


def warm_batch(fn: Callable[[], Any], calls: int) -> tuple[float, Any]:
    """Seconds per call of ``fn``, timed over ``calls`` calls in a row (as `warm`, no
    collection forced)."""
    start = time.perf_counter()
    for _ in range(calls - 1):
        fn()
    result = fn()
    return (time.perf_counter() - start) / calls, result


def interleaved(engines: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Median seconds per call of each engine; the engines take turns within every round."""
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, run in engines.items():
            dt, out = run()
            times[name].append(math.nan if isinstance(out, RecursionError) else dt)
    return {name: median(values) for name, values in times.items()}


def warm_micrograd(work: Workload, leaves: list[Value]) -> tuple[float, Any]:
    for leaf in leaves:
        leaf.grad = 0

    def go() -> Any:
        try:
            return warm(lambda: run_micrograd(work, leaves))
        except RecursionError as error:
            return math.nan, error

    outcome = in_big_stack(go)
    if work.nodes >= 1000:
        # micrograd's closures make reference cycles that only the collector frees: collect
        # them here, outside every timer, so the engine after it does not pay for them (it
        # runs last in a round, so a cold cache falls on ours, in the next round).
        gc.collect()
    return outcome


def oneshot_rows(sizes: Sequence[int], workloads: set[str]) -> list[dict[str, Any]]:
    try:
        import torch
    except ImportError:
        torch = None
    plan: list[Workload] = [seed_workload()] if "seed" in workloads else []
    plan += [make(n) for name, make in (("chain", chain_workload), ("sum", sum_workload))
             if name in workloads for n in sizes]
    if "mlp" in workloads:
        mlp = mlp_workload()
        mlp.nodes = sum(1 for node in freeze(ours_expr(mlp)).nodes if node.op not in ("input", "const"))
        plan.append(mlp)
    rows = []
    for work in plan:
        leaves = work.micrograd_leaves()

        def micro(work: Workload = work, leaves: list[Value] = leaves) -> Any:
            return warm_micrograd(work, leaves)

        engines: dict[str, Callable[[], Any]] = {
            "ours": lambda work=work: warm(lambda: oneshot_ours(work)),
            "flat tape": lambda work=work: warm(lambda: oneshot_tape(work)),
        }
        if torch is not None and work.nodes <= TORCH_MAX_NODES:
            engines["torch"] = lambda work=work: warm(lambda: oneshot_torch(work, torch))
        graph = freeze(ours_expr(work))
        replay = gg.compile(graph)
        values = list(work.values)
        batch = max(1, REPLAY_BATCH_NODES // work.nodes)  # calls per timing of a replay
        engines["replay: interpreter"] = lambda graph=graph, values=values, batch=batch: warm_batch(
            lambda: gg.backward(graph, values), batch)
        engines["replay: compiled"] = lambda replay=replay, values=values, batch=batch: warm_batch(
            lambda: replay.value_and_gradients(values), batch)
        closed = closed_form(work)
        if closed is not None:
            engines["closed form"] = lambda closed=closed, values=values, batch=batch: warm_batch(
                lambda: closed(values), batch)
        expected = oneshot_ours(work)
        if closed is not None:
            check(work, Result(gg.backward(graph, values).output_value, list(expected.values())),
                  Result(*closed(values)), "closed form")
        engines["micrograd"] = micro  # last in each round (see warm_micrograd)
        reps = ONESHOT_REPEATS.get(work.nodes, ONESHOT_REPEATS[10**4] if work.nodes < 10**5 else 3)
        medians = interleaved(engines, reps)
        medians["compiled?"] = replay.compiled
        if WITH_MEMORY and work.nodes <= 10**5:
            ours_bytes, micro_bytes, tape_bytes = memory(work)
            medians["bytes"] = (ours_bytes / work.nodes, micro_bytes / work.nodes, tape_bytes / work.nodes)
        rows.append({"workload": work.name, "nodes": work.nodes, "rounds": reps, **medians})
        print(f"  done: one-shot {work.name} {work.nodes:,}", file=sys.stderr, flush=True)
    return rows


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not (a > 0 and b > 0):
        return "-"
    return f"{a / b:.2f}x"


def oneshot_table(rows: list[dict[str, Any]]) -> str:
    head = ("| workload | nodes | rounds | ours one-shot µs | micrograd µs | torch µs | flat tape µs "
            "| micrograd/ours (≥3) | ours/tape (≤2.5) | torch/ours | bytes/node ours / micrograd / tape "
            "| memory ours/tape (≤2) |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for row in rows:
        us = {k: row.get(k) * 1e6 if isinstance(row.get(k), float) else None
              for k in ("ours", "micrograd", "torch", "flat tape")}
        sizes = row.get("bytes")
        memory_text = " / ".join(f"{b:.0f}" for b in sizes) if sizes else "-"
        lines.append(f"| {row['workload']} | {row['nodes']:,} | {row['rounds']} | " + " | ".join(
            "-" if v is None or v != v else fmt(v) for v in us.values()) +
            f" | {ratio(us['micrograd'], us['ours'])} | {ratio(us['ours'], us['flat tape'])} "
            f"| {ratio(us['torch'], us['ours'])} | {memory_text} "
            f"| {ratio(sizes[0], sizes[2]) if sizes else '-'} |")
    head2 = ("\n| workload | nodes | interpreter µs | compiled µs | closed form µs "
             "| compiled/closed (≤2) | interpreter/compiled |")
    lines += [head2, "|" + "---|" * head2.count(" | ") + "---|"]
    for row in rows:
        i, c = row["replay: interpreter"] * 1e6, row["replay: compiled"] * 1e6
        closed = row.get("closed form")
        closed_us = closed * 1e6 if closed else None
        shown = fmt(c) if row["compiled?"] else f"{fmt(c)} (interpreted: over the node cap)"
        closed_text = "-" if closed_us is None else fmt(closed_us)
        lines.append(f"| {row['workload']} | {row['nodes']:,} | {fmt(i)} | {shown} | {closed_text} "
                     f"| {ratio(c, closed_us)} | {ratio(i, c)} |")
    return "\n".join(lines)


def extras() -> str:
    """Text parsing, descend, compile cost and from_micrograd on the MLP demo."""
    out = []
    seed_text = "L = (x*W1 + y*W2 - B)**2"
    assert gg.backward(gg.parse(seed_text), SEED_VALUES).gradients["W1"] == 20.0
    fresh = [gg.parse(seed_text) for _ in range(3001)]  # graphs the engine has not prepared yet
    parts = interleaved({
        "whole": lambda: warm(lambda: gg.backward(gg.parse(seed_text), SEED_VALUES).gradients),
        "parse": lambda: warm(lambda: gg.parse(seed_text)),
        "engine": lambda: warm(lambda: gg.backward(fresh.pop(), SEED_VALUES).gradients),
    }, 3001)
    whole, parse, engine = (parts[k] * 1e6 for k in ("whole", "parse", "engine"))
    out.append(f"- the seed from text, gg.backward(gg.parse(F), values).gradients: {whole:.1f} µs (target ≤ "
               f"40 µs); of which gg.parse {parse:.1f} µs and the engine on the fresh graph (its one-time "
               f"preparation, both passes, .gradients) {engine:.1f} µs")
    lines = ["v0 = x*c + d"] + [f"v{k} = v{k - 1}*c + d" for k in range(1, 80_000)]
    text = "\n".join(lines)
    text = text[:text.rindex("\n", 0, 1_000_000)]
    t0, c0 = time.perf_counter(), time.process_time()
    graph = gg.parse(text)
    out.append(f"- a {len(text):,}-character program ({len(graph):,} nodes) parses in "
               f"{time.perf_counter() - t0:.2f} s ({time.process_time() - c0:.2f} s of CPU; target ≤ 1 s)")
    for steps in (100, 10_000, 600_000):  # the seed allows at most 666,666 steps in one run
        t0, c0 = time.perf_counter(), time.process_time()
        gg.descend(seed_text, SEED_VALUES, steps=steps, patience=10**6)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out.append(f"- descend on the seed, {steps:,} steps: {steps / wall:,.0f} steps/s "
                   f"({steps / max(cpu, 1e-9):,.0f} per CPU second; target ≥ 1,000,000)")
    for n in (11, 1_000, 10_000):
        work = seed_workload() if n == 11 else chain_workload(n)
        graph = freeze(ours_expr(work))
        t0 = time.perf_counter()
        replay = gg.compile(graph)
        cost = time.perf_counter() - t0
        interp = median([warm(lambda g=graph, w=work: gg.backward(g, w.values))[0] for _ in range(51)])
        fast = median([warm(lambda r=replay, w=work: r.value_and_gradients(w.values))[0] for _ in range(51)])
        out.append(f"- compiling {len(graph):,} nodes costs {cost * 1e3:.1f} ms = "
                   f"{cost / max(interp - fast, 1e-12):,.0f} saved runs (interpreter {interp * 1e6:.1f} µs, "
                   f"compiled {fast * 1e6:.1f} µs)")
    work = mlp_workload()
    leaves = work.micrograd_leaves()
    loss = work.micrograd_expr(leaves)
    backward_times, import_times = [], []
    for _ in range(5):
        for leaf in leaves:
            leaf.grad = 0

        def micro_backward(loss: Value = loss) -> None:
            loss.backward()

        dt = in_big_stack(lambda: timed(micro_backward)[0])
        backward_times.append(dt)
        import_times.append(timed(lambda: gg.from_micrograd(loss))[0])
    nodes = count_values(loss)
    out.append(f"- from_micrograd on the MLP demo ({nodes:,} Values): {median(import_times) * 1e3:.0f} ms, "
               f"micrograd's own backward {median(backward_times) * 1e3:.0f} ms: "
               f"{median(import_times) / median(backward_times):.2f}x (target ≤ 2x)")
    return "\n".join(out)


def oneshot_main(sizes: Sequence[int], workloads: set[str], out: Path | None, header: str,
                 with_extras: bool = True) -> None:
    started = time.perf_counter()
    rows = oneshot_rows(sizes, workloads | {"seed"})
    clock = "CPU time of this process" if CLOCK is time.process_time else "wall time"
    report = (f"{oneshot_table(rows)}\n\nMedians of interleaved rounds, µs per call (whole workload), "
              f"{clock}; bytes: tracemalloc peak of graph + engine program + one trace, per node.\n\n"
              f"{extras() if with_extras else '(--no-extras)'}\n\n"
              f"Total run time: {time.perf_counter() - started:.0f} s\n")
    print(report)
    if out:
        out.write_text(f"{header}\n{report}", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 10^4 only")
    parser.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of our engine")
    parser.add_argument("--values-as-list", action="store_true",
                        help="give our engine the input values as a list (default: a dict by name)")
    parser.add_argument("--workloads", default="chain,sum,mlp", help="comma-separated subset to run")
    parser.add_argument("--sizes", help="comma-separated node counts (default: 10^3..10^6)")
    parser.add_argument("--no-extras", action="store_true",
                        help="--oneshot: skip the text, descend, compile and from_micrograd figures")
    parser.add_argument("--cpu", action="store_true",
                        help="--oneshot: time CPU seconds of this process (time.process_time), not wall time")
    parser.add_argument("--oneshot", action="store_true",
                        help="the one-shot / compiled replay / importer table instead (medians, interleaved)")
    args = parser.parse_args(argv)
    global VALUES_AS_LIST, CLOCK, WITH_MEMORY
    VALUES_AS_LIST = args.values_as_list
    CLOCK = time.process_time if args.cpu else time.perf_counter
    WITH_MEMORY = not args.no_memory
    wanted = set(args.workloads.split(","))
    sys.setrecursionlimit(RECURSION_LIMIT)
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else QUICK_SIZES if args.quick else SIZES
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])])
    header = (f"Python {platform.python_version()} ({platform.python_implementation()}), "
              f"{platform.machine()}, {platform.system()}\n\nCommand: `{command}`\n")
    print(header, flush=True)
    if args.oneshot:
        oneshot_main(sizes, wanted, args.out, header, not args.no_extras)
        return

    started = time.perf_counter()
    rows: list[Row] = []
    plan = [(make, n) for name, make in (("chain", chain_workload), ("sum", sum_workload))
            if name in wanted for n in sizes]
    for make, n in plan:
        rows.append(measure(make(n), REPEATS.get(n, 3), not args.no_memory))
        print(f"  done: {rows[-1].workload} {n:,} ({time.perf_counter() - started:.0f} s)",
              file=sys.stderr, flush=True)
    if "mlp" in wanted:
        rows.append(measure(mlp_workload(), REPEATS[10**4], not args.no_memory))
    elapsed = time.perf_counter() - started

    leaves = "\n".join(f"- {row.workload} {row.nodes:,}: leaves (inputs + constants) {row.leaves}"
                       for row in rows)
    report = (f"{table(rows)}\n\n"
              "Times are the best of the repeats; all columns are per operation node of our graph. "
              "Leaf nodes beyond those:\n\n"
              f"{leaves}\n\nTotal run time: {elapsed:.0f} s\n")
    print(report)
    if args.out:
        args.out.write_text(f"{header}\n{report}", encoding="utf-8")
    if args.profile:
        profile_ours(sizes)


if __name__ == "__main__":
    main()
