"""`graphviz-grad calc`, `descend` and `demo`: outputs, exit codes, files written all or nothing."""

import csv
import json
import os
import re

import pytest

from graphviz_grad.cli import main

COPY_1 = ("Loss: L = 4\n"
          "Gradients: dL/dW1 = 20, dL/dW2 = 40, dL/dB = -4\n"
          "Inputs: x = 5, y = 10, W1 = 0.1, W2 = 0.2, B = 0.5\n")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_calc_prints_the_seed_pages_full_result(capsys):
    code, out, err = run(capsys, "calc")
    assert (code, err) == (0, "")
    for part in ["║  L = 4  ║", "dL/dW1 = 20\ndL/dW2 = 40\ndL/dB = -4\n", "dL/dx = 0.4, dL/dy = 0.8",
                 "x     input      5      0.4",
                 "y     input      10     0.8", "B     parameter  0.5    -4", "dL/dB = 2·(B - W1·x - W2·y) = -2·z4",
                 "  z1 = x·W1 = 5·0.1 = 0.5", "  L = z4**2 = 2**2 = 4", "  dL/dz4 = ∂L/∂z4 = 2·z4 = 4",
                 "  dL/dB = dL/dz4 · ∂z4/∂B = dL/dz4 · (-1) = 4 · (-1) = -4",
                 "increasing W1 increases L", "B ← B - lr·dL/dB = 0.5 - 0.001·(-4) = 0.504",
                 "L: 4 → 2.238016 (lower)", COPY_1.rstrip()]:
        assert part in out, part


def test_calc_copy_is_exactly_the_block(capsys):
    assert run(capsys, "calc", "--copy") == (0, COPY_1, "")
    assert run(capsys, "calc", "--x", "5", "--y", "10", "--w1", "0.1", "--w2", "0.2", "--b", "0.5",
               "--copy") == (0, COPY_1, "")
    assert run(capsys, "calc", "--W1", "0.1", "--copy")[1] == COPY_1


def test_calc_example_2_and_overrides(capsys):
    _code, out, _ = run(capsys, "calc", "--example", "2", "--copy")
    assert out == ("Loss: L = 0\nGradients: dL/dW1 = 0, dL/dW2 = 0, dL/dB = 0\n"
                   "Inputs: x = 5, y = 10, W1 = 0.2, W2 = 0.3, B = 4\n")
    _, out, _ = run(capsys, "calc", "--example", "2", "--b", "5", "--copy")
    assert out.startswith("Loss: L = 1\n")
    _, out, _ = run(capsys, "calc", "--at", "W1=0.3", "--copy")
    assert out.startswith("Loss: L = 9\n")


def test_calc_json_is_everything(capsys):
    code, out, _ = run(capsys, "calc", "--json")
    data = json.loads(out)
    assert code == 0 and data["loss"] == 4.0
    assert data["gradients"] == {"x": 0.4, "y": 0.8, "W1": 20.0, "W2": 40.0, "B": -4.0}
    assert [row["name"] for row in data["table"]] == ["x", "y", "W1", "W2", "B"]
    assert len(data["derivation"]["forward"]) == 5 and len(data["derivation"]["backward"]) == 10
    assert data["update"]["lr"] == 0.001 and data["update"]["verdict"] == "lower"


def test_calc_markdown_latex_and_any_formula(capsys):
    code, out, _ = run(capsys, "calc", "--markdown")
    assert code == 0 and out.startswith("## Gradient calculator\n\n```text\nL = (x*W1 + y*W2 - B)**2\n```")
    code, out, _ = run(capsys, "calc", "--latex")
    assert code == 0 and "\\begin{align*}" in out
    code, out, _ = run(capsys, "calc", "--formula", "e = (a+b)*(b+1)", "--at", "a=2,b=1", "--wrt", "b")
    assert code == 0 and "Gradient calculator: e = (a+b)*(b+1)" in out
    assert "de/db = de/dz1 · ∂z1/∂b + de/dz2 · ∂z2/∂b = de/dz1 · 1 + de/dz2 · 1 = 2 · 1 + 3 · 1 = 5" in out
    assert "Gradients: de/db = 5" in out


def test_calc_chart_files(capsys, tmp_path):
    bars = tmp_path / "bars.txt"
    code, out, _err = run(capsys, "calc", "--copy", "--chart", str(bars))
    assert (code, out) == (0, COPY_1) and bars.read_text().splitlines()[3].startswith("dL/dW2  +40   ████")
    pytest.importorskip("matplotlib")
    for suffix, magic in [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")]:
        path = tmp_path / f"chart.{suffix}"
        assert run(capsys, "calc", "--copy", "--chart", str(path))[0] == 0
        assert path.read_bytes().startswith(magic)


@pytest.mark.parametrize("argv, message", [
    (["--x", "abc"], "argument --x: the value 'abc' is not a number"),
    (["--w1", "inf"], "argument --w1/--W1: the value 'inf' is not a number (values must be finite)"),
    (["--b", "nan"], "the value 'nan' is not a number"),
    (["--y", "1e999"], "argument --y: the value '1e999' is too large for float64"),  # quoted like 'abc'
    (["--lr", "1e400"], "argument --lr: the value '1e400' is too large for float64"),
    (["--x"], "argument --x: expected one argument"),
    (["--at", "W1=x"], "--at 'W1': the value 'x' is not a number"),
    (["--at", "Q=1"], "'Q', which is not an input"),
    (["--formula", "y = a*b", "--at", "a=1"], "missing a value for input 'b'"),
    (["--formula", "y = a*b", "--at", "a=1,b=2", "--x", "3"], "--x sets the seed's input; with a formula use --at"),
    (["--formula", "y = a*", "--at", "a=1"], "line 1"),
    (["--example", "3"], "argument --example: invalid choice"),
    (["--lr", "0"], "argument --lr: expected a number > 0"),
    (["--lr", "-1e-3"], "argument --lr: expected a number > 0, got '-1e-3'"),
    (["--x", "-1e-3", "--lr", "-.5"], "argument --lr: expected a number > 0, got '-.5'"),
    (["--wrt", "W1,Q"], "'Q' is not an input"),
    (["--json", "--copy"], "not allowed with argument"),
    (["--chart", "bars.jpeg"], "cannot tell the chart format"),
])
def test_calc_bad_input_exits_2_with_one_line(capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "calc", *argv)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1, err
    assert os.listdir(tmp_path) == []


def test_calc_writes_nothing_when_the_chart_folder_is_missing(capsys, tmp_path):
    code, out, err = run(capsys, "calc", "--chart", str(tmp_path / "no" / "bars.txt"))
    assert code == 2 and out == "" and "does not exist" in err


def test_descend_converges_on_example_1(capsys, tmp_path):
    table = tmp_path / "run.csv"
    code, out, err = run(capsys, "descend", "--steps", "60", "--csv", str(table), "--chart",
                         str(tmp_path / "loss.txt"))
    assert code == 0, err
    assert out.splitlines()[-1].startswith("finished 60 steps: L went from 4 to ")
    rows = list(csv.reader(table.open()))
    assert rows[0] == ["step", "L", "W1", "W2", "B", "dL/dW1", "dL/dW2", "dL/dB"] and len(rows) == 62
    assert float(rows[-1][1]) < 1e-12
    assert (tmp_path / "loss.txt").read_text().startswith("█")


def test_descend_any_formula_with_tolerance(capsys):
    code, out, _ = run(capsys, "descend", "y = (a - 3)**2 + relu(b)", "--at", "a=0,b=1", "--lr", "0.1",
                       "--steps", "1000", "--tol", "1e-8")
    assert code == 0 and "converged at step" in out.splitlines()[-1]


def test_descend_stops_cleanly_on_a_divergent_learning_rate(capsys, tmp_path):
    table = tmp_path / "run.csv"
    code, out, err = run(capsys, "descend", "--lr", "0.01", "--steps", "500", "--csv", str(table))
    assert code == 1
    message = "diverged: L grew for 10 steps in a row (from 4 to 17335.3); try a smaller learning rate than 0.01"
    assert out.splitlines()[-1] == message and message not in err  # said once, with the table
    assert "Traceback" not in err and len(list(csv.reader(table.open()))) == 12
    code, out, err = run(capsys, "descend", "L = exp(w*w)", "--at", "w=3", "--lr", "0.5", "--json")
    assert code == 1 and json.loads(out)["history"][1]["loss"] == "inf"
    assert "diverged at step 1: L is inf" in err  # no table on stdout: the message goes to stderr
    code, out, err = run(capsys, "descend", "--lr", "0.01", "--csv", "-")
    assert code == 1 and out.startswith("step,") and err.count("diverged: L grew") == 1


def test_descend_frames_every_k_steps(capsys, tmp_path):
    folder = tmp_path / "frames"
    code, _, err = run(capsys, "descend", "--steps", "20", "--every", "5", "--frames", str(folder))
    assert code == 0, err
    assert sorted(os.listdir(folder)) == [f"step-{k:03d}.svg" for k in (0, 5, 10, 15, 20)]
    assert b"value = 4" in (folder / "step-000.svg").read_bytes()
    (folder / "notes.txt").write_text("mine")
    code, _, _ = run(capsys, "descend", "--steps", "4", "--every", "2", "--frames", str(folder))
    assert sorted(os.listdir(folder)) == ["notes.txt", "step-000.svg", "step-002.svg", "step-004.svg"]


@pytest.mark.parametrize("argv, message", [
    (["--lr", "abc"], "argument --lr"),
    (["--steps", "-3"], "argument --steps: expected a whole number >= 0"),
    (["--steps", "2.5"], "argument --steps"),
    # a whole number, but too large: the message must not say it is not one
    (["--steps", "10000000"], "steps must be a whole number from 0 to 1,000,000, not 10000000"),
    (["--steps", "9" * 5000], "argument --steps: a whole number of 5,000 digits is too large"),
    (["--every", "0"], "argument --every: expected a whole number >= 1"),
    (["--tol", "-1"], "argument --tol"),
    (["--wrt", "x,x"], "'x' is named twice"),
    (["y = a*b", "--at", "a=1"], "missing a value for input 'b'"),
    (["--csv", "/nonexistent-folder/run.csv"], "does not exist"),
])
def test_descend_bad_input_exits_2(capsys, argv, message):
    code, out, err = run(capsys, "descend", *argv)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1, err


def test_descend_writes_nothing_if_one_file_fails(capsys, tmp_path):
    table = tmp_path / "run.csv"
    code, _, _ = run(capsys, "descend", "--csv", str(table), "--chart", str(tmp_path / "no" / "loss.txt"))
    assert code == 2 and not table.exists()


def test_demo_writes_every_artefact_and_replaces_them(capsys, tmp_path):
    folder = tmp_path / "out"
    code, out, err = run(capsys, "demo", "-o", str(folder))
    assert code == 0, err
    names = set(os.listdir(folder))
    assert {"seed.svg", "seed.png", "seed.dot", "seed-steps.html", "check.txt", "check.md", "calculator.txt",
            "calculator.md", "calculator.json", "derivation.tex", "gradients.txt", "descent.csv",
            "descent.txt"} <= names
    assert out.splitlines()[-1].startswith("check of L at x=5, W1=0.1, y=10, W2=0.2, B=0.5: ok (10 agree)")
    listed = [line.split("  ")[0] for line in out.splitlines()[:-1]]
    assert sorted(listed) == sorted(str(folder / name) for name in names)
    assert re.search(r"seed\.svg +the annotated graph: values, gradients dL/dnode", out)
    svg = (folder / "seed.svg").read_text()
    assert "grad = 20" in svg and "∂L/∂z4 = 2·z4 = 4" in svg
    player = (folder / "seed-steps.html").read_text()
    assert 'id="gg-scene"' in player and "agrees: dL/dW1 = " in player  # the viewer, with SymPy's verdicts
    assert (folder / "check.txt").read_text().startswith("check of L")
    assert json.loads((folder / "calculator.json").read_text())["loss"] == 4.0
    assert "Loss: L = 4" in (folder / "calculator.txt").read_text()
    assert (folder / "descent.txt").read_text().splitlines()[-1].startswith("finished 100 steps")
    first = (folder / "seed.svg").stat().st_mtime_ns
    (folder / "seed.svg").write_text("old")
    assert run(capsys, "demo", "-o", str(folder))[0] == 0
    assert (folder / "seed.svg").read_text() == svg and (folder / "seed.svg").stat().st_mtime_ns >= first


def test_demo_image_charts_with_matplotlib(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    assert run(capsys, "demo", "-o", str(tmp_path))[0] == 0
    for name in ("gradients.svg", "gradients.png", "loss.svg", "loss.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_demo_without_matplotlib_notes_it_and_removes_old_charts(capsys, tmp_path, monkeypatch):
    from graphviz_grad import charts

    (tmp_path / "gradients.svg").write_text("from an earlier run")
    def missing(*args, **kwargs):
        raise charts.ChartError("image charts need matplotlib: pip install 'graphviz-grad[plot]'")
    monkeypatch.setattr(charts, "_pyplot_free_figure", missing)
    code, _out, err = run(capsys, "demo", "-o", str(tmp_path))
    assert code == 0 and "note: image charts left out: image charts need matplotlib" in err
    assert not (tmp_path / "gradients.svg").exists() and (tmp_path / "gradients.txt").exists()


def test_demo_into_a_file_fails_cleanly(capsys, tmp_path):
    target = tmp_path / "file"
    target.write_text("keep me")
    code, out, err = run(capsys, "demo", "-o", str(target))
    assert code == 2 and out == "" and "as the demo folder: it is a file" in err and err.count("\n") == 1
    assert target.read_text() == "keep me" and os.listdir(tmp_path) == ["file"]


def test_demo_leaves_nothing_when_a_write_fails(capsys, tmp_path, monkeypatch):
    from graphviz_grad import files

    def full(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "rename", full)
    folder = tmp_path / "new"
    code, _out, err = run(capsys, "demo", "-o", str(folder))
    assert code == 2 and "No space left on device" in err
    assert not folder.exists() and os.listdir(tmp_path) == []  # no temporary folder left either


# --- review findings (hostile and edge-case input) ---------------------------------------

def test_huge_gradients_draw_bars_instead_of_crashing(capsys, tmp_path):
    code, _out, err = run(capsys, "calc", "--formula", "L = x*y", "--at", "x=1e306,y=1", "--copy",
                         "--chart", str(tmp_path / "bars.txt"))
    assert code == 0 and "Traceback" not in err and "█" * 40 in (tmp_path / "bars.txt").read_text()
    pytest.importorskip("matplotlib")
    from graphviz_grad import calculate

    assert calculate("L = x*y", x=1.7e308, y=1).chart("svg").startswith(b"<?xml")


def test_a_formula_starting_with_minus_after_formula(capsys):
    assert run(capsys, "calc", "--formula", "-x**2", "--at", "x=3", "--copy")[1].startswith("Loss: L = -9\n")


def test_a_formula_without_inputs(capsys):
    code, out, _ = run(capsys, "calc", "--formula", "L = 2*3")
    assert code == 0 and "║  L = 6  ║" in out and "(no inputs: nothing to differentiate)" in out


def test_a_value_given_twice_is_an_error(capsys):
    code, _, err = run(capsys, "calc", "--at", "W1=1", "--W1", "2")
    assert code == 2 and "'W1' is given twice: by --at and by --w1" in err


def test_two_outputs_to_the_same_file(capsys, tmp_path):
    for chart in (str(tmp_path / "a.txt"), f"{tmp_path}/./a.txt"):
        code, _, err = run(capsys, "descend", "--csv", str(tmp_path / "a.txt"), "--chart", chart)
        assert code == 2 and "are the same file" in err and os.listdir(tmp_path) == []


def test_a_failed_descend_removes_the_frames_folder_it_made(capsys, tmp_path):
    code, _, _ = run(capsys, "descend", "--frames", str(tmp_path / "new"), "--csv", str(tmp_path / "no" / "a.csv"))
    assert code == 2 and os.listdir(tmp_path) == []


def test_a_start_that_is_not_finite_is_not_blamed_on_the_learning_rate(capsys):
    code, out, err = run(capsys, "descend", "L = log(x)", "--at", "x=0")
    assert code == 1 and out.splitlines()[-1] == "cannot start: at the starting point L is -inf"
    assert "cannot start" not in err


def test_descend_has_a_work_limit(capsys):
    formula = "L = " + " + ".join(f"w{k}*x{k}" for k in range(100))
    values = ",".join(f"w{k}=1,x{k}=1" for k in range(100))
    code, out, err = run(capsys, "descend", formula, "--at", values, "--steps", "1000000")
    assert code == 2 and out == "" and "1,000,000 steps is over the limit for this graph" in err
    assert "at most 10,000 steps in one run" in err


# --- second review ------------------------------------------------------------------------

@pytest.fixture
def sympy_disagrees(monkeypatch):
    """Make every check report a disagreement, as a broken engine would."""
    from graphviz_grad import symbolic

    real = symbolic.check

    def broken(*args, **kwargs):
        report = real(*args, **kwargs)
        report.ok = False
        report.rows[0].ok = False
        return report

    monkeypatch.setattr(symbolic, "check", broken)


@pytest.mark.parametrize("argv", [["calc"], ["calc", "--copy"], ["calc", "--json"]])
def test_a_disagreement_exits_1_from_every_calc_output(capsys, sympy_disagrees, argv):
    code, out, err = run(capsys, *argv)
    assert code == 1 and out and "SymPy DISAGREES" in err


def test_a_disagreement_fails_the_demo(capsys, sympy_disagrees, tmp_path):
    assert run(capsys, "demo", "-o", str(tmp_path))[0] == 1


def test_formulas_from_stdin_and_files(capsys, monkeypatch, tmp_path):
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"L = (x*W1 + y*W2 - B)**2\n")))
    assert run(capsys, "calc", "--formula", "-", "--copy") == (0, COPY_1, "")  # the seed keeps its defaults
    path = tmp_path / "f.txt"
    path.write_text("y = (a - 3)**2")
    code, out, _ = run(capsys, "descend", f"@{path}", "--at", "a=0", "--lr", "0.25", "--steps", "3")
    assert code == 0 and out.splitlines()[-1] == "finished 3 steps: y went from 9 to 0.140625"
    code, _, err = run(capsys, "calc", "--formula", f"@{tmp_path / 'missing.txt'}", "--at", "a=1")
    assert code == 2 and "cannot read formula file" in err


def test_seed_only_options_with_another_formula(capsys):
    code, _, err = run(capsys, "calc", "--example", "2", "--formula", "y = a*2", "--at", "a=1")
    assert code == 2 and "--example picks one of the seed's worked examples" in err
    assert run(capsys, "calc", "--formula", SEED_TEXT, "--example", "2", "--copy")[1].startswith("Loss: L = 0\n")


SEED_TEXT = "L = (x*W1 + y*W2 - B)**2"


def test_digits_extremes(capsys):
    code, out, _ = run(capsys, "calc", "--digits", "1")
    assert code == 0 and "L: 4 → 2 (lower)" in out and out.endswith(COPY_1)
    code, out, _ = run(capsys, "calc", "--digits", "17")
    assert code == 0 and "W1    parameter  0.1    20" in out and "0.10000000000000001" not in out


def test_negative_infinity_is_named_as_not_finite(capsys):
    code, _, err = run(capsys, "calc", "--x", "-inf")
    assert code == 2 and "the value '-inf' is not a number (values must be finite)" in err


def test_descend_patience_counts_steps_in_a_row(capsys):
    code, out, _ = run(capsys, "descend", "--lr", "0.01", "--patience", "3")
    assert code == 1 and "L grew for 3 steps in a row" in out.splitlines()[-1] and out.splitlines()[4].split()[0] == "3"
    # lr = 1 on x**2 jumps between x and -x: the loss stays, which is not growth
    code, out, _ = run(capsys, "descend", "y = x**2", "--at", "x=1", "--lr", "1", "--steps", "40",
                       "--patience", "1")
    assert code == 0 and out.splitlines()[-1] == "finished 40 steps: y went from 1 to 1"


def test_descend_without_a_lower_bound(capsys):
    code, out, _ = run(capsys, "descend", "L = -x**2", "--at", "x=1", "--lr", "0.5", "--steps", "2000")
    assert code == 1 and "L fell to -inf; it has no lower bound along x" in out.splitlines()[-1]


def test_descend_csv_to_standard_output(capsys):
    code, out, _ = run(capsys, "descend", "--steps", "2", "--csv", "-")
    assert code == 0 and out.splitlines() == ["step,L,W1,W2,B,dL/dW1,dL/dW2,dL/dB",
                                              "0,4.0,0.1,0.2,0.5,20.0,40.0,-4.0",
                                              "1,2.238016,0.08,0.16,0.504,14.96,29.92,-2.992",
                                              "2,1.252178904064,0.06504,0.13008,0.506992,11.19008,22.38016,"
                                              "-2.238016"]


def test_two_runs_making_one_folder_at_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from graphviz_grad.files import make_folder

    for k in range(30):
        target = str(tmp_path / f"new{k}")
        with ThreadPoolExecutor(4) as pool:
            made = list(pool.map(make_folder, [target] * 4))
        assert made.count(True) == 1 and os.path.isdir(target)
