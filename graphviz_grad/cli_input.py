"""Reading what a command line gives: the formula text (``-``, ``@FILE``), ``NAME=TEXT`` pairs,
the point (``--at``), a tangent direction, a trace (``--from-json``), and the CLI's number format.

>>> parse_values(["x=5", "y=2"], parse("L = x*y"))
{'x': 5.0, 'y': 2.0}
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .engine import Trace, backward
from .errors import GraphvizGradError, missing_value
from .formula import MAX_LENGTH, parse
from .graph import Graph
from .loading import MAX_BYTES, load
from .text import format_number as _format_number
from .text import parse_number


class UsageError(GraphvizGradError):
    """A command line that cannot be carried out."""


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
    """A number as the command line prints it: the one formatter (:func:`graphviz_grad.text.format_number`)
    at the commands' default of 10 significant digits.

    >>> format_number(0.1 + 0.2), format_number(float("-inf")), format_number(2.0), format_number(-0.0)
    ('0.3', '-inf', '2', '0')
    """
    return _format_number(value, digits)


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
