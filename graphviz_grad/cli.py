"""The ``graphviz-grad`` command line (also ``python -m graphviz_grad``).

>>> main(["grad", "y = x**2", "--at", "x=3", "--json"])  # doctest: +ELLIPSIS
{"output": "y", "value": 9.0, "gradients": {"x": 6.0}, ...}
0

Exit codes: 0 success, 1 a check found a disagreement, 2 bad usage or bad input
(one line on stderr, no traceback, nothing written).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from . import __version__
from .engine import Trace, backward
from .errors import GraphvizGradError, missing_value
from .files import check_folder, numbered, stale_frames, write_files, write_folder
from .formula import MAX_LENGTH, parse
from .graph import CONST, INPUT, Graph
from .limits import CLI_MEMORY, JOB_MEMORY, megabytes, memory_bound, parse_size
from .loading import MAX_BYTES, load
from .serialize import trace_to_dict
from .text import parse_number, table


class UsageError(GraphvizGradError):
    """A command line that cannot be carried out."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors and no abbreviated options."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(allow_abbrev=False, **kwargs)  # type: ignore[arg-type]
        # argparse takes -1e-3 for an option; a number in any decimal form is a value
        self._negative_number_matcher = re.compile(
            r"^-(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)$", re.IGNORECASE)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


_MAX_BYTES = 4 * MAX_LENGTH + 4  # enough UTF-8 for MAX_LENGTH characters and a byte-order mark


def read_formula(argument: str) -> str:
    """The formula itself, ``-`` for standard input, or ``@FILE`` for a file's UTF-8 text.

    Reading stops past the size a valid formula can have, so the parser reports the limit.
    """
    if argument == "-":
        if sys.stdin is None:
            raise UsageError("FORMULA is '-' but there is no standard input")
        return _decode(sys.stdin.buffer.read(_MAX_BYTES + 1), "standard input")
    if not argument.startswith("@"):
        return argument
    path = argument[1:]
    try:
        with open(path, "rb") as file:
            data = file.read(_MAX_BYTES + 1)
    except OSError as error:
        raise UsageError(f"cannot read formula file {path!r}: {error.strerror or error}") from None
    return _decode(data, f"formula file {path!r}")


def _decode(data: bytes, source: str) -> str:
    if len(data) > _MAX_BYTES:
        raise UsageError(f"{source} is over the formula limit of {MAX_LENGTH:,} characters")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{source} is not UTF-8 text") from None


def name_value_pairs(items: Sequence[str], option: str, expects: str) -> dict[str, str]:
    """The ``NAME=TEXT`` pairs of a repeatable option whose arguments may also be comma lists,
    in order; a malformed pair or a name given twice is a `UsageError` naming ``option``.

    >>> name_value_pairs(["x=5,y=1", "z = 2"], "--at", "NAME=VALUE")
    {'x': '5', 'y': '1', 'z': '2'}
    """
    pairs: dict[str, str] = {}
    for item in (part for argument in items for part in argument.split(",")):
        name, equals, text = (piece.strip() for piece in item.partition("="))
        if not equals or not name:
            raise UsageError(f"{option} expects {expects}, got {item.strip()!r}")
        if name in pairs:
            raise UsageError(f"{option} gives {name!r} twice")
        pairs[name] = text
    return pairs


def parse_values(items: Sequence[str], graph: Graph, defaults: Mapping[str, float] | None = None
                 ) -> dict[str, float]:
    """``--at`` arguments (``x=5`` or ``x=5,y=10``, repeatable) checked against the inputs;
    an input not given takes its value from ``defaults`` if it is there.

    >>> parse_values(["x=5,y=1e-3"], parse("L = x*y"))
    {'x': 5.0, 'y': 0.001}
    """
    values = {name: parse_number(text, f"--at {name!r}")
              for name, text in name_value_pairs(items, "--at", "NAME=VALUE").items()}
    names = graph.inputs
    known = graph.input_set
    for name in values:
        if name not in known:
            listed = ", ".join(names) or "none"
            raise UsageError(f"--at gives {name!r}, which is not an input (inputs: {listed})")
    defaults = defaults or {}
    for name in names:
        if name not in values:
            if name not in defaults:
                raise UsageError(f"{missing_value(name)}: add --at {name}=...")
            values[name] = defaults[name]
    return {name: values[name] for name in names}


def format_number(value: float, digits: int = 10) -> str:
    """Human-readable number with ``digits`` significant digits.

    >>> format_number(0.1 + 0.2), format_number(float("-inf")), format_number(2.0)
    ('0.3', '-inf', '2')
    """
    return f"{value:.{digits}g}"


def parse_direction(items: Sequence[str], graph: Graph, option: str = "--tangent") -> dict[str, float]:
    """``--tangent`` arguments (``x=1,W1=0``, repeatable): a component per input, 0 for those not given.

    >>> parse_direction(["x=1"], parse("L = x*y"))
    {'x': 1.0, 'y': 0.0}
    """
    given: dict[str, float] = {}
    for name, text in name_value_pairs(items, option, "NAME=NUMBER").items():
        if name not in graph.input_set:
            raise UsageError(f"{option} gives {name!r}, which is not an input "
                             f"(inputs: {', '.join(graph.inputs) or 'none'})")
        given[name] = parse_number(text, f"{option} {name!r}")
    return {name: given.get(name, 0.0) for name in graph.inputs}


def _trace_from_args(args: argparse.Namespace) -> Trace:
    """The trace FORMULA --at ... describes, or the one ``--from-json FILE`` holds (a graph
    there takes its values from --at)."""
    if args.from_json is None:
        if args.formula is None:
            raise UsageError("give a FORMULA (or --from-json FILE)")
        graph = parse(read_formula(args.formula))
        return backward(graph, parse_values(args.at, graph))
    if args.formula is not None:
        raise UsageError("give either a FORMULA or --from-json FILE, not both")
    loaded = load(sys.stdin.read(MAX_BYTES + 1) if args.from_json == "-" else Path(args.from_json))
    if isinstance(loaded, Graph):
        return backward(loaded, parse_values(args.at, loaded))
    if args.at:
        raise UsageError("the trace in --from-json carries its own values: leave out --at")
    return loaded


def _grad_command(args: argparse.Namespace) -> int:
    graph = parse(read_formula(args.formula))
    trace = backward(graph, parse_values(args.at, graph), strict=args.strict)
    run = None
    if args.tangent:
        from .forward import tangents

        run = tangents(trace, direction=parse_direction(args.tangent, graph))
    if args.json:
        data = trace_to_dict(trace)
        if run is not None:
            data["tangent"] = run.to_dict()
            data["tangent_statuses"] = run.statuses()
        print(json.dumps(data))
        return 0
    number = lambda value: format_number(value, args.digits)  # noqa: E731
    rows = [["node", "op", "computes", "value", f"d{graph.output}/dnode", "status"]
            + (["tangent"] if run else [])]
    for i, (node, value, grad) in enumerate(zip(graph.nodes, trace.values, trace.grads, strict=True)):
        computes = "" if node.op in (INPUT, CONST) else graph.statement(node.name).partition(" = ")[2]
        rows.append([node.name, node.op, computes, number(value), number(grad), trace.status(node.name)]
                    + ([number(run.tangents[i])] if run else []))
    lines = [table(rows), "", f"{graph.output} = {number(trace.output_value)}"]
    lines += [f"d{graph.output}/d{name} = {number(grad)}" for name, grad in trace.gradients.items()]
    if run is not None:
        moved = ", ".join(f"{name}={number(v)}" for name, v in run.direction.items() if v) or "none"
        lines.append(f"tangent of {graph.output} along ({moved}) = {number(run.output_tangent)}")
    print("\n".join(lines))
    return 0


def _hessian_command(args: argparse.Namespace) -> int:
    from .hessian import hessian
    from .symbolic.hessian import check_hessian, rows_table

    trace = _trace_from_args(args)  # FORMULA --at ..., or --from-json FILE
    graph = trace.graph
    wrt = None if args.wrt is None else [name.strip() for name in args.wrt.split(",")]
    result = hessian(trace, wrt=wrt)
    report = check_hessian(result, time_budget=args.budget)
    if args.json:
        print(json.dumps({**result.to_dict(), "check": report.to_dict()}))
    else:
        number = lambda value: format_number(value, args.digits)  # noqa: E731
        data = result.to_dict()
        def cell(entry: object, value: float) -> str:
            return entry if entry in ("kink", "undefined") else number(value)  # type: ignore[return-value]

        cells = [["", *result.wrt]] + [
            [name, *(cell(entry, value) for entry, value in zip(line, values, strict=True))]
            for name, line, values in zip(result.wrt, data["hessian"], result.matrix, strict=True)]
        eigen = result.eigenvalues
        lines = [f"{graph.output} = {number(result.value)}",
                 "gradient: " + ", ".join(f"d{graph.output}/d{name} = {number(g)}"
                                          for name, g in result.gradient.items()),
                 "", f"Hessian d2{graph.output}/d(row)d(column)", table(cells, right=True), "",
                 "eigenvalues: " + (", ".join(map(number, eigen)) if eigen is not None else
                                    "none (not every entry is an ordinary number here)"),
                 "", table(rows_table(report.rows, args.digits)), report.summary()]
        print("\n".join(lines))
    return report.exit_code


_SUFFIXES = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".gif": "gif",
             ".html": "html", ".htm": "html"}
_STEP_FORMATS = ("svg", "png", "dot")


def _render_command(args: argparse.Namespace) -> int:
    from .display import describe
    from .dot import to_dot
    from .frames import render_frames, to_gif
    from .layout import render
    from .player import player_html

    fmt = args.format or _format_from_suffix(args.output)
    if args.output == "-" and args.steps and fmt in _STEP_FORMATS:
        raise UsageError(f"--steps with --format {fmt} writes one file per frame: give -o FILE, not -")
    if args.steps and fmt == "pdf":
        raise UsageError("--steps writes svg, png or dot files, an animated gif or an html player, not pdf")
    trace = _trace_from_args(args)
    graph = trace.graph
    options = {"digits": args.digits, "rankdir": args.rankdir, "compact": args.compact,
               "symbolic": args.symbolic, "legend": not args.no_legend}
    sequence, forward_options = None, {}
    if args.mode != "reverse" or args.tangent:
        from .forward import tangents
        from .frames import frames

        if not args.tangent:
            raise UsageError(f"--mode {args.mode} draws tangents: give their direction with "
                             "--tangent NAME=NUMBER")
        run = tangents(trace, direction=parse_direction(args.tangent, graph))
        mode = "both" if args.mode == "reverse" else args.mode
        forward_options = {"tangents": run, "mode": mode}
        options.update(forward_options)
        sequence = frames(trace, backward=mode == "both", tangents=run, digits=args.digits)
    from .bigcli import render_big, wants_overview

    big = wants_overview(args, graph)
    if big and forward_options:  # tangents are drawn on every node: no overview unless asked for
        if args.expand or args.focus or args.paths is not None or args.wrt:
            raise UsageError("--mode forward/both and --tangent draw every node: leave out "
                             "--expand, --focus, --paths and --wrt")
        big = False
    if big:
        outputs = render_big(args, trace, fmt)
    elif fmt == "html":
        outputs = [player_html(trace, title=describe(graph), digits=args.digits, rankdir=args.rankdir,
                               compact=args.compact, backend=args.backend, sequence=sequence,
                               **forward_options).encode("utf-8")]
    elif fmt == "gif":
        outputs = [to_gif(render_frames(trace, "png", backend=args.backend, sequence=sequence, **options))]
    elif args.steps:
        outputs = render_frames(trace, fmt, backend=args.backend, sequence=sequence, **options)
    else:
        outputs = [render(to_dot(trace, **options), fmt, backend=args.backend)]
    if args.output == "-":
        sys.stdout.buffer.write(outputs[0])
        sys.stdout.buffer.flush()
        return 0
    one_per_frame = args.steps and fmt in _STEP_FORMATS  # html and gif hold every frame in one file
    paths = numbered(args.output, len(outputs)) if one_per_frame else [args.output]
    stale = stale_frames(args.output, len(outputs)) if one_per_frame else []
    write_files(dict(zip(paths, outputs, strict=True)))
    for path in stale:
        with contextlib.suppress(OSError):
            os.remove(path)
    print(paths[0] if len(paths) == 1 else f"{len(paths)} frames: {paths[0]} ... {paths[-1]}")
    return 0


def _format_from_suffix(output: str) -> str:
    if output == "-":
        return "svg"
    suffix = os.path.splitext(output)[1].lower()
    if suffix not in _SUFFIXES:
        known = ", ".join(sorted(_SUFFIXES))
        raise UsageError(f"cannot tell the format from {output!r}: use a suffix ({known}) or --format")
    return _SUFFIXES[suffix]


def _tolerance(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = parse_number(text, "value")
    except GraphvizGradError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _check_command(args: argparse.Namespace) -> int:
    from .symbolic import check  # SymPy is imported only by this command

    report = check(_trace_from_args(args), rtol=args.rtol, atol=args.atol, simplify=args.simplify,
                   timeout=args.timeout)
    print(report.to_json() if args.json else report.to_text(args.digits))
    return 1 if not report.ok else 0 if report.complete else 3


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


def _demo_command(args: argparse.Namespace) -> int:
    from .demo import CONTENTS, write_demo

    written = write_demo(args.output, backend=args.backend)
    width = max(len(path) for path in written.paths)
    for path in written.paths:
        print(f"{path.ljust(width)}  {CONTENTS[os.path.basename(path)]}")
    for note in written.notes:
        print(f"note: {note}", file=sys.stderr)
    print(written.check_summary)
    return 0 if written.check_ok else 1


def _serve_command(args: argparse.Namespace) -> int:
    try:
        from .web import is_loopback, listen, serve
    except ImportError as missing:
        raise UsageError(f"the web page needs {missing.name}: pip install 'graphviz-grad[web]'") from None
    sock = listen(args.host, args.port)
    if not is_loopback(sock.getsockname()[0]):
        print(f"graphviz-grad: warning: listening on {args.host}: other machines can reach the page",
              file=sys.stderr)
    serve(sock, open_browser=args.open, job_memory=args.job_memory,
          announce=lambda line: print(line, flush=True))
    return 0


def _memory_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--memory", type=_size_option, default=CLI_MEMORY, metavar="SIZE",
                        help=f"memory the command may add to what the process has, e.g. 512M or 4G "
                        f"(default {megabytes(CLI_MEMORY)}); "
                        "over it: exit 3")


def _size_option(text: str) -> int:
    """An argparse type: a memory size such as 512M or 2G."""
    try:
        return parse_size(text)
    except GraphvizGradError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _number_option(text: str) -> float:
    """An argparse type: a finite decimal number."""
    try:
        return parse_number(text, "value")
    except GraphvizGradError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("value: ")) from None


def _positive_option(text: str) -> float:
    value = _number_option(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _count_option(text: str) -> int:
    """A whole number >= 0; each option checks its own upper limit (and names it)."""
    digits = text.strip()
    if not re.fullmatch(r"[0-9]+", digits):
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text[:40]!r}")
    if len(digits) > 12:
        raise argparse.ArgumentTypeError(f"a whole number of {len(digits):,} digits is too large")
    return int(digits)


def _every_option(text: str) -> int:
    value = _count_option(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _add_values_options(command: argparse.ArgumentParser, from_json: bool = False) -> None:
    command.add_argument("formula", metavar="FORMULA", nargs="?" if from_json else None,
                         help="the formula text, '-' to read standard input, or @FILE to read a file")
    if from_json:
        command.add_argument("--from-json", metavar="FILE",
                             help="instead of FORMULA and --at: a trace as 'grad --json' writes it")
    command.add_argument("--at", action="append", default=[], metavar="NAME=VALUE[,NAME=VALUE...]",
                         help="input values (repeatable): --at x=5 --at y=10 or --at x=5,y=10")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="graphviz-grad", description="Make backpropagation visible and checkable.")
    parser.add_argument("--version", action="version", version=f"graphviz-grad {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    grad = commands.add_parser("grad", help="forward and backward pass: value and every gradient",
                               description="Evaluate FORMULA at the given point and print every node's "
                                           "value and gradient.")
    _add_values_options(grad)
    grad.add_argument("--json", action="store_true",
                      help="print the trace as JSON: output, value, gradients, nodes, edges, steps")
    grad.add_argument("--strict", action="store_true",
                      help="fail on the first non-finite value or gradient, naming the node")
    grad.add_argument("--digits", type=int, default=10, choices=range(1, 18), metavar="N",
                      help="significant digits in the table (1-17, default 10)")
    grad.add_argument("--tangent", action="append", default=[], metavar="NAME=NUMBER[,...]",
                      help="forward mode too: every node's tangent along this direction (inputs not "
                           "given are 0); the output's tangent is gradient · direction")
    grad.set_defaults(run=_grad_command)
    _add_hessian(commands)

    render = commands.add_parser(
        "render", help="draw the annotated graph, or the backward pass step by step",
        description="Draw FORMULA's graph at the given point: every node with its value and gradient, "
                    "every edge with its local derivative. html (a player) and gif are step by step.")
    _add_values_options(render, from_json=True)
    render.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="where to write; '-' for standard output. With --steps, svg/png/dot frames "
                             "go to FILE-01.svg, FILE-02.svg, ...")
    render.add_argument("--format", choices=["svg", "png", "pdf", "dot", "gif", "html"],
                        help="output format (default: from the suffix of FILE)")
    render.add_argument("--steps", action="store_true",
                        help="one frame per forward and chain-rule step (always on for html and gif)")
    render.add_argument("--rankdir", choices=["LR", "TB"], default="LR", help="layout direction (default LR)")
    render.add_argument("--digits", type=int, default=4, choices=range(1, 18), metavar="N",
                        help="significant digits on the diagram (1-17, default 4)")
    render.add_argument("--compact", action="store_true", default=None,
                        help="small nodes, no edge labels (default for graphs over 60 nodes)")
    render.add_argument("--symbolic", action="store_true",
                        help="write each edge's local derivative as a formula too (∂L/∂z4 = 2·z4 = 4)")
    render.add_argument("--no-legend", action="store_true", help="leave out the colour legend")
    render.add_argument("--mode", choices=["reverse", "forward", "both"], default="reverse",
                        help="what nodes show: value and gradient (reverse, the default), value and "
                             "tangent (forward), or all three (both); forward and both need --tangent")
    render.add_argument("--tangent", action="append", default=[], metavar="NAME=NUMBER[,...]",
                        help="the direction of the tangents ż (inputs not given are 0)")
    render.add_argument("--backend", choices=["system", "pure"],
                        help="Graphviz binaries or pip's graphviz-pure (default: the first found)")
    from .bigcli import add_overview_options

    add_overview_options(render, _count_option)
    render.set_defaults(run=_render_command)
    check = commands.add_parser(
        "check", help="cross-check every gradient against SymPy and finite differences",
        description="Derive every dL/dinput and dL/dnode with SymPy, evaluate them at the point and compare "
                    "with the engine and with central finite differences. Exit code 0 when all agree, "
                    "1 when any disagrees, 3 when rows are not checked (time budget) or too large "
                    "(size cap) and none disagrees (see docs/check.md).")
    _add_values_options(check, from_json=True)
    check.add_argument("--json", action="store_true", help="print the report as JSON: ok, rows, ...")
    check.add_argument("--rtol", type=_tolerance, default=1e-7, metavar="R",
                       help="relative tolerance of engine vs SymPy (default 1e-7)")
    check.add_argument("--atol", type=_tolerance, default=1e-10, metavar="A",
                       help="absolute tolerance of engine vs SymPy (default 1e-10)")
    check.add_argument("--digits", type=int, default=10, choices=range(1, 18), metavar="N",
                       help="significant digits in the table (1-17, default 10)")
    check.add_argument("--simplify", choices=("auto", "always", "never"), default="auto",
                       help="how the closed forms are shown (never changes a verdict): auto simplifies "
                            "likely gains, always every form, both within a time budget; never only "
                            "factors (default auto)")
    check.add_argument("--timeout", type=_positive_option, default=60.0, metavar="S",
                       help="the check's time budget in seconds; rows not reached are 'not checked' "
                            "(exit code 3) (default 60)")
    _memory_option(check)
    check.set_defaults(run=_check_command)
    _add_calc(commands)
    _add_descend(commands)
    from .exercise_cli import add_command as add_exercise

    add_exercise(commands)
    from .demo import DIRECTORY as DEMO_DIRECTORY

    demo = commands.add_parser(
        "demo", help="the main job: the seed example drawn, stepped, checked, calculated and trained",
        description="Write the seed example's annotated graph (SVG, PNG, DOT), its step-by-step HTML "
                    "player, the SymPy check report, the calculator's page, table and charts, and a "
                    "gradient-descent run into one folder, and list what was written.")
    demo.add_argument("-o", "--output", default=DEMO_DIRECTORY, metavar="DIR",
                      help=f"the folder to write (made if missing; default {DEMO_DIRECTORY})")
    demo.add_argument("--backend", choices=["system", "pure"],
                      help="Graphviz binaries or pip's graphviz-pure (default: the first found)")
    demo.set_defaults(run=_demo_command)
    serve = commands.add_parser(
        "serve", help="the calculator and the diagrams as a local web page",
        description="Start a local web server with the gradient calculator: the five inputs (or any "
                    "formula's), results as you type, the SymPy check, the worked derivation and the "
                    "annotated graph with the backward pass step by step. Stop it with Ctrl+C.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=_port_option, default=8000,
                       help="the port (default 8000; 0 picks a free one)")
    serve.add_argument("--open", action="store_true", help="open the page in the web browser")
    serve.add_argument("--job-memory", type=_size_option, default=JOB_MEMORY, metavar="SIZE",
                       help=f"memory each calculation or picture may use, e.g. 512M or 2G (default "
                       f"{megabytes(JOB_MEMORY)}); a job over it answers 422")
    serve.set_defaults(run=_serve_command)
    return parser


def _add_hessian(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .symbolic.hessian import TIME_BUDGET

    hessian = commands.add_parser(
        "hessian", help="second derivatives: the Hessian, its eigenvalues, checked by SymPy",
        description="The Hessian of FORMULA at the point by forward-over-reverse, its eigenvalues, and "
                    "every entry compared with SymPy's second derivative. Exit code 0 when all agree, "
                    "1 when any disagrees, 3 when SymPy could not check some within its budget.")
    _add_values_options(hessian, from_json=True)
    hessian.add_argument("--wrt", metavar="NAMES", help="the inputs, comma-separated (default: all)")
    hessian.add_argument("--json", action="store_true",
                         help="print output, value, wrt, gradient, hessian, eigenvalues and check as JSON")
    hessian.add_argument("--budget", type=_positive_option, default=TIME_BUDGET, metavar="SECONDS",
                         help=f"time for SymPy's second derivatives (default {TIME_BUDGET:g})")
    hessian.add_argument("--digits", type=int, default=10, choices=range(1, 18), metavar="N",
                         help="significant digits in the tables (1-17, default 10)")
    hessian.set_defaults(run=_hessian_command)


def _port_option(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text.strip()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"a port is a whole number from 0 to 65535, not {text!r}")
    return int(text)


def _add_seed_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--at", action="append", default=[], metavar="NAME=VALUE[,NAME=VALUE...]",
                         help="input values (repeatable); for the seed, the ones not given keep their "
                              "default")
    command.add_argument("--example", type=int, choices=[1, 2],
                         help="start from the seed page's worked example 1 (the default: x=5, y=10, "
                              "W1=0.1, W2=0.2, B=0.5) or 2 (W1=0.2, W2=0.3, B=4)")
    command.add_argument("--wrt", metavar="NAMES",
                         help="the parameters, comma-separated (default: W1,W2,B for the seed, every "
                              "input for a formula)")


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


def _protect_formula(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """A formula may start with '-' (``-x**2``); argparse would take it for an option.
    A leading space makes it positional, and the parser ignores the space."""
    options = {option for action in parser._actions for option in action.option_strings}
    with_value = {option for action in parser._actions if action.nargs != 0
                  for option in action.option_strings}
    protected = list(argv)
    for position, argument in enumerate(protected[1:], 1):
        if argument == "--":
            break
        looks_like_option = re.fullmatch(r"--[A-Za-z][-A-Za-z0-9]*(=.*)?", argument) is not None
        formula_value = protected[position - 1] == "--formula"  # calc --formula "-x**2"
        if (argument.startswith("-") and argument != "-" and not looks_like_option
                and argument not in options
                and (protected[position - 1] not in with_value or formula_value)):
            protected[position] = " " + argument
            break
    return protected


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _commands(parser):
        argv = _protect_formula(argv, _commands(parser)[argv[0]])
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # usage errors, --help and --version: return the code, don't raise
        return stop.code if isinstance(stop.code, int) else 2
    if args.command is None:
        print(f"graphviz-grad: error: choose a command: {', '.join(_commands(parser))} (see --help)",
              file=sys.stderr)
        return 2
    try:
        with memory_bound(getattr(args, "memory", None)):
            return args.run(args)
    except MemoryError:
        bound = getattr(args, "memory", None)
        print(f"graphviz-grad: error: {args.command} " + (
            f"needed more than {megabytes(bound)} of memory and was stopped (--memory SIZE gives it more)"
            if bound else "ran out of memory"), file=sys.stderr)
        return 3
    except GraphvizGradError as error:
        print(f"graphviz-grad: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)
