"""The command line's argparse pieces: the parser class (one-line usage errors), the option
types (numbers, counts, sizes, ports) and the options several commands share.

>>> _count_option("12"), _positive_option("1e-3")
(12, 0.001)
"""

from __future__ import annotations

import argparse
import re
from typing import NoReturn

from .errors import GraphvizGradError
from .limits import CLI_MEMORY, megabytes, parse_size
from .text import parse_number


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors and no abbreviated options."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(allow_abbrev=False, **kwargs)  # type: ignore[arg-type]
        # argparse takes -1e-3 for an option; a number in any decimal form is a value
        self._negative_number_matcher = re.compile(
            r"^-(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)$", re.IGNORECASE)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _tolerance(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = parse_number(text, "value")
    except GraphvizGradError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


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


def _port_option(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text.strip()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"a port is a whole number from 0 to 65535, not {text!r}")
    return int(text)


def _add_values_options(command: argparse.ArgumentParser, from_json: bool = False) -> None:
    command.add_argument("formula", metavar="FORMULA", nargs="?" if from_json else None,
                         help="the formula text, '-' to read standard input, or @FILE to read a file")
    if from_json:
        command.add_argument("--from-json", metavar="FILE",
                             help="instead of FORMULA and --at: a trace as 'grad --json' writes it")
    command.add_argument("--at", action="append", default=[], metavar="NAME=VALUE[,NAME=VALUE...]",
                         help="input values (repeatable): --at x=5 --at y=10 or --at x=5,y=10")


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
