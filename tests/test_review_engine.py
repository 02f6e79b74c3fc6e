"""Regressions found by a review of the column graph (issue 14): lazily made names under
threads, read-only public fields, and imported graphs that must survive pickle and JSON."""

import json
import math
import pickle
import threading

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad.graph import Graph
from graphviz_grad.serialize import trace_to_dict


def test_a_graph_named_by_another_thread_meanwhile_still_reads_its_names(monkeypatch):
    """Two threads reading a fresh graph's nodes: the second one finds no names yet, then the
    first finishes naming (and drops its namer) before the second looks for the namer."""
    x, y = gg.inputs("x y")
    graph = gg.build(x * y + x)
    slot = Graph.__dict__["_names"]
    raced = []

    class Racing:  # the slot, with the other thread run to its end right after the first read
        def __get__(self, obj, cls=None):
            value = slot.__get__(obj, cls)
            if obj is graph and value is None and not raced:
                raced.append(True)
                other = threading.Thread(target=lambda: graph.nodes)
                other.start()
                other.join()
            return value

        def __set__(self, obj, value):
            slot.__set__(obj, value)

    monkeypatch.setattr(Graph, "_names", Racing())
    assert [node.name for node in graph.nodes] == ["x", "y", "z1", "L"]
    assert raced


def test_a_graph_never_changes_its_output_or_inputs():
    x, y = gg.inputs("x y")
    graph = gg.build(x * y)
    for field, value in (("output", "x"), ("inputs", ("y",)), ("nodes", ()), ("input_set", frozenset())):
        with pytest.raises(AttributeError):
            setattr(graph, field, value)
    assert (graph.output, graph.inputs) == ("L", ("x", "y"))


def test_micrograd_labels_with_spaces_at_their_ends_are_refused_like_any_node_name():
    """Such a name made a trace that could not be pickled or loaded back from its own JSON."""
    micrograd = pytest.importorskip("micrograd.engine")
    a, b = micrograd.Value(2.0), micrograd.Value(3.0)
    a.label, b.label = " a", "b"
    with pytest.raises(gg.GraphError, match="' a'"):
        gg.from_micrograd(a * b)
    a.label = "a"
    trace = gg.from_micrograd(a * b)
    assert pickle.loads(pickle.dumps(trace)) == trace
    assert gg.load(json.dumps(trace_to_dict(trace))) == trace


@st.composite
def _micrograd_graphs(draw):
    """A random micrograd graph (fan-out, x*x, labels that collide with our z/v names), as
    steps to replay: (kind, argument positions, operand)."""
    steps = [("leaf", (0, 0), draw(st.sampled_from((0.5, -1.0, 2.0, 0.25, 3.0)))) for _ in range(draw(st.integers(1, 4)))]
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(("add", "mul", "pow", "relu", "neg", "sub", "square", "div")))
        first, second = (draw(st.integers(0, len(steps) - 1)) for _ in range(2))
        steps.append((kind, (first, second), draw(st.sampled_from((2, 3)))))
    labels = draw(st.lists(st.sampled_from(("a", "z1", "z2", "v1", "L", "h")), unique=True, max_size=3))
    labels = labels[:len(steps)]
    where = draw(st.lists(st.integers(0, len(steps) - 1), min_size=len(labels), max_size=len(labels), unique=True))
    return steps, dict(zip(where, labels, strict=True))


@settings(max_examples=150, deadline=None)
@given(_micrograd_graphs())
def test_from_micrograd_gives_micrograds_gradients_on_random_graphs(graph):
    micrograd = pytest.importorskip("micrograd.engine")
    steps, labels = graph
    made = []
    for kind, (a, b), operand in steps:
        try:
            made.append(micrograd.Value(operand) if kind == "leaf" else _micrograd_step(kind, made[a], made[b], operand))
        except (ZeroDivisionError, OverflowError):  # micrograd's own forward pass fails
            assume(False)
    for position, label in labels.items():
        made[position].label = label
    root = made[-1]
    assume(all(map(math.isfinite, (value.data for value in made))))
    trace = gg.from_micrograd(root)
    root.backward()
    leaves = [value for value in {root, *_ancestors(root)} if not value._prev]  # with micrograd's own -1s
    assert sorted(trace.gradients.values()) == pytest.approx(sorted(leaf.grad for leaf in leaves), rel=1e-12,
                                                             abs=1e-300)
    for leaf in leaves:
        if getattr(leaf, "label", ""):
            assert trace.gradients[leaf.label] == pytest.approx(leaf.grad, rel=1e-12, abs=1e-300)
    assert trace.output_value == root.data
    assert pickle.loads(pickle.dumps(trace)) == trace
    assert gg.load(json.dumps(trace_to_dict(trace))) == trace


def _micrograd_step(kind, x, y, exponent):
    if kind in ("add", "mul", "sub"):
        return x + y if kind == "add" else x * y if kind == "mul" else x - y
    if kind == "pow":
        return x**exponent
    if kind == "square":
        return x * x
    return -x if kind == "neg" else x / y if kind == "div" else x.relu()


def _ancestors(root):
    seen, stack = set(), [root]
    while stack:
        for child in stack.pop()._prev:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


_X = gg.inputs("x")[0]
_WRONG_TYPES = {
    "build a str": lambda: gg.build("x"),
    "build also=5": lambda: gg.build(_X * 2, also=5),
    "build also=['a']": lambda: gg.build(_X * 2, also=["a"]),
    "build inputs=5": lambda: gg.build(_X * 2, inputs=5),
    "inputs(5)": lambda: gg.inputs(5),
    "inputs([5])": lambda: gg.inputs([5]),
    "const('s')": lambda: gg.const("s"),
    "const(True)": lambda: gg.const(True),
    "apply(5, x)": lambda: gg.apply(5, _X),
    "apply('add', x, 's')": lambda: gg.apply("add", _X, "s"),
    "exp('s')": lambda: gg.exp("s"),
    "named(5)": lambda: (_X * 2).named(5),
    "group(5)": lambda: gg.group(5).__enter__(),
    "Graph(5, 'x')": lambda: gg.Graph(5, "x"),
    "Graph(nodes, 5)": lambda: gg.Graph([gg.Node("x", "input")], 5),
    "Graph([5], 'x')": lambda: gg.Graph([5], "x"),
    "Node inputs a list": lambda: gg.Graph([gg.Node("x", "input"), gg.Node("y", "neg", ["x"])], "y"),
    "backward(5, {})": lambda: gg.backward(5, {}),
    "forward(5, {})": lambda: gg.forward(5, {}),
    "backward(graph, 'abc')": lambda: gg.backward(gg.parse("L = x*2"), "abc"),
    "backward(graph, 5)": lambda: gg.backward(gg.parse("L = x*2"), 5),
}


@pytest.mark.parametrize("call", _WRONG_TYPES.values(), ids=_WRONG_TYPES)
def test_a_wrong_argument_type_is_a_type_error_and_still_the_librarys_error(call):
    with pytest.raises(TypeError) as caught:
        call()
    assert isinstance(caught.value, gg.GraphvizGradError | ValueError)  # what callers caught before
    assert "\n" not in str(caught.value)


def test_wrong_values_stay_value_errors_not_type_errors():
    for call in (lambda: gg.const(float("nan")), lambda: gg.inputs(["a b "]), lambda: gg.apply("nope", _X),
                 lambda: gg.backward(gg.parse("L = x*2"), [1.0, 2.0])):
        with pytest.raises(ValueError) as caught:
            call()
        assert not isinstance(caught.value, TypeError)
