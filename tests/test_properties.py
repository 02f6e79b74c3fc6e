"""Property tests: on random expression trees the engine agrees with SymPy and with
central finite differences, wherever the function is smooth, as `gg.check` reports it."""

import math
import os

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad import OPS, backward, build, forward, inputs

from .trees import NAMES, to_expr
from .trees import trees as _trees

MARGIN = 1e-3  # how far from a kink, a pole or a domain edge a point must be


def trees():
    return _trees(constants=(0.5, 2.0, 3.0, -1.5), max_leaves=10)


def smooth_here(graph, values):
    """True when every operation is well inside its smooth domain at this point."""
    position = {node.name: i for i, node in enumerate(graph)}
    for node in graph:
        op = OPS.get(node.op)
        if op is None or op.side is None:
            continue
        args = tuple(values[position[name]] for name in node.inputs)
        varies = (True,) * op.arity
        here = op.side(args, varies)  # the op table says where its kinks and domain edges are
        for slot in range(op.arity):
            for shift in (-MARGIN, MARGIN):
                moved = list(args)
                moved[slot] += shift
                if op.side(tuple(moved), varies) != here:
                    return False
    return all(math.isfinite(v) and abs(v) < 1e6 for v in values)


points = st.fixed_dictionaries({name: st.floats(-3, 3) for name in NAMES})


@settings(max_examples=int(os.environ.get("GG_EXAMPLES", 150)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(trees(), points)
def test_engine_matches_sympy_and_finite_differences(tree, point):
    expr = to_expr(tree, dict(zip(NAMES, inputs(NAMES))))
    assume(isinstance(expr, gg.Expr) and expr.op not in ("input", "const"))
    graph = build(expr.named("L"), inputs=list(NAMES))
    values = forward(graph, point)
    assume(smooth_here(graph, values))
    trace = backward(graph, point)
    assume(all(math.isfinite(g) and abs(g) < 1e6 for g in trace.gradients.values()))

    # the public helper: SymPy closed forms, the engine and central finite differences
    report = gg.check(trace, rtol=1e-8, atol=1e-9, simplify=False)  # simplify only changes the display
    assert report.ok, report.to_text()
    assert {row.status for row in report.rows} == {"agree"}, report.to_text()
    assert [row.wrt for row in report.rows][:3] == list(NAMES)
    for row in report.rows:  # a finite difference is left out only when its steps cross a kink or edge
        assert row.finite_difference is not None or "across a kink" in row.note, row
