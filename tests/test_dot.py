"""DOT emission: golden files, escaping, colours, options (pure text, no Graphviz run)."""

import os
import pathlib
import re

import pytest

import graphviz_grad as gg
from graphviz_grad.dot import (
    NEGATIVE,
    POSITIVE,
    UNKNOWN_FILL,
    ZERO_FILL,
    Pins,
    View,
    fill,
    format_number,
    quote,
    to_dot,
)

from .conftest import EXAMPLE_1, SEED

GOLDEN = pathlib.Path(__file__).parent / "golden"
HOSTILE = ["<b>", "a|b", "{x}", '"', "\\", "javascript:alert(1)", 'a\\"b', "x&amp;y", "]; evil [", "-> z"]


def golden(name, text):
    path = GOLDEN / name
    if os.environ.get("GG_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; GG_UPDATE_GOLDEN=1 rewrites it"


def seed_trace():
    return gg.grad(SEED, EXAMPLE_1)


def test_seed_golden():
    golden("seed.dot", to_dot(seed_trace()))


def test_fanout_golden():
    golden("fanout.dot", to_dot(gg.grad("e = (a+b)*(b+1)", a=2, b=1), rankdir="TB"))


def test_same_bytes_every_run():
    assert to_dot(seed_trace()) == to_dot(seed_trace())


def test_every_node_and_edge_once_with_name_ids():
    source = to_dot(seed_trace())
    for name in ("x", "y", "W1", "W2", "B", "2", "z1", "z2", "z3", "z4", "L"):
        assert len(re.findall(rf'^  "{name}" \[id=', source, re.M)) == 1
    edges = re.findall(r'^  "([^"]+)" -> "([^"]+)"', source, re.M)
    assert edges == [("x", "z1"), ("W1", "z1"), ("y", "z2"), ("W2", "z2"), ("z1", "z3"), ("z2", "z3"),
                     ("z3", "z4"), ("B", "z4"), ("z4", "L"), ("2", "L")]


def test_node_shows_name_op_value_and_gradient():
    source = to_dot(seed_trace())
    z3 = next(line for line in source.splitlines() if line.startswith('  "z3" ['))
    assert "<B>z3</B>\u00a0= z1 + z2" in z3 and "value = 2.5" in z3 and "grad = 4" in z3
    w1 = next(line for line in source.splitlines() if line.startswith('  "W1" ['))
    assert "<B>W1</B>  input" in w1 and "value = 0.1" in w1 and "grad = 20" in w1


def test_edge_labels_are_local_derivatives():
    source = to_dot(seed_trace())
    assert '"W1" -> "z1" [id="e6_1" label=<∂z1/∂W1 = 5>]' in source
    assert '"z4" -> "L" [id="e10_0" label=<∂L/∂z4 = 4>]' in source
    assert '"2" -> "L" [id="e10_1"]' in source  # no derivative into a constant
    assert "label=<∂" not in to_dot(seed_trace(), edge_labels=False)


def test_constants_are_compact_ellipses():
    line = next(line for line in to_dot(seed_trace()).splitlines() if line.startswith('  "2" ['))
    assert "shape=ellipse" in line and "label=<2>" in line and "grad" not in line


def test_digits():
    trace = gg.grad("y = x/3", x=1)
    assert "value = 0.3333" in to_dot(trace)
    assert "value = 0.333333333" in to_dot(trace, digits=9)
    with pytest.raises(ValueError, match="digits"):
        to_dot(trace, digits=0)


def test_rankdir_and_compact():
    trace = seed_trace()
    assert "rankdir=TB" in to_dot(trace, rankdir="TB")
    with pytest.raises(ValueError, match="rankdir"):
        to_dot(trace, rankdir="XY")
    compact = to_dot(trace, compact=True)
    assert "label=<∂" not in compact and "value =" not in compact and "0.5 | ∇ 4" in compact


def test_large_graphs_are_compact_by_default():
    (x,) = gg.inputs("x")
    expression = x
    for _ in range(40):
        expression = gg.tanh(expression * 0.5)
    assert "value =" not in to_dot(gg.grad(gg.build(expression), x=1))


def test_colour_by_sign_and_share_of_largest():
    assert fill(40.0, 40.0) == POSITIVE[-1] and fill(-40.0, 40.0) == NEGATIVE[-1]
    assert fill(4.0, 40.0) == POSITIVE[2] and fill(0.4, 40.0) == POSITIVE[1] and fill(0.04, 40.0) == POSITIVE[0]
    assert fill(0.0, 40.0) == ZERO_FILL and fill(float("inf"), 40.0) == POSITIVE[-1]
    source = to_dot(seed_trace())
    w2 = next(line for line in source.splitlines() if line.startswith('  "W2" ['))
    b = next(line for line in source.splitlines() if line.startswith('  "B" ['))
    assert f'BGCOLOR="{POSITIVE[-1]}"' in w2 and f'BGCOLOR="{NEGATIVE[2]}"' in b
    assert 'FONT COLOR="white"' in w2  # dark fill, light text


def test_legend_names_the_output_and_explains_colours():
    source = to_dot(gg.grad("loss = x**2", x=3))
    assert "fill = dloss/dnode:" in source and "not yet known" in source and "inf or nan" in source
    assert "legend" not in to_dot(gg.grad("loss = x**2", x=3), legend=False)
    assert "fill =" not in to_dot(gg.parse("loss = x**2"))  # no gradients, no legend


def test_faulty_nodes_are_marked():
    source = to_dot(gg.grad("y = log(x) + 1", x=-1))
    z1 = next(line for line in source.splitlines() if line.startswith('  "z1" ['))
    y = next(line for line in source.splitlines() if line.startswith('  "y" ['))
    assert "⚠ nan born here: outside the domain" in z1 and 'BGCOLOR="#ffe08a"' in z1
    assert "⚠ nan: from a nan argument" in y
    assert "⚠ inf: overflow or a pole" in to_dot(gg.grad("y = 1/x", x=0))


def test_non_finite_gradients_are_marked():
    source = to_dot(gg.grad("L = sqrt(x)*x", x=0))  # value 0 is fine, dL/dx = 0*inf = nan
    x = next(line for line in source.splitlines() if line.startswith('  "x" ['))
    assert "⚠ gradient is nan" in x and 'BGCOLOR="#ffe08a"' in x


def test_graph_without_values_shows_structure():
    source = to_dot(gg.parse(SEED))
    assert "value =" not in source and "grad =" not in source and "<B>z4</B>\u00a0= z3 - B" in source


def test_view_hides_unknown_numbers_and_highlights():
    view = View(values=frozenset({"x", "W1", "z1"}), grads=frozenset({"L"}), current="z1",
                edges=frozenset({("z1", 0)}), caption="z1 = x*W1 = 5*0.1 = 0.5")
    source = to_dot(seed_trace(), view=view)
    z1 = next(line for line in source.splitlines() if line.startswith('  "z1" ['))
    z2 = next(line for line in source.splitlines() if line.startswith('  "z2" ['))
    assert "value = 0.5" in z1 and "grad = ?" in z1 and 'COLOR="#ff7f0e"' in z1 and 'BORDER="3"' in z1
    assert "value = ?" in z2 and f'BGCOLOR="{UNKNOWN_FILL}"' in z2
    assert '"x" -> "z1" [id="e6_0" label=<∂z1/∂x = 0.1> color="#ff7f0e" penwidth=3]' in source
    assert "z1 = x*W1 = 5*0.1 = 0.5" in source and "labelloc=b" in source
    assert "∂L/∂z4" not in source  # a local derivative appears once its node's value is known


def test_pins_fix_positions_and_sizes():
    pins = Pins({"n6": {"pos": "10,20", "width": "1", "height": "0.5"}, "e6_0": {"pos": "e,1,2 3,4"}},
                {"bb": "0,0,100,100"})
    source = to_dot(seed_trace(), pins=pins)
    z1 = next(line for line in source.splitlines() if line.startswith('  "z1" ['))
    assert 'FIXEDSIZE="TRUE" WIDTH="72" HEIGHT="36"' in z1 and z1.endswith(' height="0.5" pos="10,20" width="1"];')
    assert 'pos="e,1,2 3,4"' in source and 'bb="0,0,100,100"' in source


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_cannot_change_the_structure(name):
    (a,) = gg.inputs([name])
    trace = gg.grad(gg.build((a * 2).named(name + "!")), {name: 3.0})
    source = to_dot(trace)
    dot_id = r'(?:"(?:[^"\\]|\\.)*"|<[^<>]*>)'  # a quoted string or an HTML-like string
    node_lines = [line for line in source.splitlines() if re.match(rf'^  {dot_id} \[id="n\d"', line)]
    edge_lines = [line for line in source.splitlines()
                  if re.match(rf'^  {dot_id} -> {dot_id} \[id="e\d_\d"', line)]
    assert len(node_lines) == 3 and len(edge_lines) == 2
    # inside an HTML-like label the name is entity-escaped: no raw markup characters
    label_text = "".join(re.findall(r"<TD>(.*?)</TD>", source))
    assert "<b>" not in label_text.replace("<B>", "").replace("</B>", "")


def test_quote():
    assert quote("z1") == '"z1"'
    assert quote('a"b') == '"a\\"b"'
    assert quote("a\\") == "<a\\>"
    assert quote("<b>\\") == "<&lt;b&gt;\\>"
    assert quote("a&b") == '"a&amp;b"'
    assert quote("%1") == '"\u2060%1"'  # Graphviz keeps ids starting with % for itself


def test_format_number():
    assert format_number(-0.0) == "0" and format_number(1e-20) == "1e-20" and format_number(float("nan")) == "nan"


def test_rejects_other_objects():
    with pytest.raises(TypeError, match="Trace or a Graph"):
        to_dot("L = x")


def test_captions_wrap_and_reserve_room():
    from graphviz_grad.dot import text_width, to_dot_frames, wrap

    caption = " + ".join(["dL/dz1 · ∂z1/∂b"] * 12)
    assert all(len(line) <= 100 for line in wrap(caption)) and " ".join(wrap(caption)) == caption
    (source,) = to_dot_frames(seed_trace(), [View()], room=["short", caption])
    width = int(re.search(r'CELLSPACING="2" WIDTH="(\d+)"', source)[1])
    assert width >= max(text_width(line) for line in wrap(caption))
    assert text_width("WWW") > text_width("iii") and text_width("∂") >= text_width("a")


def test_symbolic_edge_labels():
    source = to_dot(seed_trace(), symbolic=True)
    assert '"z4" -> "L" [id="e10_0" label=<∂L/∂z4 = 2·z4 = 4>]' in source
    assert '"W1" -> "z1" [id="e6_1" label=<∂z1/∂W1 = x = 5>]' in source
    assert '"z3" -> "z4" [id="e9_0" label=<∂z4/∂z3 = 1>]' in source  # no "1 = 1"
    assert "·" not in to_dot(seed_trace())  # only on request (it imports SymPy)


def test_an_absolute_scale_makes_pictures_of_different_steps_compare():
    import re

    import graphviz_grad as gg
    from graphviz_grad.dot import NEGATIVE, POSITIVE

    def fills(source):
        return dict(re.findall(r'^  "(\w+)" \[id="n\d+" label=<<TABLE [^>]*BGCOLOR="(#\w+)"', source, re.M))

    small = gg.grad("L = (x*W1 + y*W2 - B)**2", x=5, y=10, W1=0.1, W2=0.2, B=2.3)  # dL/dW2 = 4, dL/dB = -0.4
    assert fills(to_dot(small))["W2"] == POSITIVE[-1]  # relative: the largest is always the darkest
    absolute = to_dot(small, scale=200)
    assert fills(absolute)["W2"] == POSITIVE[1] and fills(absolute)["B"] == NEGATIVE[0]  # 4/200, 0.4/200
    assert "a larger share of |grad| = 200" in absolute and "a larger share of the largest |grad|" in to_dot(small)
    assert fills(to_dot(small, scale=1))["W2"] == POSITIVE[-1]  # above the scale: the darkest
    for bad in (0, -1, float("inf"), float("nan"), True, "40"):
        with pytest.raises(ValueError, match="scale must be a finite number > 0"):
            to_dot(small, scale=bad)
