"""The automatic overview of graphs whose bulk is one statement: never one useless box.

A formula that is one long statement used to be drawn as the single box of that
statement (the width estimate vetoed opening it), with no edges at all.
"""

import pytest

import graphviz_grad as gg
from graphviz_grad.groups import MOST_CHILDREN, group_tree
from graphviz_grad.overview import BOXES, overview

from .test_cli import run

SHAPES = {
    "repeated terms": "L = " + " + ".join(f"tanh(w{i}*x)" for i in range(25)),
    "many repeated terms": "L = " + " + ".join(f"tanh(w{i}*x)" for i in range(120)),
    "long chain": "L = " + "tanh(" * 100 + "x" + ")" * 100,
    "affine chain": "L = " + "(" * 60 + "x" + "".join(f"*w{i} + b{i})" for i in range(60)),
    "wide sum of inputs": "L = " + " + ".join(f"x{i}" for i in range(100)),
    "one huge statement of two": "a = " + " + ".join(f"sigmoid(w{i}*x{i} + b{i})" for i in range(30))
    + "\nL = (a - y)**2",
}


def _drawn(view):
    """The boxes a view draws (not the frames around expanded groups) and the nodes in each."""
    tree = view.tree
    inside: dict[int, list[int]] = {}
    for position, owner in enumerate(tree.of_node):
        for group in tree.chain(owner) if owner >= 0 else ():
            inside.setdefault(group, []).append(position)
    boxes, _ = view.layout()
    return {(f"g{index}" if kind == "group" else f"n{index}"): (inside[index] if kind == "group" else [index])
            for kind, index, _ in boxes if kind != "frame"}


@pytest.mark.parametrize("name", SHAPES)
def test_the_overview_of_one_big_statement_is_several_connected_boxes(name):
    graph = gg.parse(SHAPES[name])
    view = overview(gg.backward(graph, dict.fromkeys(graph.inputs, 0.3)))
    drawn = _drawn(view)
    assert 2 <= len(drawn) <= BOXES
    nodes = [n for n, node in enumerate(graph.nodes) if node.op != "const"]
    covered = sorted(n for members in drawn.values() for n in members if graph.nodes[n].op != "const")
    assert covered == nodes  # every node in exactly one box
    assert all(view.box_of(n) in drawn for n in nodes)
    assert max(len(members) for members in drawn.values()) * 2 <= len(nodes)  # no box is most of it
    _, edges = view.layout()
    touched = {end for source, target, _, _ in edges for end in (source, target)}
    assert touched == set(drawn)  # connected: every box has an edge
    assert sum(count for _, _, count, _ in edges) == sum(
        1 for t, args in enumerate(graph.arg_indices) for s in args
        if view.box_of(s) != view.box_of(t) and (graph.nodes[s].op != "const" or f"n{s}" in drawn))


def test_the_terms_of_a_long_sum_are_alike_groups_that_form_a_series():
    graph = gg.parse(SHAPES["many repeated terms"])
    tree = group_tree(graph)
    terms = [g for g in tree.groups if g.kind == "term"]
    assert len(terms) == 120 and {g.size for g in terms} == {3}  # tanh, w_i*x and w_i; x is shared
    assert tree.groups[tree.find("L.z2")].label == "tanh(w0, x)"
    series = [g for g in tree.groups if g.kind == "series"]
    assert [g.label for g in series] == ["tanh(w[0-119], x)"]
    total = tree.groups[tree.find("L.sum")]
    assert total.kind == "sum" and total.size == 119  # the 119 adds, L the last of them
    assert all(len(tree.items(i)) <= MOST_CHILDREN for i in range(len(tree)))


def test_neurons_in_a_long_sum_are_its_terms_and_short_statements_keep_their_shape():
    tree = group_tree(gg.parse(SHAPES["one huge statement of two"]))
    statement = tree.find("a")
    kinds = sorted(tree.groups[g].kind for g in tree.groups[statement].groups)
    assert kinds == ["neuron"] * 30 + ["sum"]
    short = group_tree(gg.parse("L = tanh(w0*x) + tanh(w1*x) + tanh(w2*x)"))
    assert [g.kind for g in short.groups] == ["root", "statement"]  # small: nothing to bundle


def test_render_of_one_long_statement_draws_its_terms(capsys, tmp_path):
    formula = SHAPES["repeated terms"]
    values = ",".join(["x=0.5"] + [f"w{i}=0.1" for i in range(25)])
    target = tmp_path / "n.dot"
    assert run(capsys, "render", formula, "--at", values, "-o", str(target))[0] == 0
    text = target.read_text(encoding="utf-8")
    terms = [line for line in text.splitlines() if line.startswith('    "\u2060group L.z') and "[id=" in line]
    assert len(terms) == 25 and "<B>tanh(w24, x)</B>" in terms[-1]
    assert text.count("->") == 50  # x into each term, each term into the sum


def test_views_of_one_trace_share_its_groups_and_stay_independent():
    from graphviz_grad.overview import RECENT_TRACES, Overview

    text = "L = " + " + ".join(f"tanh(w{i}*x)" for i in range(25))
    graph = gg.parse(text)
    trace = gg.backward(graph, dict.fromkeys(graph.inputs, 0.3))
    first, second = Overview(trace), Overview(trace)
    assert first.tree is second.tree and first.summaries is second.summaries  # built once
    group = next(g for g in (first.tree.groups[i].id for i in range(1, len(first.tree)))
                 if g not in {first.tree.groups[i].id for i in first.expanded})
    first.expand(group)
    assert first.expanded != second.expanded  # the shared parts are read-only; the views are not
    other = gg.backward(graph, dict.fromkeys(graph.inputs, 0.7))  # same graph, other values
    assert Overview(other).summaries is not first.summaries
    for _ in range(RECENT_TRACES):  # only the last few traces are kept
        Overview(gg.backward(graph, dict.fromkeys(graph.inputs, 0.1)))
    assert Overview(trace).summaries is not first.summaries


def test_an_overview_with_many_edges_asks_dot_for_a_quick_layout():
    # shared parameters feed every block: few boxes, many aggregated edges (dot took 48 s on 483)
    from graphviz_grad.overview import Overview
    from graphviz_grad.overview_dot import QUICK_LAYOUT_EDGES, overview_dot

    lines = ["s0 = x*w0", *(f"s{i} = tanh(s{i - 1}*w{i % 50} + b{i % 50})" for i in range(1, 1000)), "L = s999**2"]
    graph = gg.parse("\n".join(lines))
    dense = Overview(gg.backward(graph, dict.fromkeys(graph.inputs, 0.3)))
    assert len(dense.layout()[1]) > QUICK_LAYOUT_EDGES and "mclimit=0.1" in overview_dot(dense)
    small = gg.parse("L = " + " + ".join(f"tanh(w{i}*x)" for i in range(25)))
    sparse = Overview(gg.backward(small, dict.fromkeys(small.inputs, 0.3)))
    assert len(sparse.layout()[1]) <= QUICK_LAYOUT_EDGES and "mclimit" not in overview_dot(sparse)
