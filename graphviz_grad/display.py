"""Diagrams as objects: shown inline by Jupyter, saved to files, printed as text.

>>> import graphviz_grad as gg
>>> picture = diagram(gg.grad("y = x**2", x=3))
>>> print(picture)
Diagram of y = x**2 at x = 3: y = 9, dy/dx = 6
>>> picture.source.splitlines()[0]
'digraph "y" {'

In Jupyter a diagram shows as SVG, with an HTML ``<img>`` version for notebooks that
are not trusted (their SVG output is hidden) and the line above as plain text. When
IPython is running, traces and graphs display as diagrams too.
"""

from __future__ import annotations

import base64
import sys
from html import escape
from typing import Any

from .dot import View, format_number, to_dot
from .engine import Trace
from .graph import Graph
from .layout import LayoutError, render


def describe(subject: Trace | Graph, digits: int = 4) -> str:
    """One deterministic line: the graph as a program, the point, the value and gradients.

    >>> import graphviz_grad as gg
    >>> describe(gg.parse("e = (a+b)*(b+1)"))
    'Graph of z1 = a + b; z2 = b + 1; e = z1*z2'
    """
    graph = subject.graph if isinstance(subject, Trace) else subject
    program = str(graph).replace("\n", "; ")
    if len(program) > 200:
        program = f"{graph.output} ({len(graph)} nodes)"
    if not isinstance(subject, Trace):
        return f"Graph of {program}"
    number = lambda value: format_number(value, digits)  # noqa: E731
    point = ", ".join(f"{name} = {number(subject.value(name))}" for name in graph.inputs[:8])
    if len(graph.inputs) > 8:
        point += ", ..."
    gradients = ", ".join(f"d{graph.output}/d{name} = {number(grad)}"
                          for name, grad in list(subject.gradients.items())[:8])
    at = f" at {point}" if point else ""
    return f"Diagram of {program}{at}: {graph.output} = {number(subject.output_value)}" + (
        f", {gradients}" if gradients else "")


class Diagram:
    """An annotated diagram of a trace (or the structure of a graph), rendered on demand.

    Keyword options are those of `graphviz_grad.dot.to_dot` (``digits``, ``rankdir``,
    ``compact``, ``symbolic``, ``legend``, ``view``).
    """

    def __init__(self, subject: Trace | Graph, *, backend: str | None = None, text: str | None = None,
                 **options: Any):
        if not isinstance(subject, (Trace, Graph)):
            raise TypeError(f"a Diagram shows a Trace or a Graph, not {type(subject).__name__}")
        self.subject = subject
        self.backend = backend
        self.options = options
        self.source = to_dot(subject, **options)
        self._text = text if text is not None else describe(subject, options.get("digits", 4))
        self._svg: bytes | None = None

    def svg(self) -> bytes:
        """The SVG picture (laid out once, then kept)."""
        if self._svg is None:
            self._svg = render(self.source, "svg", backend=self.backend)
        return self._svg

    def pipe(self, fmt: str = "svg") -> bytes:
        """The picture as ``svg``, ``png``, ``pdf`` or ``dot`` bytes."""
        return self.svg() if fmt == "svg" else render(self.source, fmt, backend=self.backend)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"<{self._text}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        bundle = {"text/plain": self._text}
        try:
            svg = self.svg().decode("utf-8")
        except LayoutError as error:  # no Graphviz: say so instead of failing the cell
            bundle["text/plain"] += f"\n(no picture: {error})"
            return bundle
        encoded = base64.b64encode(svg.encode("utf-8")).decode("ascii")
        bundle["image/svg+xml"] = svg
        bundle["text/html"] = (f'<img src="data:image/svg+xml;base64,{encoded}" '
                               f'alt="{escape(self._text)}" style="max-width:100%">')
        return bundle


def diagram(subject: Trace | Graph, **options: Any) -> Diagram:
    """The annotated diagram of a trace or graph (see `Diagram`)."""
    return Diagram(subject, **options)


def frame_diagram(trace: Trace, view: View, **options: Any) -> Diagram:
    """One frame of the step-by-step sequence as a diagram (laid out on its own)."""
    return Diagram(trace, view=view, text=view.caption or describe(trace), **options)


def _mimebundle(subject: Trace | Graph, include: Any = None, exclude: Any = None) -> dict[str, str]:
    return Diagram(subject)._repr_mimebundle_(include, exclude)


def register_ipython() -> bool:
    """Show traces and graphs as diagrams in a running IPython; ``False`` if there is none."""
    ipython_module = sys.modules.get("IPython")
    shell = ipython_module.get_ipython() if ipython_module is not None else None  # type: ignore[attr-defined]
    if shell is None:
        return False
    formatter = shell.display_formatter.mimebundle_formatter
    for kind in (Trace, Graph):
        formatter.for_type(kind, _mimebundle)
    return True
