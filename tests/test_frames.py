"""Step-by-step frames: captions with the arithmetic, what each frame shows, fixed node positions."""

import io
import xml.etree.ElementTree as ET

import pytest

import graphviz_grad as gg
from graphviz_grad.dot import View
from graphviz_grad.frames import BACKWARD, DONE, FORWARD, frames, render_frames, to_gif

from .conftest import EXAMPLE_1, SEED
from .test_derivation import SEED_BACKWARD, SEED_FORWARD

SVG = "{http://www.w3.org/2000/svg}"
BACKENDS = [pytest.param("system", marks=pytest.mark.dot), pytest.param("pure", marks=pytest.mark.pure)]

SEED_CAPTIONS = [
    "Forward pass: the inputs x = 5, W1 = 0.1, y = 10, W2 = 0.2, B = 0.5",
    *SEED_FORWARD,  # a caption is the step's line, as in the derivation
    "Backward pass: dL/dL = 1",
    *SEED_BACKWARD[1:],
    "Done: dL/dx = 0.4, dL/dW1 = 20, dL/dy = 0.8, dL/dW2 = 40, dL/dB = -4",
]


def seed_trace():
    return gg.grad(SEED, EXAMPLE_1)


def test_seed_captions():
    sequence = frames(seed_trace())
    assert [frame.caption for frame in sequence] == SEED_CAPTIONS
    assert [frame.phase for frame in sequence] == [FORWARD] * 6 + [BACKWARD] * 10 + [DONE]
    assert [frame.index for frame in sequence] == list(range(17))


def test_forward_frames_reveal_values_in_order():
    sequence = frames(seed_trace(), backward=False)
    assert sequence[0].view.values == {"x", "W1", "y", "W2", "B", "2"} and sequence[0].view.grads == set()
    assert sequence[1].view.current == "z1" and sequence[1].view.edges == {("z1", 0), ("z1", 1)}
    assert "z2" not in sequence[1].view.values and sequence[2].view.values >= {"z1", "z2"}


def test_backward_frames_fill_gradients_and_highlight_edges():
    sequence = frames(seed_trace(), forward=False)
    assert sequence[0].view.grads == {"L"} and sequence[0].view.current == "L" and not sequence[0].view.edges
    assert sequence[1].view.grads == {"L", "z4"} and sequence[1].view.edges == {("L", 0)}
    assert sequence[-1].view == View(caption=SEED_CAPTIONS[-1])  # the last frame shows every gradient


def test_fan_out_sums_the_contributions():
    captions = [frame.caption for frame in frames(gg.grad("e = (a+b)*(b+1)", a=2, b=1))]
    assert ("de/db = de/dz1 · ∂z1/∂b + de/dz2 · ∂z2/∂b = de/dz1 · 1 + de/dz2 · 1"
            " = 2 · 1 + 3 · 1 = 5") in captions
    step = next(frame for frame in frames(gg.grad("e = (a+b)*(b+1)", a=2, b=1)) if frame.view.current == "b"
                and frame.phase == BACKWARD)
    assert step.view.edges == {("z1", 1), ("z2", 0)}


def test_a_node_used_twice_by_one_operation():
    caption = frames(gg.grad("y = x*x", x=3), forward=False)[1].caption
    assert caption == "dy/dx = ∂y/∂x + ∂y/∂x = x + x = 3 + 3 = 6"


def test_negative_numbers_are_parenthesised_and_digits_apply():
    captions = [frame.caption for frame in frames(gg.grad("y = x/3", x=-1), digits=3)]
    assert "y = x/3 = (-1)/3 = -0.333" in captions


def test_function_arguments_are_not_parenthesised_twice():
    captions = [frame.caption for frame in frames(gg.grad("y = log(x) + max(x, -x)*2*3", x=-1))]
    assert "z1 = log(x) = log(-1) = nan  [nan born here: outside the domain]" in captions and "z2 = -x = -(-1) = 1" in captions
    assert "z3 = max(x, z2) = max(-1, 1) = 1" in captions
    assert "z1 = 2·3 = 6" in [frame.caption for frame in frames(gg.grad("n = 2*3 + x", x=1))]


def test_long_lists_in_captions_are_cut():
    names = [f"w{i}" for i in range(20)]
    trace = gg.grad(" + ".join(names), dict.fromkeys(names, 1.0))
    sequence = frames(trace)
    assert sequence[0].caption.endswith("w7 = 1 and 12 more")
    assert sequence[-1].caption.endswith("dL/dw7 = 1 and 12 more")


def test_inputs_that_do_not_reach_the_output_get_no_step():
    sequence = frames(gg.grad("u = a*2; y = b*3", a=1, b=1), forward=False)
    assert [frame.view.current for frame in sequence] == ["y", "b", None]
    assert sequence[-1].caption == "Done: dy/da = 0, dy/db = 3"


def test_frames_need_a_trace():
    with pytest.raises(TypeError, match="frames need a Trace"):
        frames(gg.parse(SEED))


def node_geometry(svg):
    """Each node's shape coordinates and each edge's path, by DOT id."""
    tree = ET.fromstring(svg)
    shapes = {}
    for group in tree.iter(f"{SVG}g"):
        if group.get("class") in ("node", "edge"):
            outline = next(iter(child for child in group if child.tag in (
                f"{SVG}polygon", f"{SVG}ellipse", f"{SVG}path")), None)
            shapes[group.get("id")] = dict(outline.attrib) if outline is not None else None
            for key in ("fill", "stroke", "stroke-width"):
                (shapes[group.get("id")] or {}).pop(key, None)
    return shapes


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("formula", [SEED, "e = (a+b)*(b+1)", "y = log(x) + exp(x*x)/x"])
def test_node_positions_do_not_move_between_frames(backend, formula):
    trace = gg.grad(formula, EXAMPLE_1) if formula == SEED else gg.grad(formula, dict.fromkeys(gg.parse(formula).inputs, 2.0))
    pictures = render_frames(trace, "svg", backend=backend)
    assert len(pictures) == len(frames(trace))
    first = node_geometry(pictures[0])
    assert len([key for key in first if key.startswith("n")]) == len(trace.graph)
    for picture in pictures[1:]:
        assert node_geometry(picture) == first


@pytest.mark.parametrize("backend", BACKENDS)
def test_frame_pictures_show_the_frame(backend):
    pictures = render_frames(seed_trace(), "svg", backend=backend)
    texts = [[element.text for element in ET.fromstring(picture).iter(f"{SVG}text")] for picture in pictures]
    assert "grad = ?" in texts[8] and "grad = 4" in texts[8] and "value = 2.5" in texts[8]
    assert "value = ?" in texts[1]
    assert "grad = ?" not in texts[-1] and "grad = 20" in texts[-1]
    assert SEED_CAPTIONS[8] in texts[8]
    highlighted = ET.fromstring(pictures[8]).find(f".//{SVG}g[@id='n8']")  # z3, the current node
    assert any(element.get("stroke") == "#ff7f0e" for element in highlighted.iter())


def test_dot_frames_need_no_backend(monkeypatch):
    from graphviz_grad import layout

    monkeypatch.setattr(layout, "available", lambda: ())
    monkeypatch.setattr("graphviz_grad.frames.available", lambda: ())
    sources = render_frames(seed_trace(), "dot")
    assert len(sources) == 17 and all(source.startswith(b'digraph "L"') for source in sources)
    assert b" pos=" not in sources[0]


@pytest.mark.dot
def test_dot_frames_are_pinned_when_graphviz_is_there():
    sources = render_frames(seed_trace(), "dot")
    assert all(b' pos="' in source for source in sources)


@pytest.mark.parametrize("backend", BACKENDS)
def test_png_frames_and_gif(backend):
    from PIL import Image

    pngs = render_frames(seed_trace(), "png", backend=backend)
    sizes = {Image.open(io.BytesIO(png)).size for png in pngs}
    assert len(sizes) == 1
    animation = Image.open(io.BytesIO(to_gif(pngs)))
    assert animation.format == "GIF" and animation.n_frames == 17 and animation.size == sizes.pop()
    assert animation.info["loop"] == 0


def test_gif_without_frames():
    with pytest.raises(Exception, match="at least one frame"):
        to_gif([])
