"""The op table: forward rules, local derivatives, IEEE semantics and kink conventions."""

import math
import warnings

import pytest
import sympy

from graphviz_grad.ops import FUNCTIONS, INFIX, OPS, PREFIX

INF, NAN = math.inf, math.nan

# Points where every op is smooth, for a finite-difference check of its partials.
SMOOTH_POINTS = {
    1: [(0.7,), (-1.3,), (2.5,)],
    2: [(0.7, 1.9), (-1.3, 0.4), (2.5, -3.0)],
}
POSITIVE_ONLY = {"log", "sqrt"}


def _points(op):
    for point in SMOOTH_POINTS[op.arity]:
        if op.name in POSITIVE_ONLY or op.name == "pow":
            point = tuple(abs(p) for p in point)
        yield point


@pytest.mark.parametrize("name", list(OPS))
def test_partials_match_central_differences(name):
    op = OPS[name]
    for point in _points(op):
        out = op.forward(*point)
        partials = op.partials(*point, out)
        assert len(partials) == op.arity
        for slot in range(op.arity):
            h = 1e-6 * max(1.0, abs(point[slot]))
            up = list(point)
            down = list(point)
            up[slot] += h
            down[slot] -= h
            estimate = (op.forward(*up) - op.forward(*down)) / (2 * h)
            assert partials[slot] == pytest.approx(estimate, rel=1e-6, abs=1e-8), (name, point, slot)


@pytest.mark.parametrize("name", list(OPS))
def test_partials_match_sympy(name):
    op = OPS[name]
    symbols = sympy.symbols("a b", real=True)[: op.arity]
    expression = op.sympy(sympy, *symbols)
    for point in _points(op):
        out = op.forward(*point)
        assert out == pytest.approx(float(expression.subs(dict(zip(symbols, point)))), rel=1e-12)
        for slot, symbol in enumerate(symbols):
            exact = float(sympy.diff(expression, symbol).subs(dict(zip(symbols, point))))
            assert op.partials(*point, out)[slot] == pytest.approx(exact, rel=1e-12, abs=1e-15)


def test_table_is_complete_and_consistent():
    activations = {"softplus", "leaky_relu", "elu", "silu", "gelu"}
    assert set(OPS) == {"add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "sin", "cos",
                        "tanh", "sigmoid", "relu", "abs", "max", "min"} | activations
    assert set(FUNCTIONS) == {"exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs",
                              "max", "min"} | activations
    assert {k: v.name for k, v in INFIX.items()} == {"+": "add", "-": "sub", "*": "mul", "/": "div",
                                                      "**": "pow"}
    assert {k: v.name for k, v in PREFIX.items()} == {"-": "neg"}
    for op in OPS.values():
        assert op.text.format(*["a", "b"][: op.arity]).count("{") == 0
        assert op.symbol


@pytest.mark.parametrize(("name", "args", "expected"), [
    ("div", (1.0, 0.0), INF),
    ("div", (-1.0, 0.0), -INF),
    ("div", (1.0, -0.0), -INF),
    ("div", (0.0, 0.0), NAN),
    ("log", (0.0,), -INF),
    ("log", (-1.0,), NAN),
    ("log", (INF,), INF),
    ("exp", (1000.0,), INF),
    ("exp", (-1000.0,), 0.0),
    ("sqrt", (-1.0,), NAN),
    ("pow", (-8.0, 1 / 3), NAN),
    ("pow", (-1e200, 2.5), NAN),
    ("pow", (-1e-200, -2.5), NAN),
    ("pow", (-2.0, INF), INF),
    ("pow", (-0.5, INF), 0.0),
    ("pow", (0.0, -1.0), INF),
    ("pow", (-0.0, -1.0), -INF),
    ("pow", (10.0, 400.0), INF),
    ("pow", (-10.0, 401.0), -INF),
    ("pow", (-10.0, 400.0), INF),
    ("pow", (9.0, 9.0**9), INF),
    ("pow", (-2.0, 3.0), -8.0),
    ("sin", (INF,), NAN),
    ("cos", (-INF,), NAN),
    ("tanh", (1000.0,), 1.0),
    ("tanh", (-1000.0,), -1.0),
    ("sigmoid", (1000.0,), 1.0),
    ("sigmoid", (-1000.0,), 0.0),
    ("sigmoid", (-INF,), 0.0),
    ("relu", (NAN,), NAN),
    ("max", (NAN, 1.0), NAN),
    ("min", (1.0, NAN), NAN),
    ("add", (INF, -INF), NAN),
    ("softplus", (1000.0,), 1000.0),
    ("softplus", (-1000.0,), 0.0),
    ("softplus", (INF,), INF),
    ("leaky_relu", (-2.0,), -0.02),
    ("leaky_relu", (NAN,), NAN),
    ("elu", (-INF,), -1.0),
    ("elu", (-1000.0,), -1.0),
    ("silu", (-1000.0,), -0.0),
    ("silu", (1000.0,), 1000.0),
    ("gelu", (1000.0,), 1000.0),
    ("gelu", (-1000.0,), -0.0),
])
def test_ieee_forward(name, args, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = OPS[name].forward(*args)
    assert isinstance(result, float)
    if math.isnan(expected):
        assert math.isnan(result)
    else:
        assert result == expected
        assert math.copysign(1.0, result) == math.copysign(1.0, expected)


@pytest.mark.parametrize(("name", "args", "expected"), [
    ("relu", (0.0,), (0.0,)),
    ("relu", (2.0,), (1.0,)),
    ("relu", (-2.0,), (0.0,)),
    ("abs", (0.0,), (0.0,)),
    ("abs", (-3.0,), (-1.0,)),
    ("max", (2.0, 2.0), (0.5, 0.5)),
    ("max", (3.0, 2.0), (1.0, 0.0)),
    ("min", (2.0, 2.0), (0.5, 0.5)),
    ("min", (3.0, 2.0), (0.0, 1.0)),
    ("sqrt", (0.0,), (INF,)),
    ("sqrt", (-0.0,), (INF,)),
    ("pow", (0.0, 0.0), (0.0, 0.0)),
    ("pow", (3.0, 0.0), (0.0, math.log(3.0))),
    ("pow", (0.0, 2.0), (0.0, 0.0)),
    ("pow", (0.0, 0.5), (INF, 0.0)),
    ("tanh", (1000.0,), (0.0,)),
    ("sigmoid", (-1000.0,), (0.0,)),
    ("sigmoid", (1000.0,), (0.0,)),
    ("div", (1.0, 0.0), (INF, -INF)),
    ("leaky_relu", (0.0,), (0.01,)),
    ("leaky_relu", (-3.0,), (0.01,)),
    ("elu", (0.0,), (1.0,)),
    ("softplus", (1000.0,), (1.0,)),
    ("softplus", (-1000.0,), (0.0,)),
    ("silu", (-1000.0,), (-0.0,)),
    ("silu", (INF,), (1.0,)),
    ("gelu", (-1000.0,), (0.0,)),
    ("gelu", (1000.0,), (1.0,)),
])
def test_kink_and_edge_conventions(name, args, expected):
    op = OPS[name]
    out = op.forward(*args)
    assert op.partials(*args, out) == expected


def test_pow_zero_to_zero_is_one():
    assert OPS["pow"].forward(0.0, 0.0) == 1.0


def test_negative_base_exponent_partial_is_nan_not_complex():
    d_base, d_exponent = OPS["pow"].partials(-2.0, 2.0, 4.0)
    assert d_base == -4.0
    assert math.isnan(d_exponent)


@pytest.mark.parametrize("name", [name for name, op in OPS.items() if op.constant_partials is not None])
def test_constant_partials_agree_with_the_rule(name):
    op = OPS[name]
    for point in SMOOTH_POINTS[op.arity]:
        assert op.partials(*point, op.forward(*point)) == op.constant_partials


@pytest.mark.parametrize("name", [name for name, op in OPS.items() if op.swapped_partials])
def test_swapped_partials_agree_with_the_rule(name):
    op = OPS[name]
    for a, b in SMOOTH_POINTS[2]:
        assert op.partials(a, b, op.forward(a, b)) == (b, a)


KINK_POINTS = {1: [(0.0,)], 2: [(2.0, 2.0), (0.0, 0.0), (0.0, 0.5), (0.0, 3.0), (0.0, -1.0)]}


@pytest.mark.parametrize("name", [name for name, op in OPS.items() if op.kink is not None])
def test_kink_fields_agree_with_the_engines_convention(name):
    """At a kink the exact convention (`kink_partials`) is what the engine's float rule gives."""
    op = OPS[name]
    assert op.convention and op.kink_partials is not None and op.side is not None
    assert op.kink_place.format("a", "b", op=name, node="z1", v="0")
    checked = 0
    for args in KINK_POINTS[op.arity]:
        if not any(op.kink(slot, args) for slot in range(op.arity)):
            continue
        exact = op.kink_partials(sympy, *(sympy.Float(a, 30) for a in args))
        assert exact is not None, (name, args)
        engine = op.partials(*args, op.forward(*args))
        assert [float(value) for value in exact] == list(engine), (name, args)
        checked += 1
    assert checked


@pytest.mark.parametrize("name", [name for name, op in OPS.items() if op.far is not None])
def test_far_limits_are_the_engines_values_far_out(name):
    op = OPS[name]
    assert op.arity == 1
    value_up, value_down, slope_up, slope_down = op.far
    for x, value, slope in ((1e300, value_up, slope_up), (-1e300, value_down, slope_down)):
        if math.isnan(value):
            continue
        out = op.forward(x)
        assert out == value or (math.isinf(value) and out > 1e299), (name, x)
        assert op.partials(x, out)[0] == pytest.approx(slope), (name, x)


@pytest.mark.parametrize("name", [name for name, op in OPS.items() if op.exact_bits is not None])
def test_exact_folding_is_exact(name):
    op = OPS[name]
    args = [sympy.Rational(3, 7), sympy.Integer(2)][: op.arity]
    assert op.exact_bits(*args) < 64
    assert op.sympy(sympy, *args).is_Rational
