"""The tutorial notebooks run top to bottom in a fresh kernel, and what is committed is what they show.

Each notebook asserts its key numbers in its own cells, so executing it is the test; this file
executes them (with notebooks/run.py's functions, the same code that saved them) and checks
the saved copies: outputs present, small, free of volatile data, and the same text as a fresh run.
"""

import importlib.util
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "notebooks"
NAMES = ["01_gradient_calculator.ipynb", "02_backprop_step_by_step.ipynb", "03_symbolic_vs_numeric.ipynb",
         "04_build_your_own_graph.ipynb", "05_gradient_descent.ipynb", "06_forward_vs_reverse.ipynb",
         "07_curvature_and_learning_rate.ipynb", "08_train_an_mlp.ipynb", "09_exercises.ipynb"]
MOST_BYTES = 300_000
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _runner():
    spec = importlib.util.spec_from_file_location("notebook_runner", FOLDER / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _saved(name):
    return json.loads((FOLDER / name).read_text(encoding="utf-8"))


def test_the_notebooks_are_there_and_the_readmes_link_each():
    assert sorted(path.name for path in FOLDER.glob("*.ipynb")) == NAMES
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    contents = (FOLDER / "README.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"](notebooks/{name})" in readme, name
        assert f"]({name})" in contents, name  # the table of contents lists every one


@pytest.mark.parametrize("name", NAMES)
def test_saved_notebooks_carry_outputs_and_nothing_volatile(name):
    notebook = _saved(name)
    assert (FOLDER / name).stat().st_size < MOST_BYTES
    cells = notebook["cells"]
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# ")
    assert "## What you saw" in "".join(cells[-1]["source"])
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1))  # run in order
    assert all(cell["outputs"] for cell in code), "every code cell shows something"
    assert "widgets" not in notebook["metadata"]
    # as the kernel reports it, as JupyterLab writes it on opening: saving changes nothing
    assert set(notebook["metadata"]["language_info"]) >= {"name", "version", "mimetype", "codemirror_mode"}
    for cell in code:
        assert "execution" not in cell["metadata"]
        for output in cell["outputs"]:
            assert output["output_type"] != "error" and output.get("name") != "stderr"
            assert WIDGET_VIEW not in output.get("data", {})
            assert "text/plain" in output.get("data", {"text/plain": ""})  # every rich output has text


@pytest.mark.parametrize("name", NAMES)
def test_saved_pictures_are_svg_or_small_png(name):
    pictures = [output["data"] for cell in _saved(name)["cells"] if cell["cell_type"] == "code"
                for output in cell["outputs"] if set(output.get("data", {})) & {"image/png", "image/svg+xml"}]
    assert pictures, "a tutorial shows at least one picture GitHub can display"
    assert all(len(data.get("image/png", "")) < 80_000 for data in pictures)


class _VisibleText(HTMLParser):
    """The text an HTML fragment still shows where iframes, scripts and styles are removed and
    images lose their ``data:`` sources, as a sanitizer may do (GitHub removes iframes and
    scripts): the text outside those elements, and the alt text of each image left without a source."""

    HIDDEN = frozenset({"iframe", "script", "style", "template"})

    def __init__(self):
        super().__init__()
        self.hidden = 0
        self.parts = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag == "img" and not self.hidden:
            source = (attributes.get("src") or "").strip().lower()
            stripped = source.startswith("data:") or not source
            self.parts.append((attributes.get("alt") or "") if stripped else source)

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)

    @classmethod
    def of(cls, fragment):
        parser = cls()
        parser.feed(fragment)
        parser.close()
        return " ".join(" ".join(parser.parts).split())


def test_visible_text_keeps_what_a_sanitizer_leaves():
    assert _VisibleText.of("<p>a &amp; b</p><iframe srcdoc='<p>inside</p>'>fallback</iframe>") == "a & b"
    assert _VisibleText.of("<script>x = '<p>no</p>'</script><img src='data:image/png;base64,AA' alt='a chart'>") == (
        "a chart")
    assert _VisibleText.of("<iframe srcdoc='x'></iframe><img src='data:image/svg+xml;base64,AA'>") == ""


@pytest.mark.parametrize("name", NAMES)
def test_saved_html_outputs_still_say_something_without_iframes_scripts_or_data_images(name):
    """GitHub's notebook view strips what runs or embeds; no HTML output may be left blank."""
    for number, cell in enumerate(_saved(name)["cells"]):
        for output in cell.get("outputs", []):
            page = output.get("data", {}).get("text/html")
            if page is not None:
                assert _VisibleText.of("".join(page)), f"{name}, cell {number}: blank without JavaScript"


@pytest.mark.parametrize("name", NAMES)
def test_saved_text_forms_are_ours_not_python_default_reprs(name):
    """A rich output's text/plain says what it shows; '<IPython.core.display.Image object>' or
    '<... at 0x7f...>' says nothing and changes with the memory address."""
    for number, cell in enumerate(_saved(name)["cells"]):
        for output in cell.get("outputs", []):
            text = "".join(output.get("data", {}).get("text/plain", ""))
            assert not re.search(r"^<[\w.]+ object|at 0x[0-9a-f]+>", text), f"{name}, cell {number}: {text}"


@pytest.mark.kernel
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_shows_what_is_saved(name):
    runner = _runner()
    fresh = runner.execute(FOLDER / name)  # raises on the first failing cell or assertion
    saved = runner.nbformat.read(FOLDER / name, as_version=4)
    assert runner.shown_text(fresh) == runner.shown_text(saved), (
        f"{name}: the saved outputs are stale; run python notebooks/run.py")
    # what a kernel reports is what is saved, so JupyterLab, which writes the kernel's
    # language_info when it opens a notebook, has nothing to change (no "modified" on opening)
    assert fresh.metadata.language_info == saved.metadata.language_info, name


@pytest.mark.kernel
def test_the_kernel_is_this_python_and_its_prints_are_saved_whole(tmp_path):
    import sys

    runner = _runner()
    notebook = runner.nbformat.v4.new_notebook()
    notebook.cells.append(runner.nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    # two flushes, two stream messages: the runner saves them as one output
    notebook.cells.append(runner.nbformat.v4.new_code_cell(
        "import time\nprint('L =', end=' ', flush=True)\ntime.sleep(0.2)\nprint(4, flush=True)"))
    path = tmp_path / "which.ipynb"
    runner.nbformat.write(notebook, path)
    done = runner.execute(path)
    assert done.cells[0].outputs[0]["text"].strip() == sys.executable
    assert [(output["output_type"], output["text"]) for output in done.cells[1].outputs] == [("stream", "L = 4\n")]


def test_a_print_split_into_several_stream_outputs_reads_as_one():
    runner = _runner()
    v4 = runner.nbformat.v4

    def cell(*outputs):
        notebook = v4.new_notebook()
        notebook.cells.append(v4.new_code_cell("print(...)", outputs=list(outputs)))
        return runner.shown_text(notebook)

    picture = v4.new_output("display_data", data={"text/plain": "a chart", "image/png": "iVBO"})
    whole = cell(v4.new_output("stream", name="stdout", text="L = 4\nL = 2.238\n"), picture)
    split = cell(v4.new_output("stream", name="stdout", text="L = 4\nL = 2."),
                 v4.new_output("stream", name="stdout", text="238\n"), picture)
    assert whole == split == [["L = 4\nL = 2.238\n", "a chart"]]
    assert cell(v4.new_output("stream", name="stdout", text="L = 4\n")) != whole


def test_jupyter_checkpoints_are_not_committed():
    assert ".ipynb_checkpoints/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("name", NAMES)
def test_every_saved_picture_has_alt_text(name):
    """A picture says what it shows to a screen reader: as IPython's ``Image(alt=...)`` metadata,
    or in an HTML ``<img alt=...>`` beside it (diagrams)."""
    for number, cell in enumerate(_saved(name)["cells"]):
        for output in cell.get("outputs", []):
            data, metadata = output.get("data", {}), output.get("metadata", {})
            for kind in set(data) & {"image/png", "image/svg+xml"}:
                alt = metadata.get(kind, {}).get("alt") or re.search(r'alt="[^"]+"', "".join(data.get("text/html", "")))
                assert alt, f"{name}, cell {number}: {kind} without alt text"


@pytest.mark.parametrize("name", NAMES)
def test_a_cell_with_a_player_also_saves_a_picture(name):
    """The player needs JavaScript; where none runs, the same cell still shows a frame."""
    for number, cell in enumerate(_saved(name)["cells"]):
        outputs = cell.get("outputs", [])
        if any("<iframe" in "".join(output.get("data", {}).get("text/html", "")) for output in outputs):
            assert any(set(output.get("data", {})) & {"image/svg+xml", "image/png"} for output in outputs), (
                f"{name}, cell {number}")

