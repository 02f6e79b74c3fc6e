"""Notebook widgets: the gradient calculator as live input boxes, a step viewer for the frames,
the HTML player embedded in a cell, and a picture with a text form.

The logic lives in plain methods (`CalculatorPanel.update`, `StepViewer.show`), so it runs and
is tested without a browser or a kernel; ipywidgets is imported only when a widget is built
(``pip install 'graphviz-grad[notebook]'``).

>>> panel = CalculatorPanel()            # the seed page at Example 1
>>> panel.update(W1="0.3").loss          # text as typed in a box
9.0
>>> panel.update(W1="abc").loss          # bad input: a message, and the last good result kept
9.0
>>> panel.message
"W1: the value 'abc' is not a number"
>>> import graphviz_grad as gg
>>> viewer = StepViewer(gg.grad("e = (a+b)*(b+1)", a=2, b=1))
>>> print(viewer.show(7).caption)
de/db = de/dz1 · ∂z1/∂b + de/dz2 · ∂z2/∂b = de/dz1 · 1 + de/dz2 · 1 = 2 · 1 + 3 · 1 = 5

Displayed in a notebook, the panel and the viewer are widgets when a kernel runs; their bundles
also carry a static SVG and a deterministic text form, so a saved notebook read where no kernel
runs (on GitHub) still shows the picture. The player needs JavaScript instead (see `Player`).
"""

from __future__ import annotations

from .widget_panel import CalculatorPanel
from .widget_player import VIEWER_CHROME, Player, StepViewer
from .widget_tools import PICTURE_TYPES, WIDGET_VIEW, Picture, alt_metadata, fit_height, parse_number

__all__ = ["PICTURE_TYPES", "VIEWER_CHROME", "WIDGET_VIEW", "CalculatorPanel", "Picture", "Player",
           "StepViewer", "alt_metadata", "fit_height", "parse_number"]
