"""Plain-text and Markdown helpers shared by every rendering: aligned tables, code spans and
fenced blocks that no user text can break out of.

>>> print(table([["name", "value"], ["x", "5"], ["W1", "0.1"]]))
name  value
x     5
W1    0.1
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from .errors import InputValueError

_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_PRODUCT = re.compile(r"(?<!\*)\*(?!\*)")  # a single * (multiplication), not ** (power)


def format_number(value: float | None, digits: int = 4) -> str:
    """A number with ``digits`` significant digits, as the diagrams and tables show it.

    >>> format_number(0.1 + 0.2), format_number(float("-inf")), format_number(2.0), format_number(None)
    ('0.3', '-inf', '2', '?')
    >>> format_number(0.1, 17), format_number(0.1 + 0.2, 17), format_number(1e22, 17)
    ('0.1', '0.30000000000000004', '1e+22')
    """
    if value is None:
        return "?"
    # every digit asked for: the shortest exact text (0.1, not 0.10000000000000001)
    text = repr(value).removesuffix(".0") if digits >= 17 and math.isfinite(value) else f"{value:.{digits}g}"
    return "0" if text == "-0" else text


def product_dots(text: str) -> str:
    """Formula text with ``·`` for a product (``**``, the power, stays).

    >>> product_dots("2*x*z4**2")
    '2·x·z4**2'
    """
    return _PRODUCT.sub("·", text)


def table(rows: Sequence[Sequence[str]], *, right: bool = False) -> str:
    """Rows of cells as columns two spaces apart, left-aligned (``right=True``: right-aligned,
    for numbers), no trailing spaces.

    >>> print(table([["step", "L"], ["0", "4"], ["10", "0.012"]], right=True))
    step      L
       0      4
      10  0.012
    """
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))] if rows else []
    align = str.rjust if right else str.ljust
    return "\n".join("  ".join(align(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def code_span(text: str) -> str:
    """``text`` as a Markdown code span, fenced by more backticks than it contains in a row.

    >>> code_span("a`b"), code_span("x·W1")
    ('`` a`b ``', '`x·W1`')
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if longest or text.startswith(" ") or text.endswith(" ") else text
    return f"{fence}{padded}{fence}"


def code_block(text: str, info: str = "text") -> str:
    """``text`` as a fenced Markdown code block, fenced by more backticks than it contains in a row.

    >>> print(code_block("a = x*2\\nL = a*a"))
    ```text
    a = x*2
    L = a*a
    ```
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def parse_number(text: str, label: str) -> float:
    """A finite float64 from a decimal number, or a `InputValueError` that names ``label``.

    >>> parse_number("1e-3", "--x")
    0.001
    >>> parse_number("inf", "--x")
    Traceback (most recent call last):
    ...
    graphviz_grad.errors.InputValueError: --x: the value 'inf' is not a number (values must be finite)
    """
    text = text.strip()
    if not text:
        raise InputValueError(f"{label}: no value given")
    if text.lower().lstrip("+-") in ("inf", "infinity", "nan"):
        raise InputValueError(f"{label}: the value {text!r} is not a number (values must be finite)")
    if not _NUMBER.fullmatch(text):
        raise InputValueError(f"{label}: the value {text!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise InputValueError(f"{label}: the value {text!r} is too large for float64")
    if value == 0 and any(digit in text.lower().partition("e")[0] for digit in "123456789"):
        raise InputValueError(f"{label}: the value {text!r} is too small for float64 (it would be 0)")
    return value
