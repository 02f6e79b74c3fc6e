"""The commands on one point of a formula: ``grad`` (values and gradients, tangents), ``hessian``,
``render`` (diagrams, frames, players) and ``check`` (SymPy), each with its parser.

>>> from graphviz_grad.cli import main
>>> main(["grad", "y = 2*x", "--at", "x=1"])  # doctest: +ELLIPSIS
node  op  ...
0
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .cli_input import (
    UsageError,
    _trace_from_args,
    format_number,
    parse_direction,
    parse_values,
    read_formula,
)
from .cli_options import _add_values_options, _count_option, _memory_option, _positive_option, _tolerance
from .engine import backward
from .files import write_files, write_numbered
from .formula import parse
from .graph import CONST, INPUT
from .serialize import trace_to_dict
from .text import table


def _add_grad(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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


def _add_render(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    from .bigcli import check_full_drawing, render_big, wants_overview

    big = wants_overview(args, graph)
    if big and forward_options:  # tangents are drawn on every node: no overview unless asked for
        if args.expand or args.focus or args.paths is not None or args.wrt:
            raise UsageError("--mode forward/both and --tangent draw every node: leave out "
                             "--expand, --focus, --paths and --wrt")
        big = False
    if not big:
        check_full_drawing(graph, fmt, "--mode forward/both" if forward_options else "--collapse none")
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
    if args.steps and fmt in _STEP_FORMATS:  # one file per frame (html and gif hold them all in one)
        paths = write_numbered(args.output, outputs)
    else:
        paths = [args.output]
        write_files({args.output: outputs[0]})
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


def _add_check(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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


def _check_command(args: argparse.Namespace) -> int:
    from .symbolic import check  # SymPy is imported only by this command

    report = check(_trace_from_args(args), rtol=args.rtol, atol=args.atol, simplify=args.simplify,
                   timeout=args.timeout)
    print(report.to_json() if args.json else report.to_text(args.digits))
    return 1 if not report.ok else 0 if report.complete else 3
