"""The ``exercise`` command: print an exercise with its blanks, or mark answers given on the line.

>>> main_args = ["exercise", "fanout", "--answer", "de/db=3"]
>>> from graphviz_grad.cli import main
>>> main(main_args)  # doctest: +ELLIPSIS
0 of 5 right
...
  ✗ de/db = 3 is not right. The step: de/db = de/dz1 · ∂z1/∂b + de/dz2 · ∂z2/∂b. You counted only ...
1

Exit codes: 0 every answer right (or no answers: the exercise is printed), 1 some answer wrong or
missing, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
from typing import Any

from .cli_input import name_value_pairs
from .errors import GraphvizGradError
from .exercises import READY, exercise


class _Usage(GraphvizGradError):
    """A malformed --answer, or a ready exercise's name used wrongly."""


def _answers(items: list[str]) -> dict[str, str]:
    return name_value_pairs(items, "--answer", "KEY=NUMBER (such as dL/dz3=4)")


def _run(args: argparse.Namespace) -> int:
    from .cli_input import parse_values, read_formula

    if args.formula in READY:
        if args.at:
            raise _Usage(f"the ready exercise {args.formula!r} has its own values: --at is for a formula")
        made = exercise(args.formula, **({"hide": args.hide.split(",")} if args.hide else {}))
    elif args.formula.isidentifier() and not args.at:  # a mistyped name, not a formula 'L = name'
        raise _Usage(f"no ready exercise {args.formula!r} (ready: {', '.join(READY)}); "
                     "or give a formula and its values with --at")
    else:
        from .formula import parse

        graph = parse(read_formula(args.formula))
        made = exercise(graph, parse_values(args.at, graph),
                        hide=args.hide.split(",") if args.hide else "grads")
    if args.svg:
        from .files import write_files

        write_files({args.svg: made.diagram().svg()})
    if not args.answer:
        print(made.to_text())
        return 0
    marks = made.check(_answers(args.answer))
    print(marks.to_text())
    return 0 if marks.all_right else 1


def add_command(commands: Any) -> None:
    """Add ``exercise`` to the command line's subcommands."""
    command = commands.add_parser(
        "exercise", help="fill in hidden values or gradients; answers are checked and explained",
        description="Print an exercise (a ready one: " + ", ".join(READY) + "; or FORMULA at --at) with "
                    "its blanks as '?', or mark the answers given with --answer.")
    command.add_argument("formula", metavar="NAME|FORMULA",
                         help="a ready exercise's name, the formula text, '-' or @FILE")
    command.add_argument("--at", action="append", default=[], metavar="NAME=VALUE[,NAME=VALUE...]",
                         help="input values, for a formula")
    command.add_argument("--hide", metavar="KEY[,KEY...]",
                         help="what to hide: node names (values), dL/dNAME (gradients), 'grads', 'values'")
    command.add_argument("--answer", action="append", default=[], metavar="KEY=NUMBER[,...]",
                         help="an answer to mark (repeatable): --answer dL/dz4=4")
    command.add_argument("--svg", metavar="FILE", help="also write the diagram, blanks as '?', to FILE")
    command.set_defaults(run=_run)
