"""Random expression trees over the whole op table, shared by the property tests.

A tree is an input name, a float constant, or ``(op, *subtrees)``; every op of the table can
appear, so a new row is tested by every test that draws trees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

import graphviz_grad as gg
from graphviz_grad.ops import OPS

NAMES = ("a", "b", "c")
UNARY = [name for name, op in OPS.items() if op.arity == 1]
BINARY = [name for name, op in OPS.items() if op.arity == 2]
CONSTANTS = (0.5, 2.0, 3.0, -1.5)


def trees(*, constants: Sequence[float] = CONSTANTS, max_leaves: int = 10) -> st.SearchStrategy[Any]:
    """Trees over `NAMES` and ``constants`` with at most ``max_leaves`` leaves."""
    leaves = st.one_of(st.sampled_from(NAMES), st.sampled_from(list(constants)))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.tuples(st.sampled_from(UNARY), inner),
                                st.tuples(st.sampled_from(BINARY), inner, inner)),
        max_leaves=max_leaves,
    )


def to_expr(tree: Any, leaves: Mapping[str, gg.Expr]) -> gg.Expr:
    """The builder expression of ``tree``, with ``leaves`` for the input names."""
    if isinstance(tree, str):
        return leaves[tree]
    if isinstance(tree, float):
        return gg.const(tree)
    op, *args = tree
    return gg.apply(op, *(to_expr(arg, leaves) for arg in args))
