"""The formula tokenizer: formula text to a list of pieces, in one regular-expression scan.

>>> pieces("y = 2*(x +\\n 1)  # note")
['y', ' ', '=', ' ', '2', '*', '(', 'x', ' ', '+', '\\n', ' ', '1', ')', '  ', '# note']
>>> kind("y"), kind("2"), kind(" "), kind("\\n"), kind("**")
('name', 'number', 'space', 'newline', 'op')

Every character of the text is in exactly one piece (spaces and comments too), so a piece's
line and column are worked out only when an error needs them (`position`). No token objects
are made: the parser reads the strings, classified by their first character (`KIND`).

The scan is one compiled pattern applied with ``findall``, which is all C: a name, a number, an
operator, a newline or a run of spaces/a comment per piece. Text the language refuses (``2x``,
``x^2``, ``a // b``, a keyword, an over-long name) leaves a gap in the pieces or an over-long
name, and only then does a second, exact tokenizer run to report the first problem with its
line, column and what to write instead:

>>> pieces("L = x^2")
Traceback (most recent call last):
...
graphviz_grad.errors.FormulaError: line 1, column 6: '^' is not an operator here: write '**' for a power
"""

from __future__ import annotations

import keyword
import re
import string

from .errors import FormulaError
from .graph import MAX_NAME_LENGTH

SPACE, NEWLINE, NUMBER, NAME, OP, END = "space", "newline", "number", "name", "op", "end"
END_PIECE = "\x00"
"""The piece the parser sees after the last one (the NUL character is never in a valid scan)."""
KIND = {**dict.fromkeys(" \t\f#", SPACE), "\n": NEWLINE, **dict.fromkeys(string.digits + ".", NUMBER),
        **dict.fromkeys(string.ascii_letters + "_", NAME), **dict.fromkeys("*-+/(),;=", OP), END_PIECE: END}
"""A piece's kind by its first character."""

_KEYWORDS = frozenset(keyword.kwlist)
_PART = r"(?!(?:{})(?![A-Za-z0-9_]))[A-Za-z_][A-Za-z0-9_]*".format("|".join(sorted(_KEYWORDS)))
_FAST = re.compile(rf"""
    [ \t\f]+ | \#[^\n]* | \n
  | (?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?(?![A-Za-z0-9_.])  # not run into a name: 2x
  | {_PART}(?:\.{_PART})*                                                 # no keyword as a part
  | \*\*(?!=) | [-+*](?!=) | /(?![/=]) | =(?!=) | [(),;]                  # not // == += **= ...
""", re.VERBOSE)
"""Only what the language accepts; anything else is left as a gap for `_exact` to explain."""

_TOKEN = re.compile(r"""
    (?P<skip>[ \t\f]+|\#[^\n]*)
  | (?P<newline>\n)
  | (?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<unsupported>//|==|!=|<=|>=|:=|->|\*\*=|[-+*/]=)
  | (?P<op>\*\*|[-+*/(),;=])
""", re.VERBOSE)
"""The exact tokenizer's pattern: also what the language refuses, to name it."""

_UNSUPPORTED = {
    "//": "floor division '//' is not supported: use '/'",
    ":=": "assignment expressions ':=' are not supported",
    "->": "'->' is not supported",
}
_CHARACTERS = {
    "'": "strings are not supported", '"': "strings are not supported",
    ".": "'.' only joins the parts of a group name (layer1.h1) or sits inside a number",
    "[": "subscripts and lists are not supported", "]": "subscripts and lists are not supported",
    "{": "sets and dictionaries are not supported", "}": "sets and dictionaries are not supported",
    "^": "'^' is not an operator here: write '**' for a power",
    "\\": "line continuations are not supported: a newline inside parentheses continues a statement",
    ":": "':' is not supported (no lambdas, slices or annotations)",
    "\u2212": "'\u2212' (U+2212) is not an operator: write '-'",
    "\u00d7": "'\u00d7' (U+00D7) is not an operator: write '*'",
    "\u00b7": "'\u00b7' (U+00B7) is not an operator: write '*'",
    "\u00f7": "'\u00f7' (U+00F7) is not an operator: write '/'",
}


def pieces(text: str) -> list[str]:
    """The text cut into pieces, every character in one; `FormulaError` at the first thing the
    language does not have. Line endings must already be ``\\n``."""
    found = _FAST.findall(text)
    if sum(map(len, found)) == len(text) and (
        not found or max(map(len, found)) <= MAX_NAME_LENGTH or not any(_over_long_names(found))
    ):
        return found
    return _exact(text)  # a gap or an over-long name: raises with the first problem's place


def _over_long_names(found: list[str]) -> filter[str]:
    """The names longer than the limit (a long comment, run of spaces or number is not one:
    the parser limits numbers itself)."""
    return filter(lambda piece: len(piece) > MAX_NAME_LENGTH and KIND[piece[0]] == NAME, found)


def position(found: list[str], text: str, index: int) -> tuple[int, int]:
    """The 1-based line and column where piece ``index`` starts (``len(found)``: the end)."""
    offset = sum(map(len, found[:index]))
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def kind(piece: str) -> str:
    """``name``, ``number``, ``op``, ``newline``, ``space`` (spaces and comments) or ``end``."""
    return KIND[piece[0]]


def describe(piece: str) -> str:
    """A piece as an error message names it.

    >>> describe("W1"), describe("2.5"), describe(";"), describe("\\n")
    ("the name 'W1'", 'the number 2.5', "';'", 'the end of the statement')
    """
    what = KIND[piece[0]]
    if what == NUMBER:
        return f"the number {piece}"
    if what == NAME:
        return f"the name {piece!r}"
    return "the end of the statement" if what in (END, NEWLINE) else repr(piece)


def _exact(text: str) -> list[str]:
    """The slow tokenizer, one match at a time: the first refused character, name, number or
    operator is a `FormulaError` with its line and column; valid text gives `pieces`' pieces."""
    found: list[str] = []
    line, line_start, position = 1, 0, 0
    for match in _TOKEN.finditer(text):
        start = match.start()
        if start != position:  # finditer skipped a character that no token matches
            raise FormulaError(_character_message(text[position]), line, position - line_start + 1)
        what = match.lastgroup
        position = match.end()
        value = match.group()
        found.append(value)
        if what == "name":
            if position - start > MAX_NAME_LENGTH:
                raise FormulaError(f"a name of {len(value)} characters is over the limit of "
                                   f"{MAX_NAME_LENGTH}", line, start - line_start + 1)
            if not _KEYWORDS.isdisjoint(value.split(".")):
                reserved = next(part for part in value.split(".") if part in _KEYWORDS)
                raise FormulaError(f"{reserved!r} is a Python keyword: formulas have no keywords", line,
                                   start - line_start + 1)
        elif what == "newline":
            line, line_start = line + 1, position
        elif what == "number":
            if position < len(text) and (text[position].isalnum() or text[position] in "_."):
                raise FormulaError(_after_number(value, text, position), line, position - line_start + 1)
        elif what == "unsupported":
            message = _UNSUPPORTED.get(value)
            if message is None:
                message = (f"augmented assignment {value!r} is not supported" if value.endswith("=") and
                           value[0] in "+-*/" else f"comparison {value!r} is not supported")
            raise FormulaError(message, line, start - line_start + 1)
    if position != len(text):
        raise FormulaError(_character_message(text[position]), line, position - line_start + 1)
    return found


def _character_message(char: str) -> str:
    if char in _CHARACTERS:
        return _CHARACTERS[char]
    if char in "%<>!&|~@$?`":
        return f"operator {char!r} is not supported: use + - * / **"
    if ord(char) > 127:
        return f"non-ASCII character {char!r} (U+{ord(char):04X}): names and operators must be ASCII"
    return f"unexpected character {char!r}"


def _after_number(number: str, text: str, position: int) -> str:
    """The message for a number run into a name, as in ``2x``: suggest the product (or what
    Python's other number forms, ``1_000``, ``0x10``, ``1e+``, are written as here)."""
    message = f"unexpected {text[position]!r} right after the number {number}"
    rest = text[position:]
    if re.match(r"_[0-9]", rest):
        digits = re.match(r"[0-9_]*(\.[0-9_]*)?", rest).group()  # type: ignore[union-attr]
        return f"{message}: '_' in a number is not supported: write {number}{digits.replace('_', '')}"
    base = {"x": "hexadecimal", "b": "binary", "o": "octal"}.get(rest[:1].lower())
    if number == "0" and base and re.match(r"[xXbBoO][0-9A-Fa-f]", rest):
        return f"{message}: {base} numbers are not supported: write the number in decimal"
    exponent = rest[:1] in ("e", "E") and "e" not in number.lower()
    if exponent and rest[1:2] in ("+", "-"):
        return f"{message}: an exponent needs its digits, as in {number}{rest[:2]}3"
    name = re.match(r"[A-Za-z_][A-Za-z0-9_]*", rest)
    if name is None:
        return message
    also = f", or an exponent with its digits, as in {number}e3" if exponent and name.group() in "eE" else ""
    return f"{message}: write '{number}*{name.group()}' for a product{also}"
