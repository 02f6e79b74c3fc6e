"""descend's generated loop gives the interpreted run bit for bit: every point of the history,
the status and the message, on random graphs, learning rates and tolerances, including runs
that diverge, overflow, reach nan or converge."""

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad import compiled
from graphviz_grad.descent import History, Point
from graphviz_grad.descent_loop import descent_loop

from .trees import NAMES, to_expr
from .trees import trees as _trees

SEED = "L = (x*W1 + y*W2 - B)**2"
START = {"x": 5, "y": 10, "W1": 0.1, "W2": 0.2, "B": 0.5}


def trees():
    return _trees(constants=(0.5, 2.0, 3.0, -1.5, 0.0, -2.0), max_leaves=10)


def bits(rows):
    return [tuple("nan" if x != x else struct.pack("<d", x) for x in row) for row in rows]


def both(subject, values, **options):
    """The run with the interpreter only, and the run with the generated loop."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compiled, "PAYS_AFTER_RUNS", 10**9)
        interpreted = gg.descend(subject, values, **options)
        patch.setattr(compiled, "PAYS_AFTER_RUNS", 1)
        looped = gg.descend(subject, values, **options)
    return interpreted, looped


def assert_same(interpreted, looped):
    assert bits(looped.history.rows) == bits(interpreted.history.rows)
    assert (looped.status, looped.message) == (interpreted.status, interpreted.message)


@settings(max_examples=150, deadline=None)
@given(tree=trees(), start=st.lists(st.sampled_from([0.0, -0.0, 0.5, -1.0, 2.0, 1e150, -3.0]),
                                    min_size=3, max_size=3),
       lr=st.sampled_from([1e-3, 0.1, 1.0, 1e10]), tol=st.sampled_from([0.0, 1e-3, 10.0]),
       steps=st.integers(0, 60), patience=st.integers(1, 12))
def test_random_graphs_descend_the_same_with_the_loop(tree, start, lr, tol, steps, patience):
    if not isinstance(tree, tuple):
        return  # a lone input or constant is no operation to differentiate
    graph = gg.build(to_expr(tree, dict(zip(NAMES, gg.inputs(" ".join(NAMES)), strict=True))))
    if not graph.inputs:
        return
    values = dict(zip(graph.inputs, start, strict=False))
    assert_same(*both(graph, values, lr=lr, tol=tol, steps=steps, patience=patience))


@pytest.mark.parametrize("options", [{"steps": 3000}, {"lr": 0.01, "steps": 3000}, {"lr": 0.5, "steps": 3000},
                                     {"lr": 0.001, "steps": 3000, "tol": 1e-6}, {"wrt": "B", "steps": 2000},
                                     {"lr": 0.0079, "steps": 2000, "patience": 3}])
def test_the_seed_descends_the_same_with_the_loop(options):
    interpreted, looped = both(SEED, START, **options)
    assert_same(interpreted, looped)
    assert looped.history == interpreted.history and looped.history == tuple(interpreted.history)


def test_overflowing_sums_hand_the_step_back_and_the_run_goes_on():
    # loss + parameters + gradients overflows while each is finite: descend decides, then the loop resumes
    # (here for the first 100 steps and the last 20, while |L + w + dL/dw| = |1.5 w| overflows)
    interpreted, looped = both("L = w * 0.5", {"w": 1.7e308}, lr=1e306, steps=600)
    assert_same(interpreted, looped)
    assert looped.status == "finished"


def test_the_loop_is_cached_and_skips_gradients_nobody_trains():
    graph = gg.parse(SEED)
    loop = descent_loop(graph, ("W1",))
    assert descent_loop(graph, ("W1",)) is loop and descent_loop(graph, ("B",)) is not loop
    rows = []
    step, growing, _, _ = loop([5.0, 0.1, 10.0, 0.2, 0.5], 0.001, 1, 3, 0.0, 10, 0, math.inf, rows)
    assert (step, growing, len(rows)) == (3, 0, 2) and rows[0] == (4.0, 0.1, 20.0)


def test_history_reads_like_a_tuple_of_points():
    run = gg.descend(SEED, START, steps=5)
    history = run.history
    assert isinstance(history, History) and len(history) == 6
    assert history[-1] == history[5] == Point(5, history.rows[5][0], ("W1", "W2", "B"),
                                              history.rows[5][1:4], history.rows[5][4:])
    assert history[1:3] == (history[1], history[2]) and list(history)[::2] == list(history[::2])
    assert history.losses == [point.loss for point in history]
    with pytest.raises(IndexError):
        history[6]
