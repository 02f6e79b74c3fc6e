"""The seed: the web page this project started from, "Gradient Calculator for a Simple
Computational Graph": its formula, its inputs and help texts, and its two worked examples.

>>> default_parameters(seed_graph()), default_parameters(parse("y = a*b"))
(('W1', 'W2', 'B'), ('a', 'b'))
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .formula import parse
from .graph import Graph

SEED_FORMULA = "L = (x*W1 + y*W2 - B)**2"
"""The seed page's loss: a linear model's squared error."""
EXAMPLE_1: Mapping[str, float] = MappingProxyType({"x": 5.0, "y": 10.0, "W1": 0.1, "W2": 0.2, "B": 0.5})
"""The page's first worked example and its defaults: L = 4, dL/dW1 = 20, dL/dW2 = 40, dL/dB = -4."""
EXAMPLE_2: Mapping[str, float] = MappingProxyType({"x": 5.0, "y": 10.0, "W1": 0.2, "W2": 0.3, "B": 4.0})
"""The page's second worked example: the prediction equals B, so L and every gradient are 0."""
EXAMPLES: Mapping[int, Mapping[str, float]] = MappingProxyType({1: EXAMPLE_1, 2: EXAMPLE_2})
DEFAULTS = EXAMPLE_1
SEED_PARAMETERS = ("W1", "W2", "B")
"""The seed's trainable parameters; x and y are the data."""
FIELDS: Mapping[str, str] = MappingProxyType({
    "x": "first input feature",
    "y": "second input feature",
    "W1": "weight of x",
    "W2": "weight of y",
    "B": "bias, subtracted from the weighted sum",
})
"""The seed's inputs in the page's order, with their help text."""
_SEED_GRAPH: list[Graph] = []


def seed_graph() -> Graph:
    """The seed formula's graph (parsed once)."""
    if not _SEED_GRAPH:
        _SEED_GRAPH.append(parse(SEED_FORMULA))
    return _SEED_GRAPH[0]


def is_seed(graph: Graph) -> bool:
    """Whether ``graph`` is the seed's (however it was written or built)."""
    return graph == seed_graph()


def default_parameters(graph: Graph) -> tuple[str, ...]:
    """The inputs that are trained unless told otherwise: W1, W2, B for the seed (x and y are
    its data), every input for any other graph."""
    return SEED_PARAMETERS if is_seed(graph) else tuple(graph.inputs)
