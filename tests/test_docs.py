"""The documentation site builds with warnings as errors, and says what the code does.

The build runs MkDocs exactly as a reader would (``mkdocs build --strict``); its generated
parts (the command reference, the function table, the gallery, shown outputs) come from the
code, so these tests check that they are there, complete, and that nothing points outside the
repository.
"""

import argparse
import doctest
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graphviz_grad.cli import make_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _commands():
    parser = make_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(target)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    return target


@pytest.mark.docs
def test_every_command_and_option_is_in_the_generated_reference(site):
    reference = (site / "cli" / "reference" / "index.html").read_text(encoding="utf-8")
    for name, command in _commands().items():
        assert f"graphviz-grad {name}" in reference
        page = site / "cli" / name / "index.html"
        text = page.read_text(encoding="utf-8") if page.exists() else reference
        for action in command._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"<code>{option}" in text, (name, option)


@pytest.mark.docs
def test_the_api_reference_notebooks_and_gallery_are_built(site):
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("graphviz_grad.grad", "graphviz_grad.engine.backward", "graphviz_grad.engine.Trace",
                 "graphviz_grad.symbolic.report.CheckReport", "graphviz_grad.calculator.Calculator"):
        assert f'id="{name}"' in api, name
    assert "language-pycon" in api or 'class="gp"' in api  # docstring examples shown as code
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        page = (site / "notebooks" / notebook.stem / "index.html").read_text(encoding="utf-8")
        assert "<img" in page or "<svg" in page, notebook.name  # rendered with its saved outputs
    pictures = sorted((site / "gallery").glob("*.svg"))
    assert len(pictures) >= 7 and all(b"<svg" in p.read_bytes() for p in pictures)
    assert b"dL/dz3 = dL/dz4" in (site / "gallery" / "step-backward.svg").read_bytes()
    assert "<svg" in (site / "gallery" / "seed-player.html").read_text(encoding="utf-8")


@pytest.mark.docs
def test_shown_outputs_are_the_real_ones(site):
    grad = (site / "cli" / "grad" / "index.html").read_text(encoding="utf-8")
    assert "dL/dW1 = 20" in grad and "de/db = 5" in grad
    check = (site / "sympy-check" / "index.html").read_text(encoding="utf-8")
    assert "the engine follows PyTorch: relu&#39;(0) = 0" in check or "the engine follows PyTorch: relu'(0) = 0" in check


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks


@pytest.mark.docs
def test_the_hooks_examples():
    hooks = _hooks()
    assert doctest.testmod(hooks).failed == 0
    with pytest.raises(ValueError, match="no command 'nope'"):
        hooks.cli_reference("nope")


@pytest.mark.docs
def test_a_page_the_nav_does_not_list_is_still_in_the_site(tmp_path, monkeypatch):
    hooks = _hooks()
    for name in ("index.md", "new-topic.md", "cli/grad.md", "cli/hessian.md"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("# x\n")
    monkeypatch.setattr(hooks, "DOCS", tmp_path)
    config = {"nav": [{"Home": "index.md"}, {"Commands": [{"grad": "cli/grad.md"}]}], "markdown_extensions": []}
    nav = hooks.on_config(config)["nav"]
    assert nav[-1] == {"More topics": ["cli/hessian.md", "new-topic.md"]}


def test_nothing_points_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:  # not a git checkout (an sdist): read the files themselves
        tracked = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    outside = re.compile(r"ARCHITECTURE\.md|\.\./shared/|/work/")
    for name in tracked:
        path = ROOT / name
        if path.suffix in (".py", ".md", ".toml", ".yml", ".ipynb", ".js", ".html") and path.is_file():
            if path.name == "test_docs.py":
                continue
            found = outside.search(path.read_text(encoding="utf-8", errors="replace"))
            assert found is None, f"{name} points outside the repository: {found.group()!r}"


@pytest.mark.parametrize("page", ["python.md", "formula-language.md", "sympy-check.md"])
def test_the_python_examples_on_the_pages_run(page, tmp_path, monkeypatch):
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", text, re.S | re.M)
    assert blocks, f"{page} has no Python example"
    monkeypatch.chdir(tmp_path)  # an example writes seed.html
    namespace = {}
    for block in blocks:
        exec(compile(block, page, "exec"), namespace)  # our own documentation, not user input
    if page == "python.md":  # the values its comments promise
        assert namespace["page"].loss == 4.0 and namespace["run"].status == "finished"
        assert namespace["derivation"].backward[5].text == "dL/dB = dL/dz4 · ∂z4/∂B = dL/dz4 · (-1) = 4 · (-1) = -4"
        assert namespace["steps"][8].caption == "dL/dz3 = dL/dz4 · ∂z4/∂z3 = dL/dz4 · 1 = 4 · 1 = 4"


def test_the_errors_shown_on_the_language_page_are_the_real_ones():
    from graphviz_grad import FormulaError, parse

    text = (DOCS / "formula-language.md").read_text(encoding="utf-8")
    section = text[text.index("## Errors that teach"):text.index("## The same graph from Python")]
    rows = re.findall(r"^\| `(.+?)` \| (.+?) \|$", section, re.M)
    assert len(rows) >= 10
    for formula, shown in rows:
        with pytest.raises(FormulaError) as caught:
            parse(formula)
        message = str(caught.value).split(": ", 1)[1]  # after "line 1, column 5"
        for part in shown.split(" … "):  # "…" stands for text left out on the page
            assert part.rstrip("…").strip() in message, (formula, message)


def test_the_check_page_explains_every_status_the_check_gives():
    from graphviz_grad.symbolic.report import _STATUSES

    text = (DOCS / "sympy-check.md").read_text(encoding="utf-8")
    section = text[text.index("## Statuses"):text.index("## Reading a report")]
    assert re.findall(r"^\| `([\w ]+)` \|", section, re.M) == list(_STATUSES)


def test_the_numbers_page_explains_every_node_status():
    from graphviz_grad.engine import STATUSES

    text = (DOCS / "numbers.md").read_text(encoding="utf-8")
    section = text[:text.index("## Kinks")]
    assert sorted(re.findall(r"^\| `(\w+)` \|", section, re.M)) == sorted(STATUSES)
