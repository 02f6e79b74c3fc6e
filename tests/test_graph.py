"""Graph and builder: names, order, immutability, validation, and equality with the parser."""

import pytest

import graphviz_grad as gg
from graphviz_grad import Graph, GraphError, Node, build, inputs, parse

from .conftest import SEED


def seed_expr():
    x, y, W1, W2, B = inputs("x y W1 W2 B")
    return (x * W1 + y * W2 - B) ** 2


def test_builder_names_the_seed_like_a_teacher():
    graph = build(seed_expr().named("L"))
    assert [n.name for n in graph] == ["x", "W1", "y", "W2", "B", "2", "z1", "z2", "z3", "z4", "L"]
    assert [(n.op, n.inputs) for n in graph][6:] == [
        ("mul", ("x", "W1")), ("mul", ("y", "W2")), ("add", ("z1", "z2")), ("sub", ("z3", "B")),
        ("pow", ("z4", "2"))]
    assert graph.output == "L"
    assert graph.inputs == ("x", "W1", "y", "W2", "B")


def test_builder_and_parser_give_the_same_graph():
    assert build(seed_expr().named("L")) == parse(SEED)
    a, b = inputs("a b")
    c = (a + b).named("c")
    d = (b + 1).named("d")
    assert build((c * d).named("e")) == parse("c = a + b; d = b + 1; e = c*d")


def test_unnamed_output_is_named_L_like_a_bare_expression():
    assert build(seed_expr()) == parse(SEED)
    x, L = inputs("x L")
    assert build(x * L).output == "z1"  # 'L' is taken, so the output gets the next auto name


def test_input_named_like_a_constant_is_refused():
    (two,) = inputs(["2"])
    with pytest.raises(GraphError, match="name of a constant"):
        build(two * 2)


def test_inputs_option_takes_only_inputs():
    x, y = inputs("x y")
    with pytest.raises(GraphError, match=r"lists an? \w+ node"):
        build(x * 2, inputs=[x, (y * 3).named("q")])
    assert build(x * y, inputs="y x").inputs == ("y", "x")
    assert build(x * y, also=None).inputs == ("x", "y")


def test_graph_and_trace_pickle():
    import pickle

    graph = parse(SEED)
    trace = gg.backward(graph, {"x": 5, "y": 10, "W1": 0.1, "W2": 0.2, "B": 0.5})
    copy = pickle.loads(pickle.dumps(trace))
    assert copy == trace and copy.graph == graph and copy.gradients == trace.gradients


def test_user_names_are_skipped_by_auto_names():
    a, b = inputs("a b")
    z1 = (a * b).named("z1")
    graph = build(z1 + a * a)
    assert [n.name for n in graph if n.op != "input"] == ["z1", "z2", "L"]
    assert graph["z2"].inputs == ("a", "a")


def test_any_printable_name_is_allowed_and_kept_literally():
    (x,) = inputs(["<b>"])
    graph = build((x * 2).named('a|b{x}"\\javascript:'))
    assert graph.output == 'a|b{x}"\\javascript:'
    assert graph.inputs == ("<b>",)


@pytest.mark.parametrize("bad", ["", " x", "x\n", "tab\there", 3, "x" * 257])
def test_invalid_names_are_refused(bad):
    with pytest.raises(GraphError):
        inputs([bad])


def test_naming_rules():
    (x,) = inputs("x")
    node = x * 2
    assert node.named("a").named("a") is node
    with pytest.raises(GraphError, match="already named 'a'"):
        node.named("b")
    with pytest.raises(GraphError, match="keeps its own name"):
        x.named("y")


def test_duplicate_names_are_refused():
    (x,) = inputs("x")
    with pytest.raises(GraphError, match="two nodes are named 'q'"):
        build((x * 2).named("q") + (x * 3).named("q"))
    with pytest.raises(GraphError, match="two nodes are named 'x'"):
        build((x * 2).named("x"))


def test_inputs_are_identified_by_name_and_constants_by_value():
    a1, a2 = inputs("a a")
    graph = build(a1 * 2 + a2 * 2.0)
    assert graph.inputs == ("a",)
    assert [n.name for n in graph if n.op == "const"] == ["2"]


def test_explicit_input_order_and_unused_inputs():
    x, y, unused = inputs("x y unused")
    graph = build(x * y, inputs=[unused, "y", x])
    assert graph.inputs == ("unused", "y", "x")
    with pytest.raises(GraphError, match="not listed"):
        build(x * y, inputs=[x])
    with pytest.raises(GraphError, match="twice"):
        build(x * y, inputs=[x, y, x])


def test_also_keeps_operations_the_output_does_not_read():
    x, y = inputs("x y")
    side = (x * 3).named("side")
    graph = build((y + 1).named("L"), also=[side])
    assert "side" in graph and graph.inputs == ("x", "y")
    with pytest.raises(GraphError):
        build(y + 1, also=[3])


def test_numbers_and_functions_build_nodes():
    x, y = inputs("x y")
    expressions = [1 + x, x - 1, 1 - x, 2 * x, x / 2, 2 / x, x ** y, 2 ** x, -x, +x, abs(x),
                   gg.exp(x), gg.log(x), gg.sqrt(x), gg.sin(x), gg.cos(x), gg.tanh(x), gg.sigmoid(x),
                   gg.relu(x), gg.max(x, y), gg.min(x, 0)]
    ops = [e.op for e in expressions]
    assert ops == ["add", "sub", "sub", "mul", "div", "div", "pow", "pow", "neg", "input", "abs", "exp",
                   "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "max", "min"]


def test_bad_operands_and_truth_values():
    (x,) = inputs("x")
    with pytest.raises(TypeError):
        x + "1"
    with pytest.raises(TypeError):
        x * True
    with pytest.raises(TypeError, match="no truth value"):
        bool(x > 0 if False else x)
    with pytest.raises(GraphError, match="finite"):
        x * float("inf")
    with pytest.raises(GraphError, match="takes 2"):
        gg.apply("max", x)
    with pytest.raises(GraphError, match="unknown op"):
        gg.apply("floor", x)
    with pytest.raises(GraphError):
        build("x*2")


def test_graph_is_immutable_plain_data():
    graph = parse(SEED)
    with pytest.raises(AttributeError):
        graph["z1"].name = "q"
    assert isinstance(graph.nodes, tuple)
    assert graph["z3"] == Node("z3", "add", ("z1", "z2"))
    assert graph.index("L") == len(graph) - 1
    with pytest.raises(KeyError, match="no node named 'nope'"):
        graph.index("nope")


@pytest.mark.parametrize(("nodes", "output", "message"), [
    ([Node("a", "input"), Node("a", "input")], "a", "two nodes"),
    ([Node("a", "input"), Node("b", "floor", ("a",))], "b", "unknown op"),
    ([Node("a", "input"), Node("b", "exp", ("a", "a"))], "b", "takes 1"),
    ([Node("b", "exp", ("a",)), Node("a", "input")], "b", "not an earlier node"),
    ([Node("a", "input")], "q", "output"),
    ([Node("c", "const", value=float("nan"))], "c", "finite"),
    ([Node("c", "const")], "c", "finite"),
    ([Node("c", "const", value=True)], "c", "finite"),
    ([Node("a", "input", value=1.0)], "a", "only a constant"),
    ([Node("a", "input", ("a",))], "a", "cannot have arguments"),
    ([Node("a", "input"), Node("b", "neg", ["a"])], "b", "tuple of node names"),
    ([Node("a", "input"), Node("b", "neg", "a")], "b", "tuple of node names"),
    ([Node("a", "input"), Node("b", ["neg"], ("a",))], "b", "unknown op"),
    (["a"], "a", "Node objects"),
])
def test_graph_validates_itself(nodes, output, message):
    """Every malformed node list is refused with a GraphError that says why."""
    with pytest.raises(GraphError, match=message):
        Graph(nodes, output)


def test_constant_values_are_normalised_to_float():
    graph = Graph([Node("2", "const", value=2)], "2")
    assert graph["2"].value == 2.0 and isinstance(graph["2"].value, float)


def test_str_is_a_program_that_parses_back_to_the_same_graph():
    for text in [SEED, "c = a + b; d = b + 1; e = c*d", "L = -x**2 + 2**-1 * max(x, -y) / exp(-x)"]:
        graph = parse(text)
        assert parse(str(graph)) == graph


@pytest.mark.parametrize("call", [
    lambda: inputs(5),
    lambda: inputs(None),
    lambda: build(inputs("x")[0] * 2, inputs=5),
    lambda: build(inputs("x")[0] * 2, inputs=inputs("x")[0]),
    lambda: build(inputs("x")[0] * 2, also=inputs("x")[0] * 3),
    lambda: gg.apply(["neg"], inputs("x")[0]),
    lambda: Graph(5, "x"),
    lambda: Graph(None, "x"),
    lambda: Graph([Node("x", "input")], ["x"]),
    lambda: Graph([Node("c", "const", value=10**400)], "c"),
])
def test_builder_and_graph_misuse_is_a_graph_error(call):
    with pytest.raises(GraphError):
        call()
