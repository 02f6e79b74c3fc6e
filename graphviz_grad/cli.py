"""The ``graphviz-grad`` command line (also ``python -m graphviz_grad``).

>>> main(["grad", "y = x**2", "--at", "x=3", "--json"])  # doctest: +ELLIPSIS
{"output": "y", "value": 9.0, "gradients": {"x": 6.0}, ...}
0

Exit codes: 0 success, 1 a check found a disagreement, 2 bad usage or bad input
(one line on stderr, no traceback, nothing written).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

from . import __version__
from .cli_calc import _add_calc, _add_descend
from .cli_input import (
    UsageError,
    format_number,
    name_value_pairs,
    parse_direction,
    parse_values,
    read_formula,
)
from .cli_options import _Parser, _port_option, _size_option
from .cli_trace import _add_check, _add_grad, _add_hessian, _add_render
from .errors import GraphvizGradError
from .limits import JOB_MEMORY, megabytes, memory_bound

__all__ = ["UsageError", "format_number", "main", "make_parser", "name_value_pairs", "parse_direction",
           "parse_values", "read_formula"]


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


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="graphviz-grad", description="Make backpropagation visible and checkable.")
    parser.add_argument("--version", action="version", version=f"graphviz-grad {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_grad(commands)
    _add_hessian(commands)
    _add_render(commands)
    _add_check(commands)
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
