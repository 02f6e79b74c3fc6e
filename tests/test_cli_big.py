"""`graphviz-grad render` on big graphs: the overview options (docs/big-graphs.md)."""

import html
import re

import pytest

from .test_cli import run
from .test_groups import SMALL, _sample_program

AT = "x=2,w=3,y=1"


def test_expand_draws_the_group_as_a_frame(capsys, tmp_path):
    target = tmp_path / "o.dot"
    code, _out, err = run(capsys, "render", SMALL, "--at", AT, "--expand", "h", "-o", str(target))
    assert (code, err) == (0, "")
    text = target.read_text(encoding="utf-8")
    assert 'subgraph "cluster \u2060h"' in text and '"h.a" [id="n4"' in text


def test_a_big_formula_is_an_overview_by_default_and_every_node_with_collapse_none(capsys, tmp_path):
    formula = _sample_program(30)
    values = ",".join(["w=1,b=0"] + [f"x{k}=1,y{k}=2" for k in range(30)])
    target = tmp_path / "big.dot"
    assert run(capsys, "render", formula, "--at", values, "-o", str(target))[0] == 0
    overview = target.read_text(encoding="utf-8")
    assert '"\u2060group e0" [id=' in overview  # 30 alike statements: few enough to show one by one
    assert run(capsys, "render", formula, "--at", values, "--collapse", "none", "-o", str(target))[0] == 0
    assert "group" not in target.read_text(encoding="utf-8")


def test_paths_are_highlighted_and_listed(capsys, tmp_path):
    target = tmp_path / "p.dot"
    assert run(capsys, "render", SMALL, "--at", AT, "--paths", "2", "--wrt", "w", "-o", str(target))[0] == 0
    text = target.read_text(encoding="utf-8")
    assert text.count('color="#ff7f0e" penwidth=3') == 4
    assert "20 along w → h.a → h.b → z1 → L" in text


@pytest.mark.parametrize(("options", "message"), [
    (["--expand", "nope"], "no group named 'nope'"),
    (["--paths", "2"], "--paths K and --wrt NODE go together"),
    (["--collapse", "none", "--expand", "h"], "drop --collapse none"),
    (["--radius", "2"], "--radius needs --focus"),
    (["--radius", "1"], "--radius needs --focus"),  # the default, given: still without a focus
    (["--focus", "w", "--radius", "101"], "radius must be a whole number from 0 to 100"),
    (["--focus", "q"], "--focus 'q' is not a node"),
    (["--paths", "0", "--wrt", "w"], "whole number from 1"),
])
def test_bad_overview_options_are_one_line_errors(capsys, tmp_path, options, message):
    code, out, err = run(capsys, "render", SMALL, "--at", AT, *options, "-o", str(tmp_path / "o.svg"))
    assert code == 2 and out == "" and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.dot
def test_frames_step_backward_and_keep_every_box_in_place(capsys, tmp_path):
    target = tmp_path / "f.svg"
    code, out, _ = run(capsys, "render", SMALL, "--at", AT, "--expand", "h", "--steps", "-o", str(target))
    assert code == 0 and out.startswith("5 frames")
    frames = [(tmp_path / f"f-0{k}.svg").read_text(encoding="utf-8") for k in range(1, 6)]
    places = [re.findall(r'<g id="(n\d+|g\d+)" class="node">.*?points="([^"]+)"', svg, re.S) for svg in frames]
    assert places[0] and all(place == places[0] for place in places)
    assert "Step 1 of 5, backward: L (3 nodes): gets Σ 1" in frames[0]
    assert "Step 5 of 5" in frames[4]


@pytest.mark.dot
def test_html_player_of_the_overview(capsys, tmp_path):
    target = tmp_path / "p.html"
    assert run(capsys, "render", SMALL, "--at", AT, "--expand", "h", "--steps", "-o", str(target))[0] == 0
    page = target.read_text(encoding="utf-8")
    assert page.count('<template class="gg-frame">') == 5


def _big_program_file(tmp_path, count=500):
    formula = tmp_path / "big.txt"
    formula.write_text(_sample_program(count), encoding="utf-8")
    values = ",".join(["w=1,b=0"] + [f"x{k}=1,y{k}=2" for k in range(count)])
    return f"@{formula}", values


@pytest.mark.parametrize("options", [["--collapse", "none"], ["--collapse", "none", "--steps"],
                                     ["--tangent", "w=1", "--mode", "forward"]])
def test_every_node_of_a_graph_too_big_to_lay_out_is_a_one_line_error(capsys, tmp_path, options):
    formula, values = _big_program_file(tmp_path)
    code, out, err = run(capsys, "render", formula, "--at", values, *options, "-o", str(tmp_path / "all.svg"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "over the limit of 3,000" in err and "--collapse auto" in err and "--focus" in err
    assert ("--mode forward/both" if "--tangent" in options else "--collapse none") in err
    assert not (tmp_path / "all.svg").exists()


def test_the_dot_text_of_every_node_has_no_such_bound(capsys, tmp_path):
    formula, values = _big_program_file(tmp_path)
    target = tmp_path / "all.dot"
    code, _, err = run(capsys, "render", formula, "--at", values, "--collapse", "none", "-o", str(target))
    assert (code, err) == (0, "") and target.read_text(encoding="utf-8").count("->") > 3_000


@pytest.mark.parametrize(("formula", "at", "said"), [
    ("a = x*2; L = (w - 1)**2", "x=1,w=3", "--wrt 'x' does not reach the output L: no path to highlight (dL/dx = 0)"),
    ("L = relu(w*x - 5)", "x=1,w=1", "--wrt 'w': every path to L contributes 0"),
])
def test_paths_that_carry_nothing_are_said_in_one_line(capsys, tmp_path, formula, at, said):
    target = tmp_path / "p.dot"
    wrt = said.split("'")[1]
    code, out, err = run(capsys, "render", formula, "--at", at, "--paths", "2", "--wrt", wrt, "-o", str(target))
    assert code == 0 and err == f"graphviz-grad: {said}" + err.split(said)[1] and err.count("\n") == 1
    caption = re.sub(r"<BR[^>]*>", " ", html.unescape(target.read_text(encoding="utf-8")))
    assert said in caption  # the picture's caption says it too
    assert out.strip() == str(target)


def test_paths_that_carry_gradient_say_nothing_more(capsys, tmp_path):
    target = tmp_path / "p.dot"
    assert run(capsys, "render", SMALL, "--at", AT, "--paths", "2", "--wrt", "w", "-o", str(target))[2] == ""
