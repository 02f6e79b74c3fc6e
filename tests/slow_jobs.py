"""Jobs that take exactly as long as a server test needs, whatever the speed of the SymPy check.

>>> from graphviz_grad import service
>>> HeldJobs()("calculate", service.read("calculate", {}))[1]["loss"]
4.0

`HeldJobs` is given to ``web.create_app(job=...)``: its workers answer every request as the
server does (`graphviz_grad.service.answer`), except a calculation of `SLOW` (or a request of
`SLOW` to another of its ``endpoints``), which first waits
until its gate (a file named after the value of ``x``, in ``gates``) exists; with no gates it
waits until its worker is killed at the job's time limit. With gates, each calculation is
logged as it starts (`started`). It is pickled and sent to the
workers, which import this module (the fork server gets the test process's ``sys.path``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphviz_grad import service

SLOW = "L = sqrt(1 + x)"
"""The formula whose calculations are held."""
FOREVER = 3600.0
"""Seconds a held job waits at most (a test's time limit stops it long before)."""


def gate(gates: Path, x: float) -> Path:
    """The file that lets the held calculation at ``x`` go on."""
    return gates / f"go-{x:g}"


def started(gates: Path) -> list[str]:
    """The calculations the workers started, in order: ``slow X`` for `SLOW` at ``x = X``, else ``other``."""
    log = gates / "started"
    return log.read_text().split("\n")[:-1] if log.exists() else []


@dataclass(frozen=True)
class HeldJobs:
    """`service.answer`, with calculations of `SLOW` held at their gate (see the module's notes)."""

    gates: str | None = None
    endpoints: tuple[str, ...] = ("calculate",)

    def __call__(self, endpoint: str, request: Mapping[str, Any]) -> service.Answer:
        folder = Path(self.gates) if self.gates else None
        held = endpoint in self.endpoints and request.get(service.FORMULA) == SLOW
        x = request[service.VALUES]["x"] if held else None
        if folder is not None and endpoint == "calculate":
            with open(folder / "started", "a") as log:  # one short append: whole lines, in order
                log.write(f"slow {x:g}\n" if held else "other\n")
        if held:
            deadline = time.monotonic() + FOREVER
            while time.monotonic() < deadline and not (folder is not None and gate(folder, x).exists()):
                time.sleep(0.02)
        return service.answer(endpoint, request)
