"""Groups, summaries, the top gradient paths and the overview of big graphs (docs/big-graphs.md)."""

import contextlib
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad.errors import GraphError
from graphviz_grad.graph import group
from graphviz_grad.groups import MOST_CHILDREN, group_tree
from graphviz_grad.mlp_demo import mlp_trace
from graphviz_grad.overview import Overview, diff, overview
from graphviz_grad.overview_dot import overview_dot, steps
from graphviz_grad.paths import top_paths
from graphviz_grad.summary import kinked, summarize

SMALL = "h.a = x*w; h.b = relu(h.a); L = (h.b - y)**2"


def kinds(graph):
    tree = group_tree(graph)
    return {g.id: (g.kind, g.size) for g in tree.groups[1:]}


# --- declaring groups ---------------------------------------------------------------


def test_dotted_names_in_formulas_declare_nested_groups():
    graph = gg.parse("net.l1.a = x*w\nnet.l1.b = net.l1.a + 1\nnet.c = net.l1.b*2")
    assert kinds(graph) == {"net": ("declared", 3), "net.l1": ("declared", 2)}
    tree = group_tree(graph)
    assert tree.groups[tree.of_node[graph.index("net.l1.a")]].id == "net.l1"
    assert tree.groups[tree.of_node[graph.index("x")]].id == ""


def test_a_dotted_name_with_a_keyword_part_is_an_error():
    with pytest.raises(gg.FormulaError, match="'if' is a Python keyword"):
        gg.parse("a.if = x*2")


def test_builder_groups_prefix_names_and_nest():
    with group("layer1"):
        (w,) = gg.inputs("w")
        with group("n0"):
            h = gg.relu(w * 3 + 1).named("out")
    graph = gg.build(h * 2)
    assert graph.inputs == ("layer1.w",)
    assert str(graph) == ("layer1.n0.z1 = layer1.w*3\nlayer1.n0.z2 = layer1.n0.z1 + 1\n"
                          "layer1.n0.out = relu(layer1.n0.z2)\nL = layer1.n0.out*2")
    assert gg.parse(str(graph)) == graph  # groups survive formula text
    assert kinds(graph)["layer1.n0"] == ("declared", 3)


def test_group_names_are_checked():
    for bad in ("", "a..b", " a", "a. b"):
        with pytest.raises(gg.GraphError), group(bad):
            pass
    with pytest.raises(gg.GraphError):
        group(3).__enter__()


def test_nested_groups_keep_every_name_within_the_name_limit():
    with pytest.raises(GraphError, match="over the limit"), contextlib.ExitStack() as stack:
        for _ in range(300):
            stack.enter_context(gg.group("a"))
    with gg.group("g" * 200), pytest.raises(GraphError, match="over the limit"):
        gg.inputs(["x" * 100])
    with gg.group("g" * 200):
        (x,) = gg.inputs("x")
        graph = gg.build((x * 2 + 1) * 3)
    assert max(len(node.name) for node in graph.nodes) <= 256
    assert gg.Graph(graph.nodes, graph.output) == graph  # the checked constructor (JSON) takes it back

def test_outside_a_group_the_builder_names_as_before():
    x, y = gg.inputs("x y")
    assert str(gg.build(x * y + 1)) == "z1 = x*y\nL = z1 + 1"


# --- groups found automatically ------------------------------------------------------


def test_statements_group_their_unnamed_operations_and_their_own_inputs():
    graph = gg.parse("e = (a*b + c)**2\nL = e*k")
    assert kinds(graph) == {"e": ("statement", 6), "L": ("statement", 1)} or kinds(graph)["e"] == (
        "statement", 6)
    tree = group_tree(graph)
    assert {graph.nodes[n].name for n in tree.groups[tree.find("e")].nodes} == {"a", "b", "c", "z1", "z2", "e"}


def test_a_neuron_inside_a_statement_is_found():
    graph = gg.parse("L = relu(w1*x1 + w2*x2 + b)*2 + relu(v1*x1 + v2*x2 + c)*3")
    found = kinds(graph)
    neurons = [name for name, (kind, _) in found.items() if kind == "neuron"]
    assert len(neurons) == 2
    tree = group_tree(graph)
    members = {graph.nodes[n].name for n in tree.groups[tree.find(neurons[0])].nodes}
    assert members == {"z1", "z2", "z3", "z4", "z5", "w1", "w2", "b"}  # x1 is read by both: not adopted


def _sample_program(count):
    lines = [f"e{k} = (w*x{k} + b - y{k})**2" for k in range(count)]
    return "\n".join([*lines, "L = " + " + ".join(f"e{k}" for k in range(count))])


def test_alike_statements_become_a_series_and_too_many_children_become_blocks():
    graph = gg.parse(_sample_program(100))
    tree = group_tree(graph)
    root = [tree.groups[g] for kind, g in tree.items(0) if kind == "g"]
    assert [(g.id, g.kind) for g in root] == [("e[0-99]", "series"), ("L", "statement")]
    series = root[0]
    assert [tree.groups[g].label for g in series.groups] == [f"e[{k}-{k + 9}]" for k in range(0, 100, 10)]
    assert all(len(tree.items(i)) <= MOST_CHILDREN for i in range(len(tree)))
    assert tree.groups[tree.find("L")].size == 99  # the sum's 98 unnamed adds and L
    assert sum(1 for owner in tree.of_node if owner >= 0) == tree.groups[0].size


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 300))
def test_every_group_has_few_children_and_every_node_one_innermost_group(count):
    graph = gg.parse(_sample_program(count))
    tree = group_tree(graph)
    assert all(len(tree.items(i)) <= MOST_CHILDREN for i in range(len(tree)))
    for position, owner in enumerate(tree.of_node):
        assert (owner < 0) == (graph.nodes[position].op == "const")
    sizes = [0] * len(tree)
    for owner in tree.of_node:
        if owner >= 0:
            for g in tree.chain(owner):
                sizes[g] += 1
    assert sizes == [g.size for g in tree.groups]


# --- summaries agree with the trace ---------------------------------------------------

_OPS = ["+", "-", "*"]


@st.composite
def grouped_programs(draw):
    """Random programs over inputs a, b, c with dotted statement names in up to three groups."""
    names, lines = ["a", "b", "c"], []
    for k in range(draw(st.integers(2, 8))):
        prefix = draw(st.sampled_from(["", "p.", "p.q.", "r."]))
        left, right = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        function = draw(st.sampled_from(["", "relu", "tanh", "abs"]))
        body = f"{left} {draw(st.sampled_from(_OPS))} {right} {draw(st.sampled_from(_OPS))} {k % 3}"
        lines.append(f"{prefix}s{k} = {function}({body})")
        names.append(f"{prefix}s{k}")
    values = draw(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 2.0]), min_size=3, max_size=3))
    return "\n".join(lines), dict(zip("abc", values, strict=True))


def _backward(program):
    text, values = program
    graph = gg.parse(text)
    return gg.backward(graph, {name: values[name] for name in graph.inputs})


@settings(max_examples=60, deadline=None)
@given(grouped_programs())
def test_summaries_agree_with_the_trace(program):
    trace = _backward(program)
    graph = trace.graph
    tree = group_tree(graph)
    summaries = summarize(trace, tree)
    edges = trace.edges
    for index, group_ in enumerate(tree.groups):
        inside = {p for p, owner in enumerate(tree.of_node) if owner >= 0 and index in tree.chain(owner)}
        summary = summaries[index]
        names = {p: graph.nodes[p].name for p in range(len(graph))}
        ids = {name: p for p, name in names.items()}
        assert summary.nodes == len(inside) == group_.size
        crossing_in = [e for e in edges if ids[e.target] in inside and ids[e.source] not in inside
                       and graph[e.source].op != "const"]
        crossing_out = [e for e in edges if ids[e.source] in inside and ids[e.target] not in inside]
        assert set(summary.inputs) == {e.source for e in crossing_in}
        outputs = {e.source for e in crossing_out} | ({graph.output} if ids[graph.output] in inside else set())
        assert set(summary.outputs) == outputs
        finite = [trace.values[p] for p in inside if math.isfinite(trace.values[p])]
        assert (summary.low, summary.high) == ((min(finite), max(finite)) if finite else (None, None))
        grads = [abs(trace.grads[p]) for p in inside if math.isfinite(trace.grads[p])]
        assert (abs(summary.largest_grad) if summary.largest_grad is not None else None) == (
            max(grads) if grads else None)
        assert summary.kinks == sum(kinked(trace, p) for p in inside)
        assert summary.nan == sum(trace.values[p] != trace.values[p] for p in inside)
        passes = sum(e.contribution or 0.0 for e in crossing_in)
        receives = sum(e.contribution or 0.0 for e in crossing_out) + (ids[graph.output] in inside)
        assert summary.passes == pytest.approx(passes, rel=1e-12, abs=1e-12)
        assert summary.receives == pytest.approx(receives, rel=1e-12, abs=1e-12)


def test_a_summary_counts_inf_nan_and_kinks():
    trace = gg.grad("g.a = relu(x); g.b = log(y); g.c = 1/z; L = g.a + g.b + g.c", x=0, y=-1, z=0)
    tree = group_tree(trace.graph)
    s = summarize(trace, tree)[tree.find("g")]
    assert (s.kinks, s.nan, s.inf, s.nodes) == (1, 1, 1, 3)


# --- paths ------------------------------------------------------------------------


def test_a_summary_passes_the_nan_that_a_zero_gradient_times_an_infinite_derivative_makes():
    trace = gg.grad("g.s = sqrt(u); L = relu(g.s - 5)", u=0)  # relu' = 0 meets sqrt'(0) = inf
    tree = group_tree(trace.graph)
    assert math.isnan(trace.grad("u"))
    assert math.isnan(summarize(trace, tree)[tree.find("g")].passes)
    unused = gg.grad("g.s = sqrt(u); g.t = sqrt(v); L = g.s + 1", u=4, v=0)  # g.t does not reach L
    tree = group_tree(unused.graph)
    assert summarize(unused, tree)[tree.find("g")].passes == unused.grad("u") == 0.25

def _all_paths(trace, start):
    graph = trace.graph
    found = []
    stack = [(graph.index(start), [start], [], 1.0)]
    readers = {}
    for target, _node in enumerate(graph.nodes):
        for slot, arg in enumerate(graph.arg_indices[target]):
            readers.setdefault(arg, []).append((target, slot))
    while stack:
        position, nodes, slots, product = stack.pop()
        if graph.nodes[position].name == graph.output:
            found.append((tuple(nodes), tuple(slots), product))
        for target, slot in readers.get(position, []):
            local = trace.partials(graph.nodes[target].name)[slot]
            stack.append((target, [*nodes, graph.nodes[target].name], [*slots, slot], product * local))
    return found


@settings(max_examples=60, deadline=None)
@given(grouped_programs(), st.integers(1, 6))
def test_top_paths_are_the_largest_of_all_paths_and_all_paths_add_up_to_the_gradient(program, k):
    trace = _backward(program)
    for start in trace.graph.inputs:
        every = _all_paths(trace, start)
        if all(math.isfinite(p) for _, _, p in every):
            assert math.fsum(p for _, _, p in every) == pytest.approx(trace.grad(start), rel=1e-9, abs=1e-9)
        best = top_paths(trace, start, k)
        ranked = sorted((abs(p) for _, _, p in every), reverse=True)[:k]
        if all(math.isfinite(p) for _, _, p in every):
            assert [abs(p.contribution) for p in best] == pytest.approx(ranked)
        listed = {(nodes, slots): p for nodes, slots, p in every}
        for path in best:
            assert listed[(path.nodes, path.slots)] == path.contribution or math.isnan(path.contribution)


def test_top_paths_on_the_seed_example_and_a_square():
    trace = gg.grad("L = x*x + x", x=3)
    paths = top_paths(trace, "x", 3)
    assert [(p.slots, p.contribution) for p in paths] == [((0, 0), 3.0), ((1, 0), 3.0), ((1,), 1.0)]
    with pytest.raises(ValueError, match="whole number from 1"):
        top_paths(trace, "x", 0)
    with pytest.raises(KeyError):
        top_paths(trace, "nope", 1)



def test_a_zero_path_that_meets_an_infinite_derivative_is_the_nan_path_ranked_first():
    # w = -1: relu'(w) = 0 on one path, w + 1 = 0 feeds sqrt, whose derivative at 0 is inf
    trace = gg.grad("L = sqrt(relu(w) + (w + 1))", w=-1)
    assert math.isnan(trace.grad("w"))
    best = top_paths(trace, "w", 1)
    assert best[0].nodes == ("w", "z1", "z3", "L") and math.isnan(best[0].contribution)
    both = top_paths(trace, "w", 2)
    assert math.isnan(both[0].contribution) and both[1].contribution == math.inf

# --- the overview -----------------------------------------------------------------

_SMALL_COLLAPSED = '''digraph "L" {
  graph [rankdir=LR fontname="Helvetica" bgcolor="white" nodesep=0.25 ranksep=0.35]
  node [shape=plain fontname="Helvetica" fontsize=14]
  edge [fontname="Helvetica" fontsize=12 color="#555555" arrowsize=0.7]
  "x" [id="n0" label=<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" BGCOLOR="#c9252b"><TR><TD><FONT COLOR="white"><B>x</B>  input</FONT></TD></TR><TR><TD><FONT COLOR="white">2 | ∇ 30</FONT></TD></TR></TABLE>>];
  "w" [id="n1" label=<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" BGCOLOR="#c9252b"><TR><TD><FONT COLOR="white"><B>w</B>  input</FONT></TD></TR><TR><TD><FONT COLOR="white">3 | ∇ 20</FONT></TD></TR></TABLE>>];
  "\u2060group h" [id="g1" label=<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" BGCOLOR="#f07457" STYLE="ROUNDED"><TR><TD><B>h</B>  ⊞</TD></TR><TR><TD>2 nodes · 2 in · 1 out</TD></TR><TR><TD>value 6 … 6</TD></TR><TR><TD>max |∇| 10 at a</TD></TR></TABLE>>];
  "\u2060group L" [id="g2" label=<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" BGCOLOR="#6aa3d2" STYLE="ROUNDED"><TR><TD><B>L</B>  ⊞ statement</TD></TR><TR><TD>3 nodes · 1 in · 1 out</TD></TR><TR><TD>value 1 … 25</TD></TR><TR><TD>max |∇| 10 at y</TD></TR></TABLE>>];
  "x" -> "\u2060group h" [id="a0"];
  "w" -> "\u2060group h" [id="a1"];
  "\u2060group h" -> "\u2060group L" [id="a2"];
}
'''


def test_collapsed_overview_dot_is_exact_and_deterministic():
    trace = gg.grad(SMALL, x=2, w=3, y=1)
    assert overview_dot(overview(trace, expand=()), legend=False) == _SMALL_COLLAPSED
    assert overview_dot(overview(trace, expand=()), legend=False) == _SMALL_COLLAPSED


def test_expanded_group_is_a_frame_around_its_nodes_with_counted_and_highlighted_edges():
    trace = gg.grad("g.a = x*w; g.b = g.a*x; L = g.b*x", x=2, w=3)
    view = overview(trace, expand=["g"], paths=top_paths(trace, "w", 1))
    lines = overview_dot(view, legend=False).splitlines()
    assert lines[6] == '  subgraph "cluster \u2060g" {'
    assert lines[7].startswith('    graph [id="c1" label=<<B>g  (2 nodes)</B>> labelloc=t labeljust=l')
    assert [line for line in lines if "->" in line] == [
        '  "x" -> "g.a" [id="a0"];',
        '  "w" -> "g.a" [id="a1" color="#ff7f0e" penwidth=3];',
        '  "g.a" -> "g.b" [id="a2" color="#ff7f0e" penwidth=3];',
        '  "x" -> "g.b" [id="a3"];',
        '  "g.b" -> "L" [id="a4" color="#ff7f0e" penwidth=3];',
        '  "x" -> "L" [id="a5"];',
    ]
    collapsed = overview_dot(overview(trace, expand=()), legend=False)
    assert '"x" -> "\u2060group g" [id="a0" label=<&#215;2>];' in collapsed


def test_group_names_are_escaped_in_dot():
    with group('say "hi" <b>&'):
        (x,) = gg.inputs("x")
        y = (x * 2).named("y")
    trace = gg.backward(gg.build(y * y), [1.0])
    text = overview_dot(overview(trace, expand=()), legend=False)
    assert '"\u2060group say \\"hi\\" <b>&amp;"' in text
    assert "<B>say &quot;hi&quot; &lt;b&gt;&amp;</B>" in text


@pytest.fixture(scope="module")
def small_mlp():
    return mlp_trace(samples=10, sizes=(2, 8, 8, 1))


def test_the_automatic_overview_has_at_most_80_boxes_and_every_node_once(small_mlp):
    view = overview(small_mlp)
    boxes, edges = view.layout()
    assert sum(kind != "frame" for kind, _, _ in boxes) <= 80
    shown = {f"{'g' if kind == 'group' else 'c' if kind == 'frame' else 'n'}{index}" for kind, index, _ in boxes}
    for position, node in enumerate(small_mlp.graph.nodes):
        if node.op != "const":
            assert view.box_of(position) in shown
    assert all(source in shown and target in shown for source, target, _, _ in edges)
    total = sum(count for _, _, count, _ in edges)
    crossing = sum(1 for t, args in enumerate(small_mlp.graph.arg_indices) for s in args
                   if small_mlp.graph.nodes[s].op != "const" and view.box_of(s) != view.box_of(t))
    assert total == crossing


def test_expand_returns_the_change_that_turns_one_view_into_the_other(small_mlp):
    view = overview(small_mlp, expand=())
    before = view.to_dict()
    change = view.expand("sample3.layer2.n5")
    after = view.to_dict()
    boxes = {box["id"]: box for box in before["boxes"]}
    for key in change["removed"]:
        del boxes[key]
    boxes.update({box["id"]: box for box in change["added"]})
    assert boxes == {box["id"]: box for box in after["boxes"]}
    edges = {(e["source"], e["target"]): (e["count"], e["highlighted"]) for e in before["edges"]}
    for key in change["removed_edges"]:
        del edges[tuple(key)]
    edges.update({(e["source"], e["target"]): (e["count"], e["highlighted"]) for e in change["added_edges"]})
    assert edges == {(e["source"], e["target"]): (e["count"], e["highlighted"]) for e in after["edges"]}
    assert {"c1", "c3"} <= {box["id"] for box in after["boxes"] if box["kind"] == "frame"} or any(
        box["group"] == "sample3.layer2.n5" for box in change["added"] if box["kind"] == "frame")
    undo = view.collapse("sample3")
    assert view.to_dict()["boxes"] != after["boxes"] and undo["removed"]
    assert diff(after, after) == {"removed": [], "added": [], "removed_edges": [], "added_edges": []}


def test_paths_and_focus_expand_what_holds_their_nodes(small_mlp):
    paths = top_paths(small_mlp, "layer1.n0.w0", 2)
    view = overview(small_mlp, expand=(), paths=paths)
    assert sum(kind != "frame" for kind, _, _ in view.layout()[0]) <= 80  # outer groups first, in budget
    assert any(edge["highlighted"] for edge in view.to_dict()["edges"])
    assert {view.box_of(small_mlp.graph.index(name)) for path in paths for name in path.nodes} == view.path_boxes()
    roomy = overview(small_mlp, expand=(), paths=paths, boxes=10_000, width=1e9)
    shown = {box["id"] for box in roomy.to_dict()["boxes"]}
    for path in paths:
        assert roomy.box_of(small_mlp.graph.index(path.nodes[0])) == "g1"  # a bank of inputs stays shut
        for name in path.nodes[1:]:
            assert f"n{small_mlp.graph.index(name)}" in shown
    focused = overview(small_mlp, expand=(), focus="sample2.loss", radius=2)
    assert focused.box_of(small_mlp.graph.index("sample2.loss")) == f"n{small_mlp.graph.index('sample2.loss')}"


def test_unknown_groups_and_bad_options_are_clear_errors(small_mlp):
    with pytest.raises(KeyError, match="no group named 'nope'"):
        overview(small_mlp, expand=["nope"])
    with pytest.raises(ValueError, match="boxes"):
        Overview(small_mlp, boxes=0)
    with pytest.raises(ValueError, match="rankdir"):
        Overview(small_mlp, rankdir="up")
    with pytest.raises(TypeError):
        Overview("L = x")
    with pytest.raises(ValueError, match="cannot be collapsed"):
        overview(small_mlp).collapse("")


def test_steps_go_backward_a_box_at_a_time_with_the_summed_contribution():
    trace = gg.grad(SMALL, x=2, w=3, y=1)
    listed = steps(overview(trace, expand=()))
    assert [box for box, _ in listed] == ["g2", "g1", "n1", "n0"]
    assert listed[0][1] == ("Step 1 of 4, backward: L (3 nodes): gets Σ 1 from the 1 output(s) read outside, "
                            "passes Σ 10 to its 1 input(s)")


def test_json_of_the_overview_names_non_finite_numbers_as_strings():
    trace = gg.grad("g.a = log(x); L = g.a*2", x=-1)
    data = overview(trace, expand=()).to_dict()
    group_box = next(box for box in data["boxes"] if box["kind"] == "group")
    assert group_box["summary"]["nan"] == 1 and group_box["summary"]["low"] is None
    assert group_box["expandable"] is True
    assert list(itertools.islice(data, 3)) == ["version", "output", "boxes"]


def test_focus_opens_the_nearest_nodes_first_and_stays_within_the_box_budget(small_mlp):
    # radius 2 from a product reaches its weight, and through it every sample that reads it
    name = next(n.name for n in small_mlp.graph.nodes if n.name.startswith("sample2.layer2.n3.") and n.op == "mul")
    position = small_mlp.graph.index(name)
    for radius in (0, 1, 2, 3):
        view = overview(small_mlp, expand=(), focus=name, radius=radius)
        assert sum(kind != "frame" for kind, _, _ in view.layout()[0]) <= 80
        assert view.box_of(position) == f"n{position}"
    near = overview(small_mlp, expand=(), focus=name, radius=1)
    for arg in small_mlp.graph.arg_indices[position]:
        if small_mlp.graph.nodes[arg].op != "input":
            assert near.box_of(arg) == f"n{arg}"
