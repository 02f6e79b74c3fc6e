"""The reverse-mode engine: exact values, fan-out, kinks, IEEE statuses, strict mode, purity."""

import math

import pytest

import graphviz_grad as gg
from graphviz_grad import Edge, InputValueError, NumericError, backward, forward, inputs, parse

from .conftest import EXAMPLE_1, EXAMPLE_2, SEED

INF, NAN = math.inf, math.nan


def run(text, **values):
    return backward(parse(text), values)


def test_seed_example_1_exactly():
    trace = backward(parse(SEED), EXAMPLE_1)
    assert trace.output_value == 4.0
    assert trace.gradients == {"x": 0.4, "W1": 20.0, "y": 0.8, "W2": 40.0, "B": -4.0}
    assert [trace.value(n) for n in ("z1", "z2", "z3", "z4", "L")] == [0.5, 2.0, 2.5, 2.0, 4.0]
    assert [trace.grad(n) for n in ("z1", "z2", "z3", "z4", "L")] == [4.0, 4.0, 4.0, 4.0, 1.0]


def test_seed_example_2_is_a_minimum():
    trace = backward(parse(SEED), EXAMPLE_2)
    assert trace.output_value == 0.0
    assert all(g == 0.0 for g in trace.gradients.values())


def test_edges_record_local_derivatives_and_contributions():
    trace = backward(parse(SEED), EXAMPLE_1)
    edges = {(e.source, e.target): e for e in trace.edges}
    assert edges["z4", "L"] == Edge("z4", "L", 0, 4.0, 4.0)
    assert edges["B", "z4"] == Edge("B", "z4", 1, -1.0, -4.0)
    assert edges["W1", "z1"] == Edge("W1", "z1", 1, 5.0, 20.0)
    assert edges["2", "L"] == Edge("2", "L", 1, None, None)  # no derivative into a constant
    assert len(trace.edges) == 10


def test_steps_run_from_the_output_back_to_the_inputs():
    trace = backward(parse(SEED), EXAMPLE_1)
    steps = trace.steps
    assert [s.node for s in steps] == ["L", "z4", "z3", "z2", "z1", "B", "W2", "y", "W1", "x"]
    assert steps[0].grad == 1.0 and steps[0].received == ()
    assert [(e.source, e.local, e.contribution) for e in steps[1].sent] == [("z3", 1.0, 4.0), ("B", -1.0, -4.0)]
    assert [s.index for s in steps] == list(range(10))
    for step in steps[1:]:
        assert step.grad == sum(e.contribution for e in step.received)


def test_colah_fan_out_sums_contributions():
    trace = run("c = a + b; d = b + 1; e = c*d", a=2, b=1)
    assert trace.output_value == 6.0
    assert trace.gradients == {"a": 2.0, "b": 5.0}
    step_b = next(s for s in trace.steps if s.node == "b")
    assert [(e.target, e.local, e.contribution) for e in step_b.received] == [("c", 1.0, 2.0), ("d", 1.0, 3.0)]


@pytest.mark.parametrize(("text", "a", "expected"), [
    ("L = a + a", 3.0, 2.0),
    ("L = a * a", 3.0, 6.0),
    ("L = a - a", 3.0, 0.0),
    ("b = a + a; L = b + b", 3.0, 4.0),
    ("L = a * a * a", 2.0, 12.0),
    ("L = a / a", 2.0, 0.0),
])
def test_fan_out_accumulates(text, a, expected):
    assert run(text, a=a).gradients["a"] == expected


@pytest.mark.parametrize(("text", "values", "expected"), [
    ("L = relu(x)", {"x": 0.0}, {"x": 0.0}),
    ("L = abs(x)", {"x": 0.0}, {"x": 0.0}),
    ("L = max(x, y)", {"x": 1.0, "y": 1.0}, {"x": 0.5, "y": 0.5}),
    ("L = min(x, y)", {"x": 1.0, "y": 1.0}, {"x": 0.5, "y": 0.5}),
    ("L = sqrt(x)", {"x": 0.0}, {"x": INF}),
    ("L = x**0", {"x": 0.0}, {"x": 0.0}),
    ("L = x**y", {"x": 0.0, "y": 0.0}, {"x": 0.0, "y": 0.0}),
])
def test_kink_conventions_through_the_engine(text, values, expected):
    assert run(text, **values).gradients == expected


def test_zero_to_the_zero_is_one():
    assert run("L = x**y", x=0.0, y=0.0).output_value == 1.0


@pytest.mark.parametrize(("text", "values", "value", "status"), [
    ("L = 1/x", {"x": 0.0}, INF, "inf"),
    ("L = log(x)", {"x": 0.0}, -INF, "inf"),
    ("L = log(x)", {"x": -1.0}, NAN, "domain"),
    ("L = exp(x)", {"x": 1000.0}, INF, "inf"),
    ("L = sqrt(x)", {"x": -4.0}, NAN, "domain"),
    ("L = x/y", {"x": 0.0, "y": 0.0}, NAN, "domain"),
    ("L = exp(x) - exp(x)", {"x": 1000.0}, NAN, "domain"),
    ("L = x**0.5", {"x": -1.0}, NAN, "domain"),
    ("L = x*2", {"x": NAN}, NAN, "nan"),
    ("L = x*2", {"x": 3.0}, 6.0, "ok"),
])
def test_ieee_results_and_statuses(text, values, value, status):
    trace = run(text, **values)
    result = trace.output_value
    assert (math.isnan(result) and math.isnan(value)) or result == value
    assert trace.status("L") == status


def test_nan_is_marked_where_it_was_born_and_where_it_spread():
    trace = run("a = log(x); b = a * 2; L = b + y", x=-1.0, y=1.0)
    assert [trace.status(n) for n in ("x", "a", "b", "L")] == ["ok", "domain", "nan", "nan"]


def test_nothing_raises_and_nothing_is_complex():
    trace = run("L = (x**y + log(x) + sqrt(x) + 1/(x+1)) * exp(-x**2 * 1000)", x=-1.0, y=0.5)
    assert all(isinstance(v, float) for v in trace.values + trace.grads)


def test_unused_inputs_get_zero_even_next_to_faults():
    trace = run("u = log(a - a) * a\nL = b*3", a=2.0, b=1.0)
    assert trace.gradients == {"a": 0.0, "b": 3.0}
    assert "u" not in [s.node for s in trace.steps]
    assert trace.status("u") in ("inf", "nan", "domain")


def test_unused_inputs_listed_in_the_builder():
    x, y = inputs("x y")
    trace = backward(gg.build(x * 2, inputs=[x, y]), {"x": 1.0, "y": 5.0})
    assert trace.gradients == {"x": 2.0, "y": 0.0}


def test_constant_subexpressions_get_no_gradient():
    trace = run("L = x * (2*3)", x=1.0)
    assert trace.gradients == {"x": 6.0}
    assert trace.grad("z1") == 0.0


def test_backward_is_a_pure_function():
    graph = parse("c = a + b; d = b + 1; e = c*d + log(a)")
    first = backward(graph, {"a": 2.0, "b": 1.0})
    second = backward(graph, {"a": 2.0, "b": 1.0})
    assert first == second
    assert first.steps == second.steps
    assert graph == parse("c = a + b; d = b + 1; e = c*d + log(a)")


def test_runs_with_nan_compare_equal():
    graph = parse("L = x - y")
    assert backward(graph, {"x": INF, "y": INF}) == backward(graph, {"x": INF, "y": INF})
    assert backward(graph, {"x": 1.0, "y": 0.0}) != backward(graph, {"x": 2.0, "y": 0.0})


def test_any_real_number_type_is_accepted():
    from decimal import Decimal
    from fractions import Fraction

    trace = backward(parse("L = x*y*z"), {"x": Decimal("0.5"), "y": Fraction(1, 4), "z": 10**400})
    assert trace.values[:3] == (0.5, 0.25, INF)


def test_forward_values_and_sequence_form():
    graph = parse(SEED)
    values = forward(graph, [5, 0.1, 10, 0.2, 0.5])
    assert values[graph.index("L")] == 4.0
    assert backward(graph, [5, 0.1, 10, 0.2, 0.5]).gradients["W1"] == 20.0


@pytest.mark.parametrize(("values", "message"), [
    ({"x": 1.0}, "missing a value for input 'y'"),
    ({"x": 1.0, "y": 2.0, "q": 3.0}, "'q' is not an input"),
    ({"x": 1.0, "q": 3.0}, r"missing a value for input 'y' \('q' is not an input\)"),
    ({"x": 1.0, "y": "2"}, "must be a real number"),
    ({"x": 1.0, "y": True}, "must be a real number"),
    ({"x": 1.0, "y": None}, "must be a real number"),
    ({"x": 1.0, "y": 1j}, "must be a real number"),
    ({"x": 1.0, "y": b"2"}, "must be a real number"),
    ({"x": 1.0, "y": [2.0]}, "must be a real number"),
    ([1.0], "expected 2 values"),
])
def test_bad_values_name_the_input(values, message):
    with pytest.raises(InputValueError, match=message):
        backward(parse("L = x*y"), values)


def test_values_naming_an_intermediate_node_are_refused():
    with pytest.raises(InputValueError, match="'z1' is not an input"):
        backward(parse("L = x*y + 1"), {"x": 1, "y": 2, "z1": 3})


def test_strict_mode_names_the_node_its_op_and_inputs():
    with pytest.raises(NumericError) as caught:
        backward(parse("a = x - 1; b = log(a); L = b*2"), {"x": 1.0}, strict=True)
    error = caught.value
    assert (error.node, error.op, error.inputs) == ("b", "log", (("a", 0.0),))
    assert "'b'" in str(error) and "log" in str(error)


def test_strict_mode_catches_non_finite_gradients_and_blames_the_operation():
    with pytest.raises(NumericError, match="gradient dL/dx is inf") as caught:
        backward(parse("a = sqrt(x); L = a*3"), {"x": 0.0}, strict=True)
    assert (caught.value.node, caught.value.op, caught.value.inputs) == ("a", "sqrt", (("x", 0.0),))
    assert "a = sqrt(x) with x = 0.0" in str(caught.value)
    assert backward(parse("L = sqrt(x)"), {"x": 4.0}, strict=True).gradients == {"x": 0.25}


def test_constant_output_and_leaf_output():
    trace = run("L = 2*3")
    assert trace.output_value == 6.0 and trace.grad("L") == 1.0 and trace.steps == ()
    assert backward(parse("x"), {"x": 2.0}).gradients == {"x": 1.0}


def test_tanh_and_sigmoid_are_stable_far_out():
    for x in (-1000.0, 1000.0):
        for f in ("tanh", "sigmoid"):
            trace = run(f"L = {f}(x)", x=x)
            assert math.isfinite(trace.output_value) and trace.gradients["x"] == 0.0


def test_repr_is_informative():
    assert "L = 4.0" in repr(backward(parse(SEED), EXAMPLE_1))


@pytest.mark.slow
def test_a_million_node_chain_runs_both_passes():
    (x,) = inputs("x")
    node = x
    for _ in range(500_000):
        node = gg.tanh(node * 0.5)
    graph = gg.build(node)
    assert len(graph) == 1_000_002
    trace = backward(graph, {"x": 0.3})
    assert 0.0 < trace.gradients["x"] < 1e-100 or trace.gradients["x"] == 0.0
    assert len(trace.steps) == 1_000_001


def test_grad_shortcut_takes_keywords_a_mapping_or_a_sequence():
    assert gg.grad("L = x*y", x=2, y=3).gradients == {"x": 3.0, "y": 2.0}
    assert gg.grad("L = x*y", {"x": 2}, y=3).gradients == {"x": 3.0, "y": 2.0}
    assert gg.grad("L = x*y", [2, 3]).gradients == {"x": 3.0, "y": 2.0}
    assert gg.grad("L = strict*2", {"strict": 1.0}).gradients == {"strict": 2.0}
    with pytest.raises(InputValueError, match="not both"):
        gg.grad("L = x*y", [2], y=3)


def test_mappings_that_invent_values_do_not_hide_missing_inputs():
    import collections

    graph = parse("L = x*y")
    with pytest.raises(InputValueError, match="missing a value for input 'y'"):
        backward(graph, collections.defaultdict(float, x=3.0))
    with pytest.raises(InputValueError, match="missing a value for input 'y'"):
        backward(graph, collections.Counter(x=1, q=2))


@pytest.mark.parametrize("values", [3, 3.0, None, "12", b"12", {1.0, 2.0}])
def test_values_of_the_wrong_kind_are_refused(values):
    with pytest.raises(InputValueError, match="values must be a mapping"):
        backward(parse("L = x*y"), values)


def test_numpy_and_other_real_types():
    import numpy as np
    graph = parse("L = x*y")
    assert backward(graph, np.array([2.0, 3.0])).gradients == {"x": 3.0, "y": 2.0}
    assert backward(graph, {"x": np.float32(2), "y": np.int64(3)}).gradients == {"x": 3.0, "y": 2.0}
    for bad in (np.bool_(True), np.complex64(1 + 2j)):
        with pytest.raises(InputValueError, match="real number"):
            backward(graph, {"x": 1.0, "y": bad})


def test_backward_needs_a_graph():
    with pytest.raises(gg.GraphError, match="expected a Graph"):
        backward("L = x*2", {"x": 1.0})
    with pytest.raises(gg.GraphError, match="expected a Graph"):
        forward(None, {})


def test_negative_infinity_to_a_fractional_power_follows_ieee():
    assert run("L = x**0.5", x=-INF).output_value == INF
    assert run("L = x**y", x=-INF, y=-0.5).output_value == 0.0


def test_a_value_given_twice_to_grad_is_refused():
    with pytest.raises(InputValueError, match="given both"):
        gg.grad("L = x*2", {"x": 1.0}, x=2.0)


@pytest.mark.parametrize("value", ["2", True, None, 1j, b"2", [2.0]])
def test_a_value_of_the_wrong_type_is_a_type_error_too(value):
    # wrong argument type -> TypeError, still an InputValueError for code that catches those
    with pytest.raises(TypeError, match="must be a real number"):
        backward(parse("L = x*y"), {"x": 1.0, "y": value})
    with pytest.raises(TypeError, match="must be a real number"):
        gg.grad("L = x*y", x=1.0, y=value)


def test_grad_takes_a_builder_expression_like_tangents_hessian_and_check():
    x, y, W1, W2, B = inputs("x y W1 W2 B")
    loss = (x * W1 + y * W2 - B) ** 2
    assert gg.grad(loss, EXAMPLE_1).gradients == gg.grad(SEED, **EXAMPLE_1).gradients
    assert gg.grad(loss.named("L"), **EXAMPLE_1).gradients["W1"] == 20.0
    for wrong in (123, None, b"L = x", ["L = x*y"]):
        with pytest.raises(TypeError, match="formula"):
            gg.grad(wrong, x=1.0)
