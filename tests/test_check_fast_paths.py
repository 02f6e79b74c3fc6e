"""The check's fast paths give what the slow ones give: node values in compiled mpmath against
SymPy's number arithmetic node by node, generated finite-difference programs against the loop,
and the tuple-level comparison against SymPy's."""

from __future__ import annotations

import math

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad.graph import CONST, INPUT
from graphviz_grad.ops import OPS
from graphviz_grad.symbolic.differences import FiniteDifferences, _plan
from graphviz_grad.symbolic.numeric import _sympy_partial, chain_values
from graphviz_grad.symbolic.precise import compare, forward_agreeing, node_values
from graphviz_grad.symbolic.translate import (
    _at_point,
    _depends,
    _local_partials,
    _number,
    _real_or_nan,
    exact,
)

UNARY = [name for name, op in OPS.items() if op.arity == 1]
BINARY = [name for name, op in OPS.items() if op.arity == 2]


def sympy_values(graph: gg.Graph, values: list[float]) -> list[sp.Expr]:
    """The reference values as the check computed them before: SymPy numbers node by node."""
    result: list[sp.Expr] = []
    for i, node in enumerate(graph.nodes):
        if node.op in (INPUT, CONST):
            result.append(_number(exact(values[i] if node.op == INPUT else node.value)))
        else:
            result.append(_at_point(node.op, [result[a] for a in graph.arg_indices[i]]))
    return result


def same_number(fast: sp.Expr, slow: sp.Expr) -> bool:
    if slow is sp.nan or slow is sp.zoo or slow in (sp.oo, -sp.oo):
        return fast is slow or fast == slow
    if not fast.is_Number:
        return False
    return abs(fast - slow) <= sp.Float(1e-25, 30) * max(1, abs(slow))


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("point", [(0.3, 2.0), (-0.7, 0.5), (0.0, 0.0), (2.0, -3.0), (-2.0, 3.0),
                                   (1e300, 10.0), (800.0, 1.0)])
def test_every_op_in_mpmath_is_sympy_at_30_digits(op: str, point: tuple[float, float]) -> None:
    formula = f"L = {op}(x)" if OPS[op].arity == 1 else f"L = {op}(x, y)"
    if op in ("add", "sub", "mul", "div", "pow", "neg"):
        formula = {"add": "L = x + y", "sub": "L = x - y", "mul": "L = x*y", "div": "L = x/y",
                   "pow": "L = x**y", "neg": "L = -x"}[op]
    graph = gg.parse(formula)
    values = list(gg.grad(graph, dict(zip(graph.inputs, point, strict=False))).values)
    fast = node_values(graph, values)
    slow = sympy_values(graph, values)
    for got, want in zip(fast.exprs, slow, strict=True):
        assert same_number(got, want), (formula, point, got, want)
    assert fast.plain == all(v.is_Number and v.is_finite and abs(v) <= 1.7976931348623157e308 for v in slow)


def random_formula(data: st.DataObject) -> str:
    lines, names = [], ["x", "y", "w"]
    for k in range(data.draw(st.integers(1, 6))):
        if data.draw(st.booleans()):
            op = data.draw(st.sampled_from(UNARY))
            text = OPS[op].text.format(data.draw(st.sampled_from(names)))
        else:
            op = data.draw(st.sampled_from(BINARY))
            text = OPS[op].text.format(data.draw(st.sampled_from(names)), data.draw(st.sampled_from(names)))
        lines.append(f"z{k} = {text}")
        names.append(f"z{k}")
    return "; ".join(lines)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_graphs_fast_paths_match_slow_ones(data: st.DataObject) -> None:
    graph = gg.parse(random_formula(data))
    number = st.sampled_from([0.0, 0.5, -0.5, 1.0, -2.0, 3.0, 0.1, 1e-3])
    trace = gg.grad(graph, {name: data.draw(number) for name in graph.inputs})
    values = list(trace.values)
    fast = node_values(graph, values)
    for got, want in zip(fast.exprs, sympy_values(graph, values), strict=True):
        assert same_number(got, want), (graph, got, want)
    differences = FiniteDifferences(trace, atol=1e-10)
    plan = _plan(graph)
    for k in range(len(graph)):
        if not math.isfinite(values[k]):
            continue
        for step in (1e-5, -2e-5):
            generated = plan.program(k)(values, values[k] + step, differences.base_sides)
            looped = differences._evaluate(k, values[k] + step, values, plan.after(k))
            assert generated[1] == looped[1]
            assert generated[0] == looped[0] or (math.isnan(generated[0]) and math.isnan(looped[0]))
    operations = [i for i, node in enumerate(graph.nodes) if node.op not in (INPUT, CONST)]
    agreeing = forward_agreeing(graph, values, operations, rtol=1e-7, atol=1e-10)
    assert all(math.isfinite(values[i]) for i in agreeing)


@pytest.mark.parametrize(("engine", "value"), [(0.1, sp.Rational(1, 10)), (20.0, sp.Float(20, 30)),
                                               (1.0, sp.Integer(2)), (0.0, sp.Integer(0)),
                                               (1e-12, sp.Integer(0)), (3.0, sp.Float("3.0000001", 30))])
def test_compare_is_the_30_digit_comparison(engine: float, value: sp.Expr) -> None:
    abs_error, rel_error, ok = compare(engine, value, rtol=1e-7, atol=1e-10)
    exact_value = sp.Float(value, 30)
    difference = abs(sp.Float(engine, 30) - exact_value)
    assert abs_error == pytest.approx(float(difference), rel=1e-12, abs=0)
    assert ok == bool(difference <= sp.Float(1e-10, 30) + sp.Float(1e-7, 30) * abs(exact_value))
    if not exact_value.is_zero:
        assert rel_error == pytest.approx(float(difference / abs(exact_value)), rel=1e-12, abs=0)


def sympy_chain_values(graph: gg.Graph, ref: list[sp.Expr], depends: list[bool], live: list[bool]) -> list:
    """dL/dz node by node as the check computed it before: SymPy substitution and arithmetic."""
    n, out = len(graph), graph.index(graph.output)
    values: list[sp.Expr] = [sp.Integer(0)] * n
    values[out] = sp.Integer(1)
    for i in range(n - 1, -1, -1):
        node = graph.nodes[i]
        if not live[i] or node.op in (INPUT, CONST):
            continue
        args = graph.arg_indices[i]
        partials = _local_partials(node.op, tuple(None if depends[a] else ref[a] for a in args))
        for slot, a in enumerate(args):
            if partials[slot] is not None and live[a]:
                at_point = _sympy_partial(node.op, partials[slot], None, slot, [ref[b] for b in args])
                values[a] = values[a] + values[i] * _real_or_nan(at_point)
    return [_real_or_nan(value) for value in values]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_chain_rule_in_mpmath_is_sympy_at_30_digits(data: st.DataObject) -> None:
    graph = gg.parse(random_formula(data))
    number = st.sampled_from([0.0, 0.5, -0.5, 1.0, -2.0, 3.0, 0.1, 1e-3])
    trace = gg.grad(graph, {name: data.draw(number) for name in graph.inputs})
    ref = node_values(graph, list(trace.values)).exprs
    depends = _depends(graph)
    live = [True] * len(graph)  # every node, whether or not it reaches the output
    fast = chain_values(graph, ref, depends, live)
    for got, want in zip(fast, sympy_chain_values(graph, ref, depends, live), strict=True):
        assert same_number(got, want), (graph, got, want)


def test_rows_past_the_difference_budget_do_not_search_their_downstream(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphviz_grad.symbolic import differences

    a, c = gg.inputs("a c")
    expr = a
    for _ in range(30):
        expr = expr * c + a
    trace = gg.grad(gg.build(expr.named("L")), a=0.5, c=0.9)
    monkeypatch.setattr(differences, "FD_BUDGET", 400)
    searched = []
    original = differences._Plan.after
    monkeypatch.setattr(differences._Plan, "after", lambda plan, k: searched.append(k) or original(plan, k))
    estimator = FiniteDifferences(trace, atol=1e-10)
    estimated = [k for k in range(len(trace.graph)) if estimator.estimate(k, sp.Integer(1))[0] is not None]
    assert 0 < len(estimated) < len(trace.graph) and estimator.spent <= 400
    assert sorted(set(searched)) == estimated  # the over-budget rows never searched
