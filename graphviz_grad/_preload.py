"""Imported once by the server's fork server (`graphviz_grad.jobs.PRELOAD`): SymPy loaded and the
seed calculated, so that every worker forked from it starts with the caches filled, after a
restart too.

>>> import graphviz_grad._preload as preload
>>> preload.READY
True
"""

from __future__ import annotations

from . import service

try:
    service.respond("calculate", {})
    READY = True
except Exception:  # a fork server must start whatever happens; the workers warm up on their own then
    READY = False
