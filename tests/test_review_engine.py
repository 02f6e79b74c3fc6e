"""Regressions found by a review of the column graph (issue 14): lazily made names under
threads, read-only public fields, and imported graphs that must survive pickle and JSON."""

import json
import pickle
import threading

import pytest

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
