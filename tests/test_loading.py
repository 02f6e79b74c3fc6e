"""gg.load reads back what `grad --json` writes (a trace that renders identically), a graph
without numbers, and refuses hostile JSON with one line; render, check and calc take
--from-json FILE."""

import json
import math

import pytest

import graphviz_grad as gg
from graphviz_grad import loading
from graphviz_grad.cli import main
from graphviz_grad.dot import to_dot
from graphviz_grad.serialize import trace_to_dict

SEED = "L = (x*W1 + y*W2 - B)**2"
AT = ["--at", "x=5,y=10,W1=0.1,W2=0.2,B=0.5"]


def grad_json(capsys, formula, at):
    assert main(["grad", formula, *at, "--json"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("formula, at", [
    (SEED, AT),
    ("y = log(x) + 1/x; L = relu(y) * max(x, 2) - -3", ["--at", "x=0"]),
    ("L = sqrt(x) * a**0.5", ["--at", "x=0,a=-1"]),
])
def test_a_trace_written_by_grad_json_loads_back_and_renders_identically(tmp_path, capsys, formula, at):
    text = grad_json(capsys, formula, at)
    loaded = gg.load(text)
    graph = gg.parse(formula)
    original = gg.backward(graph, [loaded.value(name) for name in graph.inputs])
    assert isinstance(loaded, gg.Trace) and loaded == original
    assert to_dot(loaded) == to_dot(original)
    assert [loaded.status(n.name) for n in graph] == [original.status(n.name) for n in graph]
    path = tmp_path / "trace.json"
    path.write_text(text)
    assert gg.load(path) == original and gg.load(str(path)) == original
    assert main(["render", "--from-json", str(path), "-o", "-", "--format", "dot"]) == 0
    from_file = capsys.readouterr().out
    assert main(["render", formula, *at, "-o", "-", "--format", "dot"]) == 0
    assert from_file == capsys.readouterr().out


def test_a_graph_without_numbers_loads_as_a_graph():
    data = trace_to_dict(gg.grad("L = 2*x + 1", x=1))
    for node in data["nodes"]:
        del node["value"], node["grad"]
    graph = gg.load(json.dumps(data))
    assert isinstance(graph, gg.Graph) and graph == gg.parse("L = 2*x + 1")


def test_check_and_calc_take_from_json(tmp_path, capsys):
    path = tmp_path / "seed.json"
    path.write_text(grad_json(capsys, SEED, AT))
    assert main(["check", "--from-json", str(path)]) == 0
    assert "W1" in capsys.readouterr().out
    assert main(["calc", "--from-json", str(path), "--copy"]) == 0
    assert "dL/dW1 = 20" in capsys.readouterr().out
    data = json.loads(path.read_text())
    for node in data["nodes"]:  # a foreign tool with a wrong gradient: check finds it
        if node["name"] == "W1":
            node["grad"] = 21.0
    path.write_text(json.dumps(data))
    assert main(["check", "--from-json", str(path)]) == 1
    capsys.readouterr()


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "must be an object"),
    ('{"nodes": []}', "needs 'output'"),
    ('{"output": "y", "nodes": []}', "non-empty list"),
    ('{"output": "y", "nodes": [{"name": "y", "op": "input", "value": NaN, "grad": 1}]}', "NaN is not JSON"),
    ('{"output": "y", "nodes": [{"name": "y", "op": "input", "value": "big", "grad": 1}]}', "'value' must be"),
    ('{"output": "y", "nodes": [{"name": "y", "op": "hack", "inputs": []}]}', "unknown op 'hack'"),
    ('{"output": "z", "nodes": [{"name": "y", "op": "input"}]}', "output 'z' is not a node"),
    ('{"output": "y", "nodes": [{"name": "y", "op": "input", "value": 1, "grad": 1},'
     ' {"name": "c", "op": "neg", "inputs": ["y"]}]}', "has no value or no grad"),
    ('{"output": "y", "nodes": [{"name": "y", "op": "input", "value": true, "grad": 1}]}', "'value' must be"),
    ('{"output": "y", "nodes": [{"name": "y", "op": "input", "inputs": "x"}]}', "'inputs' must be a list"),
    ("{" * 100_000, "nests too deeply|not valid JSON"),
    ('{"output": "y", "nodes": [' + "[" * 50_000 + "]" * 50_000 + "]}", "nests too deeply|not an object"),
    ('{"output": "y", "nodes": [{"name": "y", "op": "input", "value": 1' + "0" * 5000 + ', "grad": 1}]}',
     "not valid JSON"),
    ("{not json", "not valid JSON"),
])
def test_hostile_json_is_one_line_load_error(text, message):
    with pytest.raises(gg.LoadError, match=message) as raised:
        gg.load(text)
    assert "\n" not in str(raised.value)


def test_limits_and_cli_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(loading, "MAX_NODES", 3)
    data = trace_to_dict(gg.grad("L = (x + 1)*(x + 2)", x=1))
    with pytest.raises(gg.LoadError, match="over the limit of 3"):
        gg.load(json.dumps(data))
    monkeypatch.setattr(loading, "MAX_BYTES", 10)
    with pytest.raises(gg.LoadError, match="over the limit of 10"):
        gg.load(json.dumps(data))
    with pytest.raises(gg.LoadError, match="cannot read JSON file"):
        gg.load(str(tmp_path / "missing.json"))
    assert main(["check", "--from-json", str(tmp_path / "missing.json")]) == 2
    assert "cannot read JSON file" in capsys.readouterr().err
    path = tmp_path / "t.json"
    path.write_text(json.dumps(trace_to_dict(gg.grad("y = x*x", x=math.inf))))
    monkeypatch.setattr(loading, "MAX_BYTES", 10**6)
    assert main(["check", "y = x", "--from-json", str(path)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["render", "--from-json", str(path), "--at", "x=1", "-o", "-", "--format", "dot"]) == 2
    assert "leave out --at" in capsys.readouterr().err
    assert main(["check"]) == 2
    assert "give a FORMULA" in capsys.readouterr().err


@pytest.mark.parametrize("wrong", [5, None, 1.5, ["{}"]])
def test_load_of_something_that_is_neither_text_nor_a_path_is_a_type_error(wrong):
    with pytest.raises(TypeError, match="load takes JSON text or a file path"):
        gg.load(wrong)
    with pytest.raises(gg.LoadError):
        gg.load(wrong)
