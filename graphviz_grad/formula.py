"""The safe formula parser: formula text to `Graph`, without ``eval``, ``exec`` or ``sympify``.

>>> print(parse("L = (x*W1 + y*W2 - B)**2"))
z1 = x*W1
z2 = y*W2
z3 = z1 + z2
z4 = z3 - B
L = z4**2
>>> parse("c = a + b; d = b + 1; e = c*d").inputs
('a', 'b')

A dotted name (``layer1.h1``) puts its node in a group (docs/big-graphs.md).

The language (docs/formula-language.md states it in full): statements ``name = expression``
separated by newlines or ``;``, the last may be a bare expression (named ``L``);
finite decimal numbers, the constant ``pi``, names, ``+ - * / **``, unary ``-``/``+``,
parentheses and the functions of `graphviz_grad.ops.FUNCTIONS`. Anything else is a
`FormulaError` that names the problem and its line and column, and what to write instead
where that is clear:

>>> parse("L = x^2")
Traceback (most recent call last):
...
graphviz_grad.errors.FormulaError: line 1, column 6: '^' is not an operator here: write '**' for a power

A small tokenizer and an operator-precedence parser with explicit stacks do the work:
Python's ``ast`` recurses while it builds a tree, and fails on a 10,000-term sum.
"""

from __future__ import annotations

import difflib
import keyword
import math
import re
from typing import NamedTuple

from .errors import FormulaError, FormulaTypeError
from .graph import CONST, INPUT, MAX_NAME_LENGTH, Expr, Graph, _make, build, const
from .ops import FUNCTIONS, INFIX, PREFIX, Op

MAX_LENGTH = 1_000_000
"""Longest formula, in characters."""
MAX_NODES = 250_000
"""Most operations in one formula (parsing takes about 6 s at this size)."""
MAX_DEPTH = 1_000
"""Deepest nesting of parentheses and function calls."""
MAX_LITERAL = 100
"""Longest number literal, in characters."""

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 4}
_PREFIX_PRECEDENCE = 3  # binds tighter than * but looser than ** on its right: -x**2 == -(x**2)

_TOKEN = re.compile(r"""
    (?P<skip>[ \t\f\r]+|\#[^\n]*)
  | (?P<newline>\n)
  | (?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<unsupported>//|==|!=|<=|>=|:=|->|\*\*=|[-+*/]=)
  | (?P<op>\*\*|[-+*/(),;=])
""", re.VERBOSE)

_KEYWORDS = frozenset(keyword.kwlist)
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
_ALIASES = {
    "ln": "the natural logarithm is log(...)",
    "log10": "write log(x)/log(10) for the base-10 logarithm",
    "log2": "write log(x)/log(2) for the base-2 logarithm",
    "pow": "write a**b for a power",
    "power": "write a**b for a power",
    "sqr": "did you mean sqrt(...)? (for a square, write x**2)",
    "tan": "write sin(x)/cos(x) for the tangent",
}
CONSTANTS = {"pi": math.pi}
"""Names that are numbers, not inputs. ``e`` is not one: it names nodes, as in ``e = (a+b)*(b+1)``;
Euler's number to a power is ``exp(x)``."""


class Token(NamedTuple):
    """One token and where it starts (1-based line and column); an immutable named tuple,
    cheap to make by the hundred thousand."""

    kind: str  # number, name, op, newline or end
    text: str
    line: int
    column: int

    def describe(self) -> str:
        if self.kind == "number":
            return f"the number {self.text}"
        if self.kind == "name":
            return f"the name {self.text!r}"
        return "the end of the statement" if self.kind in ("end", "newline") else f"{self.text!r}"


def _fail(message: str, token: Token) -> FormulaError:
    return FormulaError(message, token.line, token.column)


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


def _unknown_function(name: str) -> str:
    """The message for ``name(...)`` when name is no function: the likely meaning, else the list.

    >>> _unknown_function("ln")
    "'ln' is not a function: the natural logarithm is log(...)"
    >>> _unknown_function("sigmod")
    "'sigmod' is not a function: did you mean sigmoid(...)?"
    """
    if name in _ALIASES:
        return f"{name!r} is not a function: {_ALIASES[name]}"
    close = difflib.get_close_matches(name.lower(), FUNCTIONS, n=1, cutoff=0.7)
    if close:
        return f"{name!r} is not a function: did you mean {close[0]}(...)?"
    return (f"{name!r} is not a function; the functions are {', '.join(FUNCTIONS)} "
            f"(for a product, write '{name}*(...)')")


def tokenize(text: str) -> list[Token]:
    """Split formula text into tokens; newlines inside parentheses are only spacing.

    >>> [t.text for t in tokenize("y = 2*(x +\\n 1)")]
    ['y', '=', '2', '*', '(', 'x', '+', '1', ')', '']
    """
    tokens: list[Token] = []
    append = tokens.append
    make = tuple.__new__  # Token(...) without the keyword handling
    line, line_start, depth, position = 1, 0, 0, 0
    keywords = _KEYWORDS
    for match in _TOKEN.finditer(text):
        start = match.start()
        if start != position:  # finditer skipped a character that no token matches
            raise FormulaError(_character_message(text[position]), line, position - line_start + 1)
        kind = match.lastgroup
        position = match.end()
        if kind == "skip":
            continue
        value = match.group()
        if kind == "name":
            if position - start > MAX_NAME_LENGTH:
                raise FormulaError(f"a name of {len(value)} characters is over the limit of "
                                   f"{MAX_NAME_LENGTH}", line, start - line_start + 1)
            if value in keywords or ("." in value and not keywords.isdisjoint(value.split("."))):
                reserved = next(part for part in value.split(".") if part in keywords)
                raise FormulaError(f"{reserved!r} is a Python keyword: formulas have no keywords", line,
                                   start - line_start + 1)
        elif kind == "op":
            if value == "(":
                depth += 1
            elif value == ")" and depth:
                depth -= 1
        elif kind == "newline":
            if depth == 0:
                append(make(Token, ("newline", value, line, start - line_start + 1)))
            line, line_start = line + 1, position
            continue
        elif kind == "number":
            if position < len(text) and (text[position].isalnum() or text[position] in "_."):
                raise FormulaError(_after_number(value, text, position), line, position - line_start + 1)
        else:  # unsupported
            message = _UNSUPPORTED.get(value)
            if message is None:
                message = (f"augmented assignment {value!r} is not supported" if value.endswith("=") and
                           value[0] in "+-*/" else f"comparison {value!r} is not supported")
            raise FormulaError(message, line, start - line_start + 1)
        append(make(Token, (kind, value, line, start - line_start + 1)))
    if position != len(text):
        raise FormulaError(_character_message(text[position]), line, position - line_start + 1)
    tokens.append(Token("end", "", line, position - line_start + 1))
    return tokens


def _second_name_message(target: str, value: Expr) -> str:
    """The message for ``L = x``: a node has one name, so say how to make x the output instead."""
    if value.op == CONST:
        text = repr(value.value).removesuffix(".0")
        return (f"'{target} = {text}' names a constant, but a name belongs to an operation: compute "
                f"{target} from the inputs (such as '{target} = {text}*x'), or end with just '{text}'")
    kind = "input" if value.op == INPUT else "node"
    return (f"'{target} = {value.name}' would give the {kind} {value.name!r} a second name: to make "
            f"{value.name} the output, end the formula with just '{value.name}'")


class _Program:
    """Parser state for one formula: names, inputs and the statements read so far."""

    def __init__(self) -> None:
        self.assigned: dict[str, Expr] = {}
        self.inputs: dict[str, Expr] = {}
        self.read_at: dict[str, Token] = {}
        self.roots: list[Expr] = []
        self.operations = 0

    def number(self, token: Token) -> Expr:
        if len(token.text) > MAX_LITERAL:
            raise _fail(f"a number of {len(token.text)} characters is over the limit of {MAX_LITERAL}", token)
        value = float(token.text)
        if not math.isfinite(value):
            raise _fail(f"the number {token.text} is too large for float64 (largest: 1.8e308)", token)
        mantissa = token.text.lower().partition("e")[0]
        if value == 0 and any(digit in mantissa for digit in "123456789"):
            raise _fail(f"the number {token.text} is too small for float64: it would be 0", token)
        return const(value)

    def name(self, token: Token) -> Expr:
        name = token.text
        if name in FUNCTIONS:
            raise _fail(f"{name!r} is a function: call it as {name}(...)", token)
        if name in CONSTANTS:
            return const(CONSTANTS[name])
        if name in self.assigned:
            return self.assigned[name]
        if name not in self.inputs:
            self.inputs[name] = Expr(INPUT, name=name)  # the tokenizer checked the name
            self.read_at[name] = token
        return self.inputs[name]

    def operation(self, op: Op, args: list[Expr], token: Token) -> Expr:
        if op.name == "neg" and args[0].op == CONST:  # -2 is a number, not an operation
            return const(-args[0].value)  # type: ignore[operator]
        self.operations += 1
        if self.operations > MAX_NODES:
            raise _fail(f"the formula has more than {MAX_NODES:,} operations", token)
        return _make(op.name, tuple(args))  # operands and arity are checked by the parser

    def expression(self, tokens: list[Token]) -> Expr:
        """Operator precedence with explicit stacks: no recursion at any depth."""
        operands: list[Expr] = []
        pending: list[list] = []  # [kind, op, token, argument count]; kind: bin, pre, paren, call
        depth = 0

        def reduce() -> None:
            kind, op, token, _ = pending.pop()
            args = [operands.pop()] if kind == "pre" else [operands.pop(-2), operands.pop()]
            operands.append(self.operation(op, args, token))

        def close(token: Token) -> list:
            while pending and pending[-1][0] in ("bin", "pre"):
                reduce()
            if not pending and token.text == ",":
                raise _fail("',' outside a function call: tuples are not supported", token)
            if not pending:
                raise _fail("')' without a matching '('", token)
            return pending[-1]

        expect_operand = True
        index = 0
        while True:
            token = tokens[index]
            text = token.text
            if expect_operand:
                if token.kind == "number":
                    operands.append(self.number(token))
                    expect_operand = False
                elif token.kind == "name" and tokens[index + 1].text == "(":
                    function = FUNCTIONS.get(text)
                    if function is None:
                        raise _fail(_unknown_function(text), token)
                    pending.append(["call", function, token, 0])
                    depth += 1
                    index += 1
                elif token.kind == "name":
                    operands.append(self.name(token))
                    expect_operand = False
                elif text == "(":
                    pending.append(["paren", None, token, 0])
                    depth += 1
                elif text == "-":
                    pending.append(["pre", PREFIX["-"], token, 0])
                elif text == "+":
                    pass  # unary plus changes nothing and makes no node
                elif text == ")" and pending and pending[-1][0] == "call" and tokens[index - 1].text == "(":
                    function = pending[-1][1]
                    raise _fail(f"{function.name} takes {function.arity} argument(s), got 0", token)
                else:
                    raise _fail(f"expected a number, a name or '(' but found {token.describe()}", token)
                if depth > MAX_DEPTH:
                    raise _fail(f"parentheses and calls nest deeper than {MAX_DEPTH} levels", token)
            elif text in INFIX and token.kind == "op":
                precedence, right = _PRECEDENCE[text], text == "**"
                while pending and pending[-1][0] in ("bin", "pre"):
                    kind, op = pending[-1][:2]
                    top = _PREFIX_PRECEDENCE if kind == "pre" else _PRECEDENCE[op.operator]
                    if top > precedence or (top == precedence and not right):
                        reduce()
                    else:
                        break
                pending.append(["bin", INFIX[text], token, 0])
                expect_operand = True
            elif text in (")", ",") and token.kind == "op":
                group = close(token)
                if group[0] == "paren" and text == ",":
                    raise _fail("',' outside a function call: tuples are not supported", token)
                if group[0] == "call":
                    group[3] += 1
                    function = group[1]
                    if group[3] > function.arity or (text == ")" and group[3] < function.arity):
                        raise _fail(f"{function.name} takes {function.arity} argument(s), got "
                                    f"{group[3] if text == ')' else 'more'}", token)
                if text == ",":
                    expect_operand = True
                else:
                    pending.pop()
                    depth -= 1
                    if group[0] == "call":
                        args = operands[-group[3]:]
                        del operands[-group[3]:]
                        operands.append(self.operation(group[1], args, group[2]))
            elif text == "=" and pending and pending[-1][0] == "call" and tokens[index - 1].kind == "name":
                raise _fail("keyword arguments are not supported", token)
            elif text == "=":
                raise _fail("unexpected '=': a statement assigns once, as 'name = expression'", token)
            elif token.kind in ("end", "newline") or text == ";":
                break
            else:
                opened = next((g[2] for g in reversed(pending) if g[0] in ("paren", "call")), None)
                hint = (f" (is the '(' at line {opened.line}, column {opened.column} closed?)"
                        if opened is not None and opened.line < token.line else "")
                raise _fail(f"missing an operator before {token.describe()}{hint}", token)
            index += 1
        if expect_operand:
            raise _fail(f"expected a number, a name or '(' but found {token.describe()}", token)
        while pending:
            if pending[-1][0] in ("paren", "call"):
                raise _fail("this '(' is never closed", pending[-1][2])
            reduce()
        return operands[0]

    def statement(self, tokens: list[Token], last: bool) -> None:
        first = tokens[0]
        if first.kind == "name" and tokens[1].text == "=":
            target = first.text
            if target in FUNCTIONS:
                raise _fail(f"{target!r} is a function name and cannot be assigned", first)
            if target in CONSTANTS:
                raise _fail(f"{target!r} is the constant {CONSTANTS[target]!r} and cannot be assigned", first)
            if target in self.assigned:
                raise _fail(f"{target!r} is assigned twice", first)
            value = self.expression(tokens[2:])
            if target in self.inputs:
                read = self.read_at[target]
                raise _fail(f"{target!r} is assigned after it was read as an input "
                            f"(line {read.line}, column {read.column})", first)
            if value.op in (INPUT, CONST) or value.name is not None:
                raise _fail(_second_name_message(target, value), first)
            self.assigned[target] = value.named(target)
        else:
            value = self.expression(tokens)
            if not last:
                raise _fail("only the last statement may be a bare expression; give this one a name",
                            first)
            if value.op not in (INPUT, CONST) and value.name is None:
                if "L" in self.assigned or "L" in self.inputs:
                    raise _fail("the last expression would be named 'L', but 'L' is taken: "
                                "assign it to a name of your own", first)
                value.named("L")
        self.roots.append(value)


def parse(text: str) -> Graph:
    """Parse a formula program into a `Graph` whose output is its last statement."""
    if not isinstance(text, str):
        raise FormulaTypeError(f"a formula must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula has {len(text):,} characters, over the limit of {MAX_LENGTH:,}")
    tokens = tokenize(text.replace("\r\n", "\n").replace("\r", "\n"))
    # each statement with the token that ends it; empty statements dropped
    ends = [i for i, (kind, text, _, _) in enumerate(tokens) if kind in ("newline", "end") or text == ";"]
    statements = [tokens[start + 1:end + 1] for start, end in zip([-1, *ends], ends, strict=False)
                  if end - start > 1]
    if not statements:
        raise FormulaError("the formula is empty")
    program = _Program()
    for number, tokens_of_statement in enumerate(statements, 1):
        program.statement(tokens_of_statement, last=number == len(statements))
    return build(program.roots[-1], inputs=list(program.inputs.values()), also=program.roots[:-1])
