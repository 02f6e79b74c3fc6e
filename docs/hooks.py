"""MkDocs hooks: the parts of the documentation that are generated from the code at build time.

- ``<!-- cli: grad -->`` becomes the reference of ``graphviz-grad grad`` (usage, every argument and
  option with its help and default), read from the argparse parser the program itself uses, so
  the pages cannot drift from ``--help``. ``<!-- cli: all -->`` gives every command.
- ``<!-- functions -->`` becomes the table of the formula language's functions, read from the op
  table (`graphviz_grad.ops`), and ``<!-- kinks -->`` the engine's convention at every kink.
- ``<!-- run: grad "y = x**2" --at x=3 -->`` becomes what that command prints, run at build time.
- ``<!-- demo-listing -->`` and ``<!-- limits -->``: what ``demo`` writes, the parser's limits.
- ``<!-- gallery -->`` becomes the diagrams gallery: each diagram is drawn at build time by the
  library (`GALLERY` below) and added to the site as an SVG file.
- Pages in ``docs/`` that the nav of ``mkdocs.yml`` does not list are appended under "More
  topics", so a new page is never left out of the site; every notebook (``docs/notebooks`` links
  to ``notebooks/``) is appended to the "Notebooks" section, titled by its first heading.

``mkdocs serve`` and ``mkdocs build --strict`` both run these (``hooks:`` in mkdocs.yml).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from markdown import Markdown
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor
from mkdocs.structure.files import File, Files

import graphviz_grad as gg
from graphviz_grad.cli import make_parser
from graphviz_grad.ops import OPS

DOCS = Path(__file__).resolve().parent
MARKER = re.compile(r"<!-- (cli|functions|kinks|gallery|demo-listing|limits|run)(?:: *(.*?))? -->")

# name, title, formula, values, diagram options, what it shows
GALLERY: list[tuple[str, str, str, dict[str, float], dict[str, Any], str]] = [
    ("seed", "The seed example", "L = (x*W1 + y*W2 - B)**2",
     {"x": 5, "y": 10, "W1": 0.1, "W2": 0.2, "B": 0.5}, {},
     "Every node with its value and dL/dnode, every edge with its local derivative. Red: the loss "
     "grows with the node; blue: it falls; the darker, the larger the gradient."),
    ("colah", "Fan-out: Colah's example", "c = a + b; d = b + 1; e = c*d", {"a": 2, "b": 1}, {},
     "b feeds two nodes, so its gradient is the sum of two paths: de/db = 1·2 + 1·3 = 5."),
    ("neuron", "A sigmoid neuron", "y = sigmoid(w1*x1 + w2*x2 + b)",
     {"x1": 1, "x2": -2, "w1": 0.5, "w2": 0.25, "b": 0.1}, {"rankdir": "TB"},
     "Top to bottom (`--rankdir TB`); the sigmoid's local derivative is sigmoid(z)*(1 - sigmoid(z))."),
    ("symbolic", "Local derivatives as formulas", "L = (x*W1 + y*W2 - B)**2",
     {"x": 5, "y": 10, "W1": 0.1, "W2": 0.2, "B": 0.5}, {"symbolic": True},
     "`--symbolic` writes each edge's local derivative as a formula and its value."),
    ("kink", "A kink: relu at 0", "L = relu(w*x - b)*y", {"w": 1, "x": 1, "b": 1, "y": 3}, {},
     "relu is not differentiable at 0; the engine takes relu'(0) = 0 as PyTorch does, so every "
     "node upstream of the relu gets gradient 0."),
    ("fault", "Where inf and nan start", "L = log(x - 1)*y + z", {"x": 1, "y": 2, "z": 3}, {},
     "log(0) = -inf: the node where a non-finite value starts is yellow with a ⚠ line, and the "
     "nodes that inherit it say where it came from."),
]

FRAMES = {"step-forward": "z3 = z1 + z2", "step-backward": "dL/dz3 = "}
"""Two frames of the seed's step-by-step sequence shown on the Diagrams page, by their captions."""


class _DoctestBlocks(Preprocessor):
    """Docstring examples (``>>>`` lines and their output) as highlighted code blocks.

    Markdown has no doctest blocks, so ``['x', 'y']`` in an example would read as a link.
    """

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        fence: str | None = None
        block: list[str] = []
        for line in [*lines, ""]:
            stripped = line.lstrip()
            if fence is None and not block and stripped.startswith(("```", "~~~")):
                fence = stripped[:3]
            elif fence is not None and stripped.startswith(fence):
                fence = None
            elif fence is None and (stripped.startswith(">>>") or (block and stripped)):
                block.append(line)
                continue
            if block:
                indent = block[0][: len(block[0]) - len(block[0].lstrip())]
                out += ["", f"{indent}```pycon", *block, f"{indent}```", ""]
                block = []
            out.append(line)
        return out[:-1]


class DoctestBlocks(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.register(_DoctestBlocks(md), "doctest_blocks", 40)


def on_config(config: Any) -> Any:
    """Append the pages of ``docs/`` that the nav does not list, under "More topics"; show
    docstring examples as code."""
    config["markdown_extensions"].append(DoctestBlocks())
    listed: set[str] = set()

    def walk(items: Any) -> None:
        for item in items or []:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            if isinstance(value, list):
                walk(value)
            elif isinstance(value, str):
                listed.add(value)

    walk(config["nav"])
    notebooks = next((item["Notebooks"] for item in config["nav"] or []
                      if isinstance(item, dict) and "Notebooks" in item), None)
    if notebooks is not None:
        notebooks += [{notebook_title(path): f"notebooks/{path.name}"}
                      for path in sorted((DOCS / "notebooks").glob("[0-9][0-9]_*.ipynb"))
                      if f"notebooks/{path.name}" not in listed]
    extra = sorted(str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")
                   if str(path.relative_to(DOCS)) not in listed and "notebooks" not in path.parts)
    if config["nav"] is not None and extra:
        config["nav"].append({"More topics": extra})
    return config


def notebook_title(path: Path) -> str:
    """``01 The gradient calculator``: the number of a notebook's file and its first heading."""
    import json

    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    heading = re.sub(r"^[0-9]+\s*[\u2014\u2013:.-]\s*", "", line[2:].strip())
                    return f"{path.name[:2]} {heading}"
    return path.stem.replace("_", " ")


def on_files(files: Files, config: Any) -> Files:
    """Draw the gallery's diagrams, two frames of the seed and its step-by-step player into the site."""
    from graphviz_grad.frames import frames, render_frames
    from graphviz_grad.player import player_html

    for name, _, formula, values, options, _ in GALLERY:
        svg = gg.diagram(gg.grad(formula, values), **options).pipe("svg")
        files.append(File.generated(config, f"gallery/{name}.svg", content=svg))
    _, _, seed, point, _, _ = GALLERY[0]
    trace = gg.grad(seed, point)
    sequence = frames(trace)
    pictures = render_frames(trace, "svg")
    captions = [frame.caption for frame in sequence]
    for label, start in FRAMES.items():
        index = next(k for k, caption in enumerate(captions) if caption.startswith(start))
        files.append(File.generated(config, f"gallery/{label}.svg", content=pictures[index]))
    files.append(File.generated(config, "gallery/seed-player.html", content=player_html(trace)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Replace the markers with what the code says."""
    depth = page.file.src_uri.count("/")
    return MARKER.sub(lambda match: _expand(match.group(1), match.group(2), "../" * depth), markdown)


def _expand(kind: str, argument: str | None, up: str) -> str:
    if kind == "cli":
        return cli_reference(argument or "all")
    if kind == "functions":
        return functions_table()
    if kind == "kinks":
        return kinks_table()
    if kind == "demo-listing":
        return demo_listing()
    if kind == "limits":
        return limits_table()
    if kind == "run":
        return run_output(argument or "")
    return gallery(up)


def run_output(command: str) -> str:
    """What ``graphviz-grad COMMAND`` prints, run while the site builds, as a text block.

    The command must exit 0, or the code that ``exit=N`` before it expects.
    """
    import contextlib
    import io
    import shlex

    from graphviz_grad.cli import main

    argv = shlex.split(command)
    expected = int(argv.pop(0).removeprefix("exit=")) if argv and argv[0].startswith("exit=") else 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    if code != expected:
        raise RuntimeError(f"graphviz-grad {command} exited with {code} while building the docs")
    return "```text\n" + out.getvalue().rstrip("\n") + "\n```"


def demo_listing() -> str:
    """What ``graphviz-grad demo -o out/`` writes, from the list the command itself uses."""
    from graphviz_grad.demo import CONTENTS

    width = max(map(len, CONTENTS)) + 6
    lines = [f"{'out/' + name:<{width}}{text}" for name, text in CONTENTS.items()]
    return "```text\n" + "\n".join(lines) + "\n```"


def limits_table() -> str:
    """The formula parser's limits, from its constants."""
    from graphviz_grad import formula
    from graphviz_grad.graph import MAX_NAME_LENGTH

    rows = [("characters in a formula", formula.MAX_LENGTH), ("operations", formula.MAX_NODES),
            ("nesting of parentheses and calls", formula.MAX_DEPTH),
            ("characters in a number", formula.MAX_LITERAL), ("characters in a name", MAX_NAME_LENGTH)]
    return "| limit | at most |\n|---|---|\n" + "\n".join(f"| {what} | {value:,} |" for what, value in rows)


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = make_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _names(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    if action.nargs == 0:
        return ", ".join(f"`{option}`" for option in action.option_strings)
    value = action.metavar or (f"{{{','.join(map(str, action.choices))}}}" if action.choices else
                               action.dest.upper())
    return ", ".join(f"`{option} {value}`" for option in action.option_strings)


def cli_reference(command: str) -> str:
    """The reference of one command (or ``all``) as Markdown, from the program's own parser.

    >>> "`--at NAME=VALUE[,NAME=VALUE...]`" in cli_reference("grad")
    True
    """
    commands = _commands()
    if command == "all":
        return "\n\n".join(f"## `graphviz-grad {name}`\n\n{_reference(name, sub)}"
                             for name, sub in commands.items())
    if command not in commands:
        raise ValueError(f"no command {command!r} in the parser (commands: {', '.join(commands)})")
    return f"## Reference\n\n{_reference(command, commands[command])}"


def _reference(name: str, parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=88)  # a fixed width, not the terminal's
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    usage = formatter.format_help().removeprefix("usage: ").strip()
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        meaning = action.help or ""
        if action.choices and action.metavar and not isinstance(action.choices, range):
            meaning += f" (one of {', '.join(f'`{c}`' for c in action.choices)})"
        if (action.default not in (None, False, [], argparse.SUPPRESS) and "default" not in meaning
                and action.option_strings):
            meaning += f" (default {action.default})"
        if action.required and action.option_strings:
            meaning += " (required)"
        rows.append(f"| {_names(action)} | {_cell(meaning)} |")
    return (f"{parser.description or ''}\n\n```text\n{usage}\n```\n\n"
            "| argument | meaning |\n|---|---|\n" + "\n".join(rows) +
            f"\n\n`graphviz-grad {name} --help` prints the same.")


def functions_table() -> str:
    """Every operator and function of the formula language, from the op table.

    >>> "| `relu(a)` | relu | `relu'(0) = 0` |" in functions_table()
    True
    """
    rows = ["| written | op | at a kink the engine takes (as PyTorch does) |", "|---|---|---|"]
    for op in OPS.values():
        written = op.text.format("a", "b")
        convention = f"`{_cell(op.convention)}`" if op.convention else ""
        rows.append(f"| `{written}` | {op.name} | {convention} |")
    return "\n".join(rows)


def kinks_table() -> str:
    """The convention the engine takes at each kink, from the op table."""
    rows = ["| op | the engine takes (as PyTorch does) |", "|---|---|"]
    rows += [f"| `{op.name}` | `{_cell(op.convention)}` |" for op in OPS.values() if op.convention]
    return "\n".join(rows)


def gallery(up: str) -> str:
    parts = []
    for name, title, formula, values, options, text in GALLERY:
        point = ",".join(f"{key}={value}" for key, value in values.items())
        flags = "".join(f" --{key}" if value is True else f" --{key} {value}"
                        for key, value in options.items())
        parts.append(f"### {title}\n\n{text}\n\n```sh\ngraphviz-grad render \"{formula}\" --at {point} "
                     f"-o {name}.svg{flags}\n```\n\n![{title}]({up}gallery/{name}.svg)\n")
    return "\n".join(parts)
