"""`graphviz-grad grad`: the table, the JSON contract, input forms and every bad input."""

import io
import json
import os
import subprocess
import sys

import pytest

from graphviz_grad.cli import main

from .conftest import SEED

AT = "x=5,y=10,W1=0.1,W2=0.2,B=0.5"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_seed_json_contract(capsys):
    code, out, err = run(capsys, "grad", SEED, "--at", AT, "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["output"] == "L" and data["value"] == 4.0
    assert data["gradients"] == {"x": 0.4, "W1": 20.0, "y": 0.8, "W2": 40.0, "B": -4.0}
    assert list(data["gradients"]) == ["x", "W1", "y", "W2", "B"]
    nodes = {node["name"]: node for node in data["nodes"]}
    assert nodes["z1"] == {"name": "z1", "op": "mul", "inputs": ["x", "W1"], "value": 0.5, "grad": 4.0,
                           "status": "ok"}
    assert nodes["x"]["op"] == "input" and nodes["x"]["inputs"] == []
    assert [n["name"] for n in data["nodes"] if n["op"] not in ("input", "const")] == [
        "z1", "z2", "z3", "z4", "L"]
    assert [n["name"] for n in data["nodes"]][:5] == ["x", "W1", "y", "W2", "B"]
    assert [s["node"] for s in data["steps"]][:2] == ["L", "z4"]


def test_the_module_and_the_entry_point_run_as_programs():
    result = subprocess.run([sys.executable, "-m", "graphviz_grad", "grad", SEED, "--at", AT, "--json"],
                            capture_output=True, text=True, check=True)
    assert json.loads(result.stdout)["gradients"]["W1"] == 20.0


def test_human_table(capsys):
    code, out, _ = run(capsys, "grad", SEED, "--at", AT)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["node", "op", "computes", "value", "dL/dnode", "status"]
    assert "z4    sub    z3 - B    2      4         ok" in out
    assert "L = 4" in lines and "dL/dW1 = 20" in lines and "dL/dB = -4" in lines


def test_non_finite_numbers_are_strings_in_json(capsys):
    code, out, _ = run(capsys, "grad", "y = 1/x + log(x - x)", "--at", "x=0", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["value"] == "nan" and data["gradients"]["x"] == "nan"
    statuses = {n["name"]: (n["value"], n["status"]) for n in data["nodes"]}
    assert statuses["z1"] == ("inf", "inf")
    assert statuses["z3"] == ("-inf", "inf")


def test_repeated_and_comma_separated_values(capsys):
    a = run(capsys, "grad", SEED, "--at", "x=5", "--at", "y=10", "--at", "W1=0.1,W2=0.2", "--at", "B=.5",
            "--json")
    b = run(capsys, "grad", SEED, "--at", AT, "--json")
    assert a == b


def test_formula_from_stdin_and_from_a_file(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfc = a + b\nd = b + 1\ne = c*d\n")))
    code, out, _ = run(capsys, "grad", "-", "--at", "a=2,b=1", "--json")
    assert code == 0 and json.loads(out)["gradients"] == {"a": 2.0, "b": 5.0}
    program = tmp_path / "loss.txt"
    program.write_text("# the seed\n" + SEED + "\n")
    code, out, _ = run(capsys, "grad", f"@{program}", "--at", AT, "--json")
    assert code == 0 and json.loads(out)["value"] == 4.0


@pytest.mark.parametrize(("argv", "message"), [
    (["grad", SEED, "--at", "x=5,y=10,W1=0.1,W2=0.2"], "missing a value for input 'B'"),
    (["grad", SEED, "--at", AT + ",q=1"], "'q', which is not an input"),
    (["grad", SEED, "--at", AT, "--at", "x=6"], "gives 'x' twice"),
    (["grad", SEED, "--at", AT.replace("5,", "five,")], "--at 'x': the value 'five' is not a number"),
    (["grad", SEED, "--at", AT.replace("=5,", "=,")], "--at 'x': no value given"),
    (["grad", SEED, "--at", AT.replace("x=5", "x=inf")], "not a number"),
    (["grad", SEED, "--at", AT.replace("x=5", "x=nan")], "not a number"),
    (["grad", SEED, "--at", AT.replace("x=5", "x=1e400")], "--at 'x': the value '1e400' is too large"),
    (["grad", SEED, "--at", AT.replace("x=5", "x=1e-400")], "--at 'x': the value '1e-400' is too small"),
    (["grad", SEED, "--at", AT.replace("x=5", "x")], "expects NAME=VALUE"),
    (["grad", SEED, "--at", AT.replace("x=5", "=5")], "expects NAME=VALUE"),
    (["grad", "L = x^2", "--at", "x=1"], "line 1, column 6: '^'"),
    (["grad", "__import__('os').system('touch PWNED')"], "strings are not supported"),
    (["grad", "L = (x", "--at", "x=1"], "never closed"),
    (["grad", "@/nonexistent/formula.txt"], "cannot read formula file"),
    (["grad", "L = log(x)", "--at", "x=0", "--strict"], "node 'L' (log)"),
    (["grad", SEED, "--at", AT, "--digits", "40"], "invalid choice"),
    (["grad"], "required: FORMULA"),
    (["nope"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_a_formula_may_start_with_a_minus_sign(capsys):
    for argv in (["grad", "-x**2", "--at", "x=3"], ["grad", "--at", "x=3", "-x**2"],
                 ["grad", "--at=x=3", "--json", "-2*x"]):
        code, out, err = run(capsys, *argv, "--json") if "--json" not in argv else run(capsys, *argv)
        assert (code, err) == (0, ""), argv
        assert json.loads(out)["gradients"]["x"] in (-6.0, -2.0)


def test_a_long_non_ascii_comment_is_never_cut_short(capsys, tmp_path):
    program = tmp_path / "long.txt"
    program.write_text("# " + "é" * 499_990 + "\nL = x*2 + x*1000000\n", encoding="utf-8")
    code, out, _ = run(capsys, "grad", f"@{program}", "--at", "x=1", "--json")
    assert code == 0 and json.loads(out)["value"] == 1000002.0


def test_an_oversized_formula_file_is_refused(capsys, tmp_path):
    program = tmp_path / "huge.txt"
    program.write_text("L = " + "x+" * 2_100_000 + "x")
    code, _, err = run(capsys, "grad", f"@{program}", "--at", "x=1")
    assert code == 2 and "over the formula limit" in err


def test_tiny_values_that_would_become_zero_are_refused(capsys):
    code, _, err = run(capsys, "grad", "L = x*2", "--at", "x=1e-400")
    assert code == 2 and "too small" in err
    assert run(capsys, "grad", "L = x*2", "--at", "x=5e-324")[0] == 0


def test_a_closed_pipe_is_not_an_error_trace():
    command = [sys.executable, "-m", "graphviz_grad", "grad", "+".join(["x"] * 50_000), "--at", "x=1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.read(10)
    process.stdout.close()  # like `| head -c 10`
    error = process.stderr.read()
    assert process.wait() == 141
    assert b"Traceback" not in error and b"Exception" not in error


def test_a_formula_file_that_is_not_utf8(capsys, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"L = x\xff")
    code, _, err = run(capsys, "grad", f"@{bad}", "--at", "x=1")
    assert code == 2 and "not UTF-8" in err


def test_no_command_is_a_one_line_error(capsys):
    code, _, err = run(capsys)
    assert code == 2 and "choose a command: grad" in err and err.count("\n") == 1


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("graphviz-grad ")


def test_errors_in_a_subprocess_have_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "graphviz_grad", "grad", "L = (x).__class__", "--at", "x=1"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("graphviz-grad: error: line 1, column 8: '.' only joins the parts")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_unknown_long_options_are_reported_as_options(capsys):
    code, _, err = run(capsys, "grad", "x*2", "--at", "x=1", "--jsn")
    assert code == 2 and "unrecognized arguments: --jsn" in err
