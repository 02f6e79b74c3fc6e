"""The main job: the seed example rendered, checked, calculated and trained, written to one folder.

`write_demo` builds every file in memory first and then swaps the whole folder in at once
(`graphviz_grad.files.write_folder`): a run killed at any instant leaves the folder with the
previous run's files or this run's, never a mix; running it again replaces them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .calculator import calculate
from .charts import ChartError
from .descent import descend
from .files import write_folder
from .seed import DEFAULTS, SEED_FORMULA, SEED_PARAMETERS

DIRECTORY = "graphviz-grad-demo"
"""Where ``graphviz-grad demo`` writes when no folder is given."""

CONTENTS = {
    "seed.dot": "the annotated graph as DOT text",
    "seed.svg": "the annotated graph: values, gradients dL/dnode, local derivatives on the edges",
    "seed.png": "the same, as PNG",
    "seed-steps.html": "the step-by-step player: forward pass, then every chain-rule step",
    "check.txt": "the SymPy cross-check: closed forms, engine vs SymPy vs finite differences",
    "check.md": "the same, as Markdown",
    "calculator.txt": "the calculator: loss, table, chart, formulas, derivation, signs, update, copy block",
    "calculator.md": "the same, as Markdown",
    "calculator.json": "the same, as JSON",
    "derivation.tex": "the gradient formulas and the derivation in LaTeX",
    "gradients.txt": "|dL/dinput| for every input as text bars",
    "gradients.svg": "|dL/dinput| for every input as a bar chart",
    "gradients.png": "the same, as PNG",
    "descent.csv": "100 steps of gradient descent on W1, W2, B (lr 0.001): every step",
    "descent.txt": "the same as a table, with the loss as a sparkline",
    "loss.svg": "the loss per descent step (log scale)",
    "loss.png": "the same, as PNG",
}
"""What each demo file shows."""

OPTIONAL = ("seed.png", "gradients.svg", "gradients.png", "loss.svg", "loss.png")
"""Files written only when their tool is there: PNG diagrams need a Graphviz backend that makes
PNG, the image charts need matplotlib."""


@dataclass(frozen=True)
class Demo:
    """What `write_demo` wrote: the paths, notes on optional files left out, the check's verdict."""

    paths: tuple[str, ...]
    notes: tuple[str, ...]
    check_ok: bool
    check_summary: str


def demo_files(*, backend: str | None = None) -> tuple[dict[str, bytes], list[str], Any]:
    """Every demo file by name, notes on what was left out (a missing optional tool), and the
    SymPy check report."""
    from .display import describe
    from .dot import to_dot
    from .layout import LayoutError, render
    from .player import player_html
    from .scene import verdicts

    result = calculate()
    trace = result.trace
    files: dict[str, bytes] = {}
    notes: list[str] = []
    dot = to_dot(trace, symbolic=True)
    files["seed.dot"] = dot.encode("utf-8")
    files["seed.svg"] = render(dot, "svg", backend=backend)
    try:
        files["seed.png"] = render(dot, "png", backend=backend)
    except LayoutError as error:
        notes.append(f"seed.png left out: {error}")
    report = result.report
    files["seed-steps.html"] = player_html(trace, title=describe(trace), backend=backend,
                                           verdicts=verdicts(report)).encode("utf-8")
    files["check.txt"] = (report.to_text() + "\n").encode("utf-8")
    files["check.md"] = (report.to_markdown() + "\n").encode("utf-8")
    files["calculator.txt"] = (result.to_text() + "\n").encode("utf-8")
    files["calculator.md"] = (result.to_markdown() + "\n").encode("utf-8")
    files["calculator.json"] = (result.to_json(indent=2) + "\n").encode("utf-8")
    files["derivation.tex"] = (result.to_latex() + "\n").encode("utf-8")
    files["gradients.txt"] = (result.chart_text() + "\n").encode("utf-8")
    run = descend(SEED_FORMULA, dict(DEFAULTS), wrt=SEED_PARAMETERS, lr=result.lr, steps=100)
    files["descent.csv"] = run.to_csv().encode("utf-8")
    files["descent.txt"] = (run.to_table() + "\n").encode("utf-8")
    charts: dict[str, Callable[[str], bytes]] = {"gradients": result.chart, "loss": run.chart}
    try:
        for stem, draw in charts.items():
            for fmt in ("svg", "png"):
                files[f"{stem}.{fmt}"] = draw(fmt)
    except ChartError as error:
        for stem in charts:
            for fmt in ("svg", "png"):
                files.pop(f"{stem}.{fmt}", None)
        notes.append(f"image charts left out: {error}")
    return files, notes, report


def write_demo(directory: str = DIRECTORY, *, backend: str | None = None) -> Demo:
    """Write the demo into ``directory`` (made if missing) and say what was written.

    Files of an earlier run that this run did not make (an optional one whose tool is gone) are
    removed, so the folder always shows one run; files in it that are not the demo's are kept.
    """
    files, notes, report = demo_files(backend=backend)
    paths = write_folder(directory, files, owned=CONTENTS, what="demo folder")
    return Demo(tuple(paths), tuple(notes), report.ok, report.summary())
