"""The exceptions graphviz_grad raises for bad input: each message is one line that names the problem.

>>> str(FormulaError("unexpected '^'", line=1, column=3))
"line 1, column 3: unexpected '^'"
"""

from __future__ import annotations


class GraphvizGradError(Exception):
    """Base class: a user mistake or a numeric fault, reported in one line."""


class FormulaError(GraphvizGradError, ValueError):
    """Formula text that is not in the formula language (or over its limits)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        self.message = message
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(f"{where}{message}")


class GraphError(GraphvizGradError, ValueError):
    """A graph that cannot be built: duplicate or invalid names, unknown ops, wrong arity."""


class InputValueError(GraphvizGradError, ValueError):
    """Values for a graph's inputs that are missing, extra or not numbers."""


def missing_value(name: str) -> str:
    """The message for an input without a value; for ``e``, a hint that it is not Euler's number.

    >>> missing_value("x")
    "missing a value for input 'x'"
    >>> missing_value("e")
    "missing a value for input 'e' (e is an ordinary name here; Euler's number to a power is exp(x))"
    """
    hint = " (e is an ordinary name here; Euler's number to a power is exp(x))" if name == "e" else ""
    return f"missing a value for input {name!r}{hint}"


class FormulaTypeError(FormulaError, TypeError):
    """Something other than text where formula text belongs (wrong argument type: a TypeError)."""


class InputTypeError(InputValueError, TypeError):
    """An input value that is not a real number: a str, None, a bool, a complex (a TypeError)."""


class GraphTypeError(GraphError, TypeError):
    """An argument of the wrong kind where a graph is built, imported or run: an importer given no
    function, tensor or Value, a builder given no Expr, name or number (a TypeError)."""


class NumericError(GraphvizGradError, ArithmeticError):
    """Strict mode: a node's value or gradient is not finite.

    ``node`` is the node's name, ``op`` its operation and ``inputs`` the
    ``(name, value)`` pairs of its arguments.
    """

    def __init__(self, message: str, node: str, op: str, inputs: tuple[tuple[str, float], ...]):
        self.node = node
        self.op = op
        self.inputs = inputs
        super().__init__(message)


class OutputError(GraphvizGradError):
    """An output file that cannot be written (missing folder, no permission, disk full)."""
