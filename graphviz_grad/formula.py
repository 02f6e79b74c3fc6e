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

A one-pattern tokenizer (`graphviz_grad.formula_tokens`) and an operator-precedence parser
with explicit stacks do the work: Python's ``ast`` recurses while it builds a tree, and fails on
a 10,000-term sum. The parser writes the graph's flat record as it goes (per operation its op
and its arguments), and names and orders the nodes once at the end, as `build` would for the
same expressions; it makes no expression objects.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from .errors import FormulaError, FormulaTypeError
from .formula_tokens import END, END_PIECE, KIND, NAME, NEWLINE, NUMBER, SPACE, describe, pieces, position
from .graph import CONST, INPUT, Graph, _Namer, constant_name
from .ops import FUNCTIONS, INFIX, PREFIX

MAX_LENGTH = 1_000_000
"""Longest formula, in characters."""
MAX_NODES = 250_000
"""Most operations in one formula (parsing takes well under a second at this size)."""
MAX_DEPTH = 1_000
"""Deepest nesting of parentheses and function calls."""
MAX_LITERAL = 100
"""Longest number literal, in characters."""

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 4}
_PREFIX_PRECEDENCE = 3  # binds tighter than * but looser than ** on its right: -x**2 == -(x**2)
_NEG = PREFIX["-"]
_BIN, _PRE, _PAREN, _CALL = range(4)  # kinds of the parser's pending entries

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

# An operand of the parser is a reference: an int is the operation made k-th, a str an input's
# name or a constant's name (numbers, so never an input's), a (value, piece index) tuple a
# number not yet used by an operation (``-2`` folds into a number, and only used numbers
# become constant nodes).
Ref = Any


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


class _Parser:
    """One formula's parse: the pieces, and the flat record of the graph being made."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pieces = pieces(text)
        self.pieces.append(END_PIECE)  # the end; its position is the text's length
        self.inputs: dict[str, int] = {}  # input name -> piece index where it was first read
        self.assigned: dict[str, int] = {}  # statement name -> its operation
        self.constants: dict[str, tuple[int, float]] = {}  # name -> (first piece index, value)
        self.ops: list[str] = []  # per operation: its op's name,
        self.first: list[Ref] = []  # its first argument
        self.second: list[Ref] = []  # and its second (None for a unary op)
        self.named: dict[int, str] = {}  # operation -> the name a statement gave it

    def fail(self, message: str, index: int) -> FormulaError:
        return FormulaError(message, *position(self.pieces, self.text, index))

    def next_index(self, index: int, depth: int) -> int:
        """The index of the first piece at or after ``index`` that is not spacing (a newline
        inside parentheses is spacing)."""
        found = self.pieces
        while KIND[found[index][0]] is SPACE or (depth and found[index] == "\n"):
            index += 1
        return index

    def next_statement(self, index: int) -> int:
        """The index of the first piece of the next statement at or after ``index`` (the end
        piece if there is none): separators and spacing are skipped."""
        found = self.pieces
        while found[index] in (";", "\n") or KIND[found[index][0]] is SPACE:
            index += 1
        return index

    # --- leaves and operations --------------------------------------------------------

    def number(self, text: str, index: int) -> tuple[float, int]:
        if len(text) > MAX_LITERAL:
            raise self.fail(f"a number of {len(text)} characters is over the limit of {MAX_LITERAL}", index)
        value = float(text)
        if not math.isfinite(value):
            raise self.fail(f"the number {text} is too large for float64 (largest: 1.8e308)", index)
        if value == 0 and any(digit in text.lower().partition("e")[0] for digit in "123456789"):
            raise self.fail(f"the number {text} is too small for float64: it would be 0", index)
        return value, index

    def name(self, name: str, index: int) -> Ref:
        """An input's name, or a constant's (value, index); not an assigned name."""
        if name in FUNCTIONS:
            raise self.fail(f"{name!r} is a function: call it as {name}(...)", index)
        if name in CONSTANTS:
            return CONSTANTS[name], index
        self.inputs.setdefault(name, index)
        return name

    def constant(self, number: tuple[float, int]) -> str:
        """A number used by an operation (or as the output) becomes a constant node."""
        value, index = number
        name = constant_name(value)
        first = self.constants.get(name)
        if first is None or index < first[0]:
            self.constants[name] = (index, value)
        return name

    def operation(self, op: str, a: Ref, b: Ref, index: int) -> int:
        """Record the operation ``op`` of ``a`` and ``b`` (None for a unary op); numbers among
        them become constants."""
        if len(self.ops) >= MAX_NODES:
            raise self.fail(f"the formula has more than {MAX_NODES:,} operations", index)
        if type(a) is tuple:
            a = self.constant(a)
        if type(b) is tuple:
            b = self.constant(b)
        self.ops.append(op)
        self.first.append(a)
        self.second.append(b)
        return len(self.ops) - 1

    def reduce(self, operands: list[Ref], entry: tuple[Any, ...]) -> None:
        """Apply the pending operator ``entry`` to the operands on top of the stack."""
        if entry[0] == _PRE:
            a = operands[-1]
            if type(a) is tuple:  # -2 is a number, not an operation
                operands[-1] = -a[0], a[1]
            else:
                operands[-1] = self.operation(entry[1].name, a, None, entry[2])
        else:
            b = operands.pop()
            a = operands[-1]
            ops = self.ops
            if type(a) is tuple or type(b) is tuple or len(ops) >= MAX_NODES:
                operands[-1] = self.operation(entry[1].name, a, b, entry[2])
            else:  # the usual case, without a call: two operands that are nodes already
                ops.append(entry[1].name)
                self.first.append(a)
                self.second.append(b)
                operands[-1] = len(ops) - 1

    # --- expressions and statements -----------------------------------------------------

    def expression(self, index: int) -> tuple[Ref, int]:
        """Operator precedence with explicit stacks: no recursion at any depth. Returns the
        value and the index of the piece that ended the expression."""
        found, reduce, assigned = self.pieces, self.reduce, self.assigned
        operands: list[Ref] = []
        pending: list[Any] = []  # (kind, op, piece index, precedence); a call: a list, + count
        depth = 0
        expect_operand = True
        previous = index
        while True:
            text = found[index]
            kind = KIND[text[0]]
            if kind is SPACE or (depth and kind is NEWLINE):
                index += 1
                continue
            if expect_operand:
                if kind is NAME:
                    after = index + 1
                    if KIND[found[after][0]] is SPACE or (depth and found[after] == "\n"):
                        after = self.next_index(after, depth)
                    if found[after] == "(":
                        function = FUNCTIONS.get(text)
                        if function is None:
                            raise self.fail(_unknown_function(text), index)
                        pending.append([_CALL, function, index, 0, 0])
                        depth += 1
                        index = after
                    elif text in assigned:
                        operands.append(assigned[text])
                        expect_operand = False
                    else:
                        operands.append(self.name(text, index))
                        expect_operand = False
                elif kind is NUMBER:
                    operands.append(self.number(text, index))
                    expect_operand = False
                elif text == "(":
                    pending.append((_PAREN, None, index, 0))
                    depth += 1
                elif text == "-":
                    pending.append((_PRE, _NEG, index, _PREFIX_PRECEDENCE))
                elif text == "+":
                    pass  # unary plus changes nothing and makes no node
                elif text == ")" and pending and pending[-1][0] == _CALL and found[previous] == "(":
                    function = pending[-1][1]
                    raise self.fail(f"{function.name} takes {function.arity} argument(s), got 0", index)
                else:
                    raise self.fail(f"expected a number, a name or '(' but found {describe(text)}", index)
                if depth > MAX_DEPTH:  # placed at what opened the level: a '(' or a call's name
                    raise self.fail(f"parentheses and calls nest deeper than {MAX_DEPTH} levels",
                                    pending[-1][2])
            elif text in _PRECEDENCE:
                precedence = _PRECEDENCE[text]
                threshold = precedence + 1 if text == "**" else precedence  # ** groups to the right
                while pending and pending[-1][3] >= threshold:
                    reduce(operands, pending.pop())
                pending.append((_BIN, INFIX[text], index, precedence))
                expect_operand = True
            elif text == ")" or text == ",":
                while pending and pending[-1][3]:
                    reduce(operands, pending.pop())
                if not pending or (pending[-1][0] == _PAREN and text == ","):
                    raise self.fail("',' outside a function call: tuples are not supported" if text == ","
                                    else "')' without a matching '('", index)
                group = pending[-1]
                if group[0] == _CALL:
                    group[4] += 1
                    function = group[1]
                    if group[4] > function.arity or (text == ")" and group[4] < function.arity):
                        raise self.fail(f"{function.name} takes {function.arity} argument(s), got "
                                        f"{group[4] if text == ')' else 'more'}", index)
                if text == ",":
                    expect_operand = True
                else:
                    pending.pop()
                    depth -= 1
                    if group[0] == _CALL:
                        b = operands.pop() if group[4] == 2 else None
                        operands[-1] = self.operation(group[1].name, operands[-1], b, group[2])
            elif text == "=" and pending and pending[-1][0] == _CALL and KIND[found[previous][0]] is NAME:
                raise self.fail("keyword arguments are not supported", index)
            elif text == "=":
                raise self.fail("unexpected '=': a statement assigns once, as 'name = expression'", index)
            elif kind is NEWLINE or kind is END or text == ";":
                break
            else:
                raise self.fail(f"missing an operator before {describe(text)}{self.unclosed(pending, index)}",
                                index)
            previous = index
            index += 1
        if expect_operand:
            raise self.fail(f"expected a number, a name or '(' but found {describe(text)}", index)
        while pending:
            if pending[-1][0] >= _PAREN:
                raise self.fail("this '(' is never closed", pending[-1][2])
            reduce(operands, pending.pop())
        return operands[0], index

    def unclosed(self, pending: list[Any], index: int) -> str:
        """A hint for a missing operator on a later line than a '(' still open: is it closed?"""
        opened = next((entry[2] for entry in reversed(pending) if entry[0] >= _PAREN), None)
        if opened is None:
            return ""
        line, column = position(self.pieces, self.text, opened)
        if line < position(self.pieces, self.text, index)[0]:
            return f" (is the '(' at line {line}, column {column} closed?)"
        return ""

    def statement(self, first: int) -> tuple[Ref, int]:
        """Parse the statement starting at piece ``first``; its value and the index after it."""
        found = self.pieces
        target = found[first]
        equals = self.next_index(first + 1, 0) if KIND[target[0]] is NAME else first
        if equals == first or found[equals] != "=":
            value, end = self.expression(first)
            if KIND[found[self.next_statement(end)][0]] is not END:
                raise self.fail("only the last statement may be a bare expression; give this one a name",
                                first)
            if type(value) is int and value not in self.named:
                if "L" in self.assigned or "L" in self.inputs:
                    raise self.fail("the last expression would be named 'L', but 'L' is taken: "
                                    "assign it to a name of your own", first)
                self.named[value] = "L"
            return value, end
        if target in FUNCTIONS:
            raise self.fail(f"{target!r} is a function name and cannot be assigned", first)
        if target in CONSTANTS:
            raise self.fail(f"{target!r} is the constant {CONSTANTS[target]!r} and cannot be assigned", first)
        if target in self.assigned:
            raise self.fail(f"{target!r} is assigned twice", first)
        value, end = self.expression(equals + 1)
        if target in self.inputs:
            line, column = position(found, self.text, self.inputs[target])
            raise self.fail(f"{target!r} is assigned after it was read as an input "
                            f"(line {line}, column {column})", first)
        if type(value) is not int or value in self.named:
            raise self.fail(self.second_name_message(target, value), first)
        self.named[value] = target
        self.assigned[target] = value
        return value, end

    def second_name_message(self, target: str, value: Ref) -> str:
        """The message for ``L = x``: a node has one name, so say how to make x the output instead."""
        if type(value) is tuple:
            text = repr(value[0]).removesuffix(".0")
            return (f"'{target} = {text}' names a constant, but a name belongs to an operation: compute "
                    f"{target} from the inputs (such as '{target} = {text}*x'), or end with just '{text}'")
        kind, name = ("input", value) if type(value) is str else ("node", self.named[value])
        return (f"'{target} = {name}' would give the {kind} {name!r} a second name: to make "
                f"{name} the output, end the formula with just '{name}'")

    # --- the graph ------------------------------------------------------------------------

    def graph(self, output: Ref) -> Graph:
        """The graph as columns, placed as `graphviz_grad.graph.build` places the same
        expressions: inputs in reading order, then constants in reading order, then the
        operations in evaluation order."""
        if type(output) is tuple:
            output = self.constant(output)
        inputs = tuple(self.inputs)
        count = len(inputs)
        constants = sorted(self.constants.items(), key=lambda item: item[1][0]) if self.constants else ()
        leaf_names = [*inputs, *(name for name, _ in constants)]
        base = len(leaf_names)
        where: dict[Ref, int] = dict(zip(leaf_names, range(base), strict=True))
        where[None] = -1
        where.update(zip(range(len(self.ops)), range(base, base + len(self.ops)), strict=True))
        first = [-1] * base
        first += map(where.__getitem__, self.first)
        second = [-1] * base
        second += map(where.__getitem__, self.second)
        ops = [INPUT] * count + [CONST] * len(constants) + self.ops
        values = {count + i: value for i, (_, (_, value)) in enumerate(constants)}
        given = {base + k: name for k, name in self.named.items()}
        return _graph_of(ops, first, second, values, leaf_names, given, where[output], inputs)


def _graph_of(ops: list[str], first: list[int], second: list[int], values: dict[int, float],
              leaf_names: list[str], given: dict[int, str], out: int, inputs: tuple[str, ...]) -> Graph:
    """The `Graph` of the parser's columns: per node its op and argument positions (-1: none),
    the constants' values by position, the leaves' names and the names statements gave;
    other operations are named ``z1, z2, ...`` in order, skipping every name in use, when a
    name is first read (`graphviz_grad.graph._Namer`)."""
    namer = _Namer(list(leaf_names), given, None)
    output = leaf_names[out] if out < len(leaf_names) else given.get(out)
    if output is None and out == len(ops) - 1:  # the last node's z number, alone
        output = namer.last(inputs, len(ops))
    # One statement (no name but the output's, and the output made last): every operation is
    # part of its expression, so every one reaches the output and the engine can skip a sweep.
    one_statement = out == len(ops) - 1 and all(position == out for position in given)
    return Graph._from_columns(ops, first, second, values, namer, out, output, inputs, one_statement)


def parse(text: str) -> Graph:
    """Parse a formula program into a `Graph` whose output is its last statement."""
    if not isinstance(text, str):
        raise FormulaTypeError(f"a formula must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula has {len(text):,} characters, over the limit of {MAX_LENGTH:,}")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    parser = _Parser(text)
    start = parser.next_statement(0)
    if KIND[parser.pieces[start][0]] is END:
        raise FormulaError("the formula is empty")
    while True:
        output, end = parser.statement(start)
        start = parser.next_statement(end)
        if KIND[parser.pieces[start][0]] is END:
            return parser.graph(output)
