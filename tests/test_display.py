"""Jupyter display: SVG, an <img> fallback for untrusted notebooks, and deterministic plain text."""

import base64
import re
import sys
import types

import pytest

import graphviz_grad as gg
from graphviz_grad import display, layout
from graphviz_grad.display import Diagram, describe, diagram, register_ipython
from graphviz_grad.frames import frames

from .conftest import EXAMPLE_1, SEED

SEED_TEXT = ("Diagram of z1 = x*W1; z2 = y*W2; z3 = z1 + z2; z4 = z3 - B; L = z4**2 at x = 5, W1 = 0.1, "
             "y = 10, W2 = 0.2, B = 0.5: L = 4, dL/dx = 0.4, dL/dW1 = 20, dL/dy = 0.8, dL/dW2 = 40, dL/dB = -4")


def test_plain_text_is_deterministic():
    picture = diagram(gg.grad(SEED, EXAMPLE_1))
    assert str(picture) == SEED_TEXT and repr(picture) == f"<{SEED_TEXT}>"
    assert describe(gg.parse(SEED)) == "Graph of z1 = x*W1; z2 = y*W2; z3 = z1 + z2; z4 = z3 - B; L = z4**2"


def test_long_programs_are_summarised():
    (x,) = gg.inputs("x")
    expression = x
    for _ in range(100):
        expression = expression * 1.01
    text = describe(gg.grad(gg.build(expression), x=1))
    assert text.startswith("Diagram of L (102 nodes) at x = 1: L = 2.705") and len(text) < 200


@pytest.mark.dot
def test_mimebundle_has_svg_img_and_text():
    bundle = diagram(gg.grad(SEED, EXAMPLE_1))._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/html", "text/plain"}
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml") and "grad = 20" in bundle["image/svg+xml"]
    encoded = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', bundle["text/html"])[1]
    assert base64.b64decode(encoded).decode() == bundle["image/svg+xml"]
    assert bundle["text/plain"] == SEED_TEXT


def test_without_graphviz_the_cell_still_shows_text(monkeypatch):
    monkeypatch.setattr(layout, "available", lambda: ())
    bundle = diagram(gg.grad(SEED, EXAMPLE_1))._repr_mimebundle_()
    assert set(bundle) == {"text/plain"}
    assert bundle["text/plain"].startswith(SEED_TEXT) and "apt-get install graphviz" in bundle["text/plain"]


@pytest.mark.dot
def test_a_frame_displays_with_its_caption():
    frame = frames(gg.grad(SEED, EXAMPLE_1))[8]
    bundle = frame._repr_mimebundle_()
    assert bundle["text/plain"] == "dL/dz3 = dL/dz4 · ∂z4/∂z3 = dL/dz4 · 1 = 4 · 1 = 4"
    assert "grad = ?" in bundle["image/svg+xml"]


def test_diagram_options_reach_the_dot_text():
    picture = Diagram(gg.grad(SEED, EXAMPLE_1), rankdir="TB", digits=2, legend=False)
    assert "rankdir=TB" in picture.source and "fill =" not in picture.source
    with pytest.raises(TypeError, match="Trace or a Graph"):
        Diagram(SEED)


@pytest.mark.parametrize("backend", [pytest.param("system", marks=pytest.mark.dot),
                                     pytest.param("pure", marks=pytest.mark.pure)])
def test_pipe_formats(backend):
    picture = diagram(gg.grad(SEED, EXAMPLE_1), backend=backend)
    assert picture.pipe("svg") is picture.svg()  # laid out once
    assert picture.pipe("png").startswith(b"\x89PNG") and picture.pipe("dot") == picture.source.encode()


def test_ipython_registration(monkeypatch):
    registered = {}

    class Formatter:
        def for_type(self, kind, function):
            registered[kind] = function

    shell = types.SimpleNamespace(display_formatter=types.SimpleNamespace(mimebundle_formatter=Formatter()))
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert register_ipython() is True
    assert set(registered) == {gg.Trace, gg.Graph}
    monkeypatch.setattr(layout, "available", lambda: ())
    assert registered[gg.Trace](gg.grad("y = x*2", x=1))["text/plain"].startswith("Diagram of y = x*2")
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert register_ipython() is False


def test_display_module_does_not_import_sympy():
    assert display.__name__ == "graphviz_grad.display"
    import subprocess

    code = "import graphviz_grad.display, graphviz_grad.frames, graphviz_grad.player, sys; print('sympy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
