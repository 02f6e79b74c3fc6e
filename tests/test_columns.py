"""The one-shot path's column form: `build` and `from_micrograd` make a graph of columns whose
nodes, names and index are made on first read, and the engine skips its dependency sweeps
when every operation is live. Everything read from such a graph must equal what the
validating `Graph(nodes, output)` constructor and the engine's general path give."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad import engine
from graphviz_grad.graph import _Namer

from .trees import NAMES, to_expr, trees


def _same_numbers(a, b):
    return all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


def _reference_live(graph):
    """Depends on an input and reaches the output, by two sweeps over the nodes."""
    args = graph.arg_indices
    depends = [node.op == "input" for node in graph.nodes]
    for i in range(len(graph)):
        if args[i]:
            depends[i] = any(depends[a] for a in args[i])
    reaches = [False] * len(graph)
    reaches[graph.index(graph.output)] = True
    for i in range(len(graph) - 1, -1, -1):
        if reaches[i]:
            for a in args[i]:
                reaches[a] = True
    return tuple(d and r for d, r in zip(depends, reaches, strict=True))


@settings(max_examples=150, deadline=None)
@given(trees(), st.lists(st.floats(-3, 3), min_size=3, max_size=3), st.booleans())
def test_a_built_graph_reads_as_the_validated_graph_of_its_nodes(tree, point, shared):
    leaves = dict(zip(NAMES, gg.inputs(NAMES), strict=True))
    out = to_expr(tree, leaves)
    if shared and out.args:  # a subexpression read twice, with its own name
        out = out.named("s") * out + 1.0
    built = gg.build(out, inputs=list(NAMES))
    values = dict(zip(NAMES, point, strict=True))
    trace = gg.backward(built, values)
    assert built._nodes is None  # differentiating never made the nodes or their names
    checked = gg.Graph(built.nodes, built.output)
    assert checked == built and checked.arg_indices == built.arg_indices
    assert [built.index(node.name) for node in built.nodes] == list(range(len(built)))
    assert engine._program(built).live == _reference_live(built) == engine._program(checked).live
    again = gg.backward(checked, values)  # the general path: sweeps, no help from build
    assert _same_numbers(trace.values, again.values) and _same_numbers(trace.grads, again.grads)
    assert [trace.status(n.name) for n in built.nodes] == [again.status(n.name) for n in built.nodes]


def test_names_are_given_in_reading_order_around_names_in_use():
    x, z2, L = gg.inputs("x z2 L")
    out = (x * x + z2).named("z3") * L - x
    graph = gg.build(out)
    assert [node.name for node in graph.nodes] == ["x", "z2", "L", "z1", "z3", "z4", "z5"]
    assert graph.output == "z5"  # "L" is an input's name: the output is numbered instead
    with gg.group("g"):
        a, = gg.inputs("a")
        inner = (a * 2).named("h") + a
    assert str(gg.build(inner * inner)) == "g.h = g.a*2\ng.z1 = g.h + g.a\nL = g.z1*g.z1"


def test_two_operations_with_one_name_and_an_input_named_as_a_constant_are_errors():
    x, = gg.inputs("x")
    with pytest.raises(gg.GraphError, match="two nodes are named 'p'"):
        gg.build((x * 2).named("p") + (x * 3).named("p"))
    two, = gg.inputs("2")
    with pytest.raises(gg.GraphError, match="which is the name of a constant"):
        gg.build(two * 2)


@given(st.lists(st.sampled_from(["x", "z1", "z2", "z3", "z5", "z01", "z١", "2"]), unique=True, max_size=5),
       st.integers(0, 6))
def test_the_last_name_alone_is_the_name_the_whole_naming_gives(taken, extra):
    inputs = [name for name in taken if name != "2"] or ["x"]
    leaves = [*inputs, *(["2"] if "2" in taken else [])]
    namer = _Namer(leaves, {len(leaves): "named"}, None)
    size = len(leaves) + 1 + extra + 1  # the given name, ``extra`` unnamed operations, the last one

    class Stub:  # what the namer reads from a graph
        input_set = frozenset(inputs)

        def __init__(self):
            self.inputs = tuple(inputs)

        def __len__(self):
            return size

    assert namer.last(inputs, size) == namer(Stub())[-1]


def test_from_micrograd_names_the_root_around_labels_and_reads_as_its_validated_graph():
    micrograd = pytest.importorskip("micrograd.engine")
    a, b = micrograd.Value(2.0), micrograd.Value(-3.0)
    a.label, b.label = "z2", "z1"
    root = (a * b + a).relu() + a ** 2 + 1.0
    trace = gg.from_micrograd(root)
    graph = trace.graph
    assert graph._nodes is None
    checked = gg.Graph(graph.nodes, graph.output)
    assert checked == graph and graph.output == graph.nodes[-1].name == "z8"
    root.backward()
    assert trace.gradients["z2"] == a.grad and trace.gradients["z1"] == b.grad
    assert gg.from_micrograd(root).graph == graph  # the same names and order every time


@pytest.mark.parametrize("program", [
    "L = (x*W1 + y*W2 - B)**2",
    "a = x*2\nL = x + 1",  # a statement the output does not read: not live, gradient 0 through it
    "z2 = x*3\nz2*x + 1",  # a statement named like a generated name, then a bare output
    "h = 2*3\nL = h*x + x",  # an operation on constants only
])
def test_a_parsed_graph_reads_as_the_validated_graph_of_its_nodes(program):
    parsed = gg.parse(program)
    point = [0.5 + k for k in range(len(parsed.inputs))]
    trace = gg.backward(parsed, point)
    assert parsed._nodes is None
    checked = gg.Graph(parsed.nodes, parsed.output)
    assert checked == parsed and parsed.output == checked.nodes[checked.index(checked.output)].name
    assert engine._program(parsed).live == _reference_live(parsed)
    again = gg.backward(checked, point)
    assert _same_numbers(trace.values, again.values) and _same_numbers(trace.grads, again.grads)
