"""Layout backends: the system Graphviz binaries and the graphviz-pure fallback, SVG checked by content."""

import xml.etree.ElementTree as ET

import pytest

import graphviz_grad as gg
from graphviz_grad import layout
from graphviz_grad.dot import to_dot
from graphviz_grad.layout import BackendMissing, LayoutError, choose, pin, render, render_many

from .conftest import EXAMPLE_1, SEED

SVG = "{http://www.w3.org/2000/svg}"
BACKENDS = [pytest.param("system", marks=pytest.mark.dot), pytest.param("pure", marks=pytest.mark.pure)]
HOSTILE = ["<b>", "a|b", "{x}", '"', "\\", "javascript:alert(1)", 'a\\"b', "x&amp;y", "]; evil [", "-> z",
           "<script>alert(1)</script>", "a&b", "&amp;", "&lt;b&gt;", "&#60;", "&#xD800;", "&nbsp;", "%1",
           "]]>", "<!--", "\\N\\G\\l"]


def svg_tree(data):
    return ET.fromstring(data)


def titles(tree, kind):
    return [group.find(f"{SVG}title").text for group in tree.iter(f"{SVG}g") if group.get("class") == kind]


def texts(tree):
    """The SVG's texts as a reader sees them (without the invisible word joiners of dot._html)."""
    return [(element.text or "").replace("\u2060", "") for element in tree.iter(f"{SVG}text")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_svg_content(backend):
    tree = svg_tree(render(to_dot(gg.grad(SEED, EXAMPLE_1)), "svg", backend=backend))
    assert sorted(titles(tree, "node")) == sorted(["x", "W1", "y", "W2", "B", "2", "z1", "z2", "z3", "z4", "L"])
    assert "z3->z4" in titles(tree, "edge")
    words = texts(tree)
    for expected in ("value = 0.5", "grad = 20", "grad = -4", "value = 4", "∂z1/∂W1 = 5", "∂L/∂z4 = 4"):
        assert expected in words, expected
    assert any(text and text.startswith(" = z3 - B") for text in words)
    assert 'font-family="Helvetica,sans-Serif"' in render(to_dot(gg.grad("y = 2*x", x=1)), backend=backend).decode()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_render_literally(backend, name):
    (a,) = gg.inputs([name])
    output = name + "!"
    trace = gg.grad(gg.build((a * 2).named(output)), {name: 3.0})
    data = render(to_dot(trace), "svg", backend=backend)
    tree = svg_tree(data)  # well-formed XML: nothing broke out of an attribute or a text node
    shown = [title.removeprefix("\u2060") for title in titles(tree, "node")]  # see dot.quote
    assert sorted(shown) == sorted([name, "2", output])
    assert len(titles(tree, "edge")) == 2
    words = "".join(texts(tree))
    assert name in words and output in words
    assert f"∂{output}/∂{name} = 2" in texts(tree)  # edge labels are literal too
    tags = {element.tag for element in tree.iter()}
    assert f"{SVG}script" not in tags and f"{SVG}a" not in tags and f"{SVG}foreignObject" not in tags
    assert b"href" not in data


@pytest.mark.parametrize("backend", BACKENDS)
def test_png(backend):
    data = render(to_dot(gg.grad(SEED, EXAMPLE_1)), "png", backend=backend)
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")


@pytest.mark.dot
def test_pdf_with_system_graphviz():
    assert render(to_dot(gg.grad(SEED, EXAMPLE_1)), "pdf", backend="system").startswith(b"%PDF")


def test_pdf_needs_the_binaries(monkeypatch):
    monkeypatch.setattr(layout, "available", lambda: ("pure",))
    with pytest.raises(BackendMissing, match="PDF needs the Graphviz binaries: install Graphviz"):
        choose("pdf")
    with pytest.raises(LayoutError, match="cannot write PDF"):
        choose("pdf", "pure")


def test_dot_format_needs_no_backend(monkeypatch):
    monkeypatch.setattr(layout, "available", lambda: ())
    assert render("digraph { a }", "dot") == b"digraph { a }"
    assert render_many(["digraph { a }"] * 2, "dot") == [b"digraph { a }"] * 2


def test_no_backend_says_how_to_install(monkeypatch):
    monkeypatch.setattr(layout, "available", lambda: ())
    with pytest.raises(BackendMissing) as caught:
        render("digraph { a }", "svg")
    message = str(caught.value)
    assert "apt-get install graphviz" in message and "pip install graphviz-pure" in message
    assert "\n" not in message
    with pytest.raises(BackendMissing, match="the system Graphviz backend is not installed"):
        render("digraph { a }", "svg", backend="system")


def test_unknown_format_and_backend():
    with pytest.raises(LayoutError, match="unknown format 'jpg'"):
        render("digraph { a }", "jpg")
    with pytest.raises(LayoutError, match="unknown backend 'wasm'"):
        render("digraph { a }", "svg", backend="wasm")


def test_prefers_the_system_binaries(monkeypatch):
    monkeypatch.setattr(layout, "available", lambda: ("system", "pure"))
    assert choose("svg") == "system"
    monkeypatch.setattr(layout, "available", lambda: ("pure",))
    assert choose("svg") == "pure"


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_dot_is_a_one_line_error(backend):
    with pytest.raises(LayoutError) as caught:
        render("digraph { a -> }", "svg", backend=backend)
    assert "\n" not in str(caught.value) and "syntax error" in str(caught.value)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_several_graphs_in_one_run(backend, fmt):
    sources = [f"digraph {{ a{i} -> b }}" for i in range(3)]
    pictures = render_many(sources, fmt, backend=backend)
    assert len(pictures) == 3
    if fmt == "svg":
        assert [titles(svg_tree(picture), "node")[0] for picture in pictures] == ["a0", "a1", "a2"]
    else:
        assert all(picture.startswith(b"\x89PNG") for picture in pictures)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pin_reads_every_node_and_edge(backend):
    trace = gg.grad(SEED, EXAMPLE_1)
    objects, graph = pin(to_dot(trace), backend=backend)
    assert {f"n{i}" for i in range(11)} <= set(objects)
    assert {"e6_0", "e6_1", "e10_0", "e10_1"} <= set(objects)
    assert set(objects["n0"]) == {"pos", "width", "height"} and "bb" in graph


def test_png_splitting_walks_chunks():
    png = render_many.__globals__["_png_files"]
    fake = b"\x89PNG\r\n\x1a\n" + (4).to_bytes(4, "big") + b"tEXt" + b"\x89PNG" + b"crc!" + \
        (0).to_bytes(4, "big") + b"IEND" + b"crc!"
    assert list(png(fake * 2)) == [fake, fake]  # a signature inside a chunk does not split
    with pytest.raises(LayoutError):
        list(png(b"not a png"))
