"""The seed page's commands: ``calc`` (the gradient calculator) and ``descend`` (gradient
descent), which both start from the seed or a formula at a point, each with its parser.

>>> from graphviz_grad.cli import main
>>> main(["calc", "--copy"])  # doctest: +ELLIPSIS
Loss: L = 4
Gradients: dL/dW1 = 20, dL/dW2 = 40, dL/dB = -4
...
0
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from .cli_input import UsageError, _trace_from_args, format_number, parse_values, read_formula
from .cli_options import (
    _add_seed_options,
    _count_option,
    _every_option,
    _memory_option,
    _number_option,
    _positive_option,
    _tolerance,
)
from .files import check_folder, write_files, write_folder
from .formula import parse
from .graph import Graph


def _add_calc(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .descent import LEARNING_RATE
    from .seed import FIELDS

    calc = commands.add_parser(
        "calc", help="the gradient calculator: loss, gradients, table, chart, derivation, update",
        description="The seed page's calculator for L = (x*W1 + y*W2 - B)**2 (defaults: Example 1), or "
                    "any formula with --formula: the loss, every gradient, a table, a chart of "
                    "gradient magnitudes, the SymPy formulas, the worked chain-rule derivation, what "
                    "the signs mean and one gradient-descent update. Run with no values to get the "
                    "defaults back. Exit code 1 if SymPy disagrees with the engine.")
    for name, help_text in FIELDS.items():
        flags = [f"--{name.lower()}"] + ([f"--{name}"] if name != name.lower() else [])
        calc.add_argument(*flags, dest=name.lower(), type=_number_option, metavar=name,
                          help=f"{help_text} (default {_default(name)})")
    calc.add_argument("--formula", metavar="FORMULA",
                      help="calculate this formula instead of the seed (text, '-' or @FILE); give its "
                           "inputs with --at")
    calc.add_argument("--from-json", metavar="FILE",
                      help="calculate the graph at the point of a trace as 'grad --json' writes it")
    _add_seed_options(calc)
    calc.add_argument("--lr", type=_positive_option, default=LEARNING_RATE, metavar="RATE",
                      help=f"learning rate of the update shown (default {LEARNING_RATE:g})")
    shown = calc.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="everything as one JSON object")
    shown.add_argument("--markdown", action="store_true", help="the page as Markdown")
    shown.add_argument("--latex", action="store_true", help="the formulas and the derivation as LaTeX")
    shown.add_argument("--copy", action="store_true",
                       help="only the copy block: the loss, the parameters' gradients, the inputs")
    calc.add_argument("--chart", metavar="FILE",
                      help="also write the gradient chart: .svg, .png or .pdf (needs matplotlib: "
                           "pip install 'graphviz-grad[plot]'), or .txt for the text bars")
    calc.add_argument("--digits", type=int, default=10, choices=range(1, 18), metavar="N",
                      help="significant digits (1-17, default 10)")
    _memory_option(calc)
    calc.set_defaults(run=_calc_command)


def _default(name: str) -> str:
    from .seed import DEFAULTS

    return format_number(DEFAULTS[name])


def _calc_command(args: argparse.Namespace) -> int:
    from .calculator import calculate

    seed = {"x": args.x, "y": args.y, "W1": args.w1, "W2": args.w2, "B": args.b}
    formula, graph, values = _seed_or_formula(args, seed)
    result = calculate(graph if formula is not None else None, values, wrt=args.wrt, lr=args.lr,
                       digits=args.digits)
    if formula is not None:
        result.formula = formula.strip()
    outputs = _chart_file(args.chart, result.chart, result.chart_text()) if args.chart else {}
    if args.copy:
        text = result.copy_text()
    elif args.json:
        text = result.to_json()
    elif args.markdown:
        text = result.to_markdown()
    elif args.latex:
        text = result.to_latex()
    else:
        text = result.to_text()
    write_files(outputs)
    print(text)
    if args.chart:
        print(f"chart: {args.chart}", file=sys.stderr)
    if not result.report.ok:  # the copy block too: a disagreement is never silent
        print(f"graphviz-grad: {result.check_line()}", file=sys.stderr)
        return 1
    return 0 if result.report.complete else 3


def _add_descend(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .descent import LEARNING_RATE, PATIENCE, STEPS

    descend = commands.add_parser(
        "descend", help="gradient descent on chosen inputs: the trajectory, a loss chart, diagrams",
        description="Run gradient descent p <- p - lr*dL/dp on the parameters from the given point "
                    "and print the trajectory (step, loss, parameters, gradients). FORMULA defaults "
                    "to the seed at Example 1. A run that diverges (the loss grows --patience steps "
                    "in a row, or becomes inf or nan) stops with a message and exit code 1.")
    descend.add_argument("formula", nargs="?", metavar="FORMULA",
                         help="the formula text, '-' to read standard input, or @FILE (default: the seed)")
    _add_seed_options(descend)
    descend.add_argument("--lr", type=_positive_option, default=LEARNING_RATE, metavar="RATE",
                         help=f"learning rate (default {LEARNING_RATE:g})")
    descend.add_argument("--steps", type=_count_option, default=STEPS, metavar="N",
                         help=f"number of updates (default {STEPS})")
    descend.add_argument("--tol", type=_tolerance, default=0.0, metavar="T",
                         help="stop when every |dL/dparameter| <= T (default 0: only at an exact zero)")
    descend.add_argument("--patience", type=_count_option, default=PATIENCE, metavar="K",
                         help=f"call it divergence when the loss grows K steps in a row (default {PATIENCE})")
    descend.add_argument("--csv", metavar="FILE",
                         help="write every step to a CSV file ('-': print it instead of the table)")
    descend.add_argument("--chart", metavar="FILE",
                         help="write the loss curve: .svg, .png or .pdf (needs matplotlib), or .txt")
    descend.add_argument("--frames", metavar="DIR",
                         help="write the annotated graph every --every steps to DIR/step-NNN.svg")
    descend.add_argument("--html", metavar="FILE",
                         help="write a self-contained page that plays the run over the graph, a frame every "
                              "--every steps, with the loss curve beside it")
    descend.add_argument("--every", type=_every_option, metavar="K",
                         help="steps between diagrams (default: about 10 diagrams in all; --html: about 60)")
    descend.add_argument("--backend", choices=["system", "pure"], help="Graphviz backend for --frames")
    descend.add_argument("--json", action="store_true", help="the run as JSON")
    descend.add_argument("--digits", type=int, default=6, choices=range(1, 18), metavar="N",
                         help="significant digits in the table (default 6)")
    descend.set_defaults(run=_descend_command)


def _descend_command(args: argparse.Namespace) -> int:
    from .descent import descend

    _, graph, values = _seed_or_formula(args)
    run = descend(graph, values, wrt=args.wrt, lr=args.lr, steps=args.steps, tol=args.tol,
                  patience=args.patience)
    if args.csv and args.chart and os.path.realpath(args.csv) == os.path.realpath(args.chart):
        raise UsageError(f"--csv {args.csv!r} and --chart {args.chart!r} are the same file: give each "
                         "its own")
    outputs: dict[str, bytes] = {}
    if args.csv and args.csv != "-":
        outputs[args.csv] = run.to_csv().encode("utf-8")
    if args.html:
        from .display import describe
        from .player import descent_html

        outputs[args.html] = descent_html(run, title=describe(graph), every=args.every,
                                          backend=args.backend).encode("utf-8")
    if args.chart:
        from .charts import sparkline

        outputs.update(_chart_file(args.chart, run.chart, sparkline(run.history.losses)))
    frames = _descent_frames(run, args) if args.frames else {}
    if args.frames:  # (checked before any file is written)
        check_folder(args.frames, "--frames folder")
    write_files(outputs)
    if args.frames:  # the whole folder at once: the old diagrams or the new ones, never a mix
        write_folder(args.frames, frames, owned=_STEP_FILE.fullmatch, what="--frames folder")
    if args.csv == "-":  # the trajectory as CSV on standard output, instead of the table
        sys.stdout.write(run.to_csv())
    else:
        print(json.dumps(run.to_dict()) if args.json else run.to_table(digits=min(args.digits, 10)))
    written = list(outputs) + ([f"{len(frames)} diagrams in {args.frames}"] if args.frames else [])
    if written:
        print("wrote " + ", ".join(written), file=sys.stderr)
    if not run.ok:
        if args.json or args.csv == "-":  # the table, which ends with the message, was not printed
            print(f"graphviz-grad: {run.message}", file=sys.stderr)
        return 1
    return 0


def _seed_or_formula(args: argparse.Namespace, seed_flags: dict[str, float | None] | None = None
                     ) -> tuple[str | None, Graph, dict[str, float]]:
    """The formula text (None when not given: the seed) and the point. The seed, however it
    is given, starts from Example 1 (or ``--example N``) with ``--at`` and the per-input flags
    on top; any other formula takes its values from ``--at``."""
    from .seed import EXAMPLES, is_seed, seed_graph

    flags = {name: value for name, value in (seed_flags or {}).items() if value is not None}
    if getattr(args, "from_json", None) is not None:
        if args.formula is not None or flags or args.example:
            raise UsageError("--from-json gives the formula and the point: leave out --formula, the "
                             "input flags and --example")
        trace = _trace_from_args(args)
        return str(trace.graph), trace.graph, {name: trace.value(name) for name in trace.graph.inputs}
    text = None if args.formula is None else read_formula(args.formula)
    graph = seed_graph() if text is None else parse(text)
    if not is_seed(graph):
        if flags:
            raise UsageError(f"--{next(iter(flags)).lower()} sets the seed's input; with a formula use --at")
        if args.example:
            raise UsageError("--example picks one of the seed's worked examples: leave out the formula")
        return text, graph, parse_values(args.at, graph)
    values = parse_values(args.at, graph, dict(EXAMPLES[args.example or 1]))
    at = {item.partition("=")[0].strip() for argument in args.at for item in argument.split(",")}
    twice = [name for name in flags if name in at]
    if twice:
        raise UsageError(f"{twice[0]!r} is given twice: by --at and by --{twice[0].lower()}")
    return text, graph, {**values, **flags}


def _chart_file(path: str, draw: object, text: str) -> dict[str, bytes]:
    """The chart for ``--chart FILE``: the text bars for .txt, else an image of that format."""
    from .charts import format_from_path

    fmt = format_from_path(path)
    data = (text + "\n").encode("utf-8") if fmt == "txt" else draw(fmt)  # type: ignore[operator]
    return {path: data}


_STEP_FILE = re.compile(r"step-[0-9]+\.svg")


def _descent_frames(run: object, args: argparse.Namespace) -> dict[str, bytes]:
    """The annotated graph at every ``--every``-th point of the run and at the last one."""
    from .dot import to_dot
    from .layout import render_many

    history = run.history  # type: ignore[attr-defined]
    every = args.every or max(1, -(-(len(history) - 1) // 10))
    picked = sorted({*range(0, len(history), every), len(history) - 1})
    width = max(3, len(str(history[-1].step)))
    sources = [to_dot(run.trace_at(history[k]), digits=4) for k in picked]  # type: ignore[attr-defined]
    pictures = render_many(sources, "svg", backend=args.backend)
    return {f"step-{history[k].step:0{width}d}.svg": picture
            for k, picture in zip(picked, pictures, strict=True)}
