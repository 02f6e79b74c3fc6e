"""Connection limits for the server: uvicorn's HTTP/1.1 protocol with the bounds it lacks.

>>> limits = Limits(connections=100, head_seconds=10.0, head_bytes=16_384)
>>> limits.connections <= max_connections(100)
True

uvicorn gives a keep-alive timeout and a bound on an unfinished request head
(``h11_max_incomplete_event_size``) but no time limit on reading a request's head, no bound on a
head that arrives whole, and no cap on open connections that keeps the process under its
file-descriptor limit. `GuardedH11` adds these:

- a request head must arrive within ``head_seconds`` of the connection opening (or of the
  previous answer on a kept-alive connection); else the connection is closed (with a JSON 408
  when part of a head had come);
- at most ``connections`` are open (fewer when the descriptor limit is lower); a new connection
  over the cap closes the connection that has waited longest without a request, or, when every
  connection has a request running, is itself closed at once;
- malformed HTTP gets a JSON 400 with the page's security headers, not plain text.

The body's time limit and the head's size are checked in `graphviz_grad.web`. `quiet_logs`
limits uvicorn's and asyncio's log lines to one per kind every ``seconds``, with a count of the
ones left out, so a flood of bad connections cannot fill a disk.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .errors import GraphvizGradError

BACKLOG = 256
"""Connections the kernel queues for the server, and the most asyncio accepts in one go (it uses
one number for both): the descriptor budget keeps room for a whole batch, so accepting never
runs out of descriptors (asyncio would then stop accepting for a second)."""
RESERVED_DESCRIPTORS = BACKLOG + 64
"""File descriptors kept free: a batch of accepts, the worker pools' pipes, logs and Graphviz."""
log = logging.getLogger("graphviz_grad.web")


@dataclass(frozen=True)
class Limits:
    connections: int
    head_seconds: float
    head_bytes: int
    headers: tuple[tuple[bytes, bytes], ...] = ()


def max_connections(wanted: int) -> int:
    """``wanted``, or fewer when the process's descriptor limit leaves less room."""
    try:
        import resource
    except ImportError:
        return wanted
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(8, min(wanted, soft - RESERVED_DESCRIPTORS))


def protocol(limits: Limits) -> type[H11Protocol]:
    """uvicorn's h11 protocol class bounded by ``limits`` (for ``uvicorn.Config(http=...)``);
    `UnsupportedUvicorn` when uvicorn's protocol lacks what `GuardedH11` builds on."""
    check_uvicorn()
    return type("GuardedH11", (GuardedH11,), {"limits": limits, "waiting": {}})


class UnsupportedUvicorn(GraphvizGradError):
    """The installed uvicorn's h11 protocol is not the one `GuardedH11` extends."""


NEEDED = {
    # method of uvicorn's H11Protocol: names it must use (attributes GuardedH11 reads or replaces)
    "__init__": ("conn", "cycle", "connections", "transport", "loop"),
    "handle_events": ("next_event", "send_400_response", "on_response_complete", "cycle"),
    "connection_made": ("connections", "transport"),
    "connection_lost": ("cycle",),
    "data_received": ("conn",),
    "on_response_complete": ("transport",),
}


def check_uvicorn() -> None:
    """Make sure uvicorn's h11 protocol is still built the way `GuardedH11` expects: these are
    uvicorn's internals, and a changed one would silently drop a bound (a head timeout, the
    connection cap, the JSON 400). Raises `UnsupportedUvicorn` naming what is missing.

    >>> check_uvicorn()
    """
    import uvicorn
    from uvicorn.protocols.http.h11_impl import RequestResponseCycle

    missing = []
    for method, names in NEEDED.items():
        code = getattr(getattr(H11Protocol, method, None), "__code__", None)
        used = set(code.co_names) if code is not None else set()
        missing += [f"H11Protocol.{method} ({name})" for name in names if name not in used]
    if "response_complete" not in RequestResponseCycle.__init__.__code__.co_names:
        missing.append("RequestResponseCycle.response_complete")
    if missing:
        raise UnsupportedUvicorn(
            f"uvicorn {uvicorn.__version__} is not supported by graphviz-grad serve (its connection limits "
            f"build on uvicorn's h11 protocol; changed: {', '.join(missing)}): "
            "pip install 'uvicorn>=0.29,<1'")


class GuardedH11(H11Protocol):
    """See the module's notes."""

    limits: Limits
    waiting: dict[GuardedH11, None]
    """The connections waiting for a request head, longest waiting first (a dict keeps order)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.conn = _Recording(h11.SERVER, self.limits.head_bytes)

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_bytes = 0
        self.head_timer: Any = None
        if len(self.connections) > self.limits.connections:
            if self.waiting:
                oldest = next(iter(self.waiting))
                self.waiting.pop(oldest)
                oldest.transport.close()
            else:
                note("connections", f"over {self.limits.connections} connections, all busy: "
                     "closing new ones")
                self.transport.close()
                return
        self.arm_head_timer()

    def idle(self) -> bool:
        """Waiting for a request head (none started, or the last one answered)."""
        return (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing()

    def arm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
        self.head_bytes = 0
        self.head_timer = self.loop.call_later(self.limits.head_seconds, self.head_timeout)
        self.waiting.pop(self, None)
        self.waiting[self] = None

    def head_timeout(self) -> None:
        self.head_timer = None
        self.waiting.pop(self, None)
        if not self.idle():
            return
        if self.head_bytes:
            self.send_json(408, f"the request head did not arrive within {self.limits.head_seconds:g} s")
        else:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        if self.idle():
            self.head_bytes += len(data)
        super().data_received(data)
        if self.cycle is not None and self.cycle is not before:
            self.waiting.pop(self, None)
            if self.head_timer is not None:
                self.head_timer.cancel()  # a whole head arrived: the request's own limits apply now
                self.head_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()  # (starts the next pipelined request, if one was sent)
        if self.idle():
            self.arm_head_timer()
        else:  # closing, or busy with a pipelined request: not waiting for a head
            self.waiting.pop(self, None)
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.waiting.pop(self, None)
        if getattr(self, "head_timer", None) is not None:
            self.head_timer.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        why = getattr(self.conn, "last_error", "") or msg.rstrip(".")
        note("malformed", f"a malformed HTTP request answered 400: {why[:200]}")
        if getattr(self.conn, "last_status", 400) == 431:  # h11's bound on an unfinished head
            self.send_json(431, f"the request head is over the limit of {self.limits.head_bytes:,} bytes")
        else:
            self.send_json(400, f"the request is not valid HTTP/1.1: {why}")

    def send_json(self, status: int, message: str) -> None:
        """An error answer the way `graphviz_grad.web` writes them, then close (written as bytes:
        h11 would refuse to answer a request whose head never arrived)."""
        body = json.dumps({"error": message, "field": None}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close"), *self.limits.headers]
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
        lines += [name + b": " + value for name, value in headers]
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self.transport.close()


class _Recording(h11.Connection):
    """h11's connection, keeping the reason of the last malformed request for the answer."""

    last_error = ""
    last_status = 400

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as error:
            self.last_error = str(error)
            self.last_status = error.error_status_hint
            raise


_last: dict[str, tuple[float, int]] = {}
QUIET_SECONDS = 10.0


def note(kind: str, message: str) -> None:
    """Log ``message`` at most once per `QUIET_SECONDS` for each ``kind``, with the count left out."""
    now = time.monotonic()
    last, left_out = _last.get(kind, (-QUIET_SECONDS, 0))
    if now - last < QUIET_SECONDS:
        _last[kind] = (last, left_out + 1)
        return
    _last[kind] = (now, 0)
    suffix = f" ({left_out} more since the last note)" if left_out else ""
    log.warning("%s%s", message, suffix, extra={NOTED: True})


NOTED = "graphviz_grad_noted"
"""Marks a log record `note` has rate-limited already (`QuietLogs` lets it through as it is)."""
UVICORN_MALFORMED = "Invalid HTTP request received."
"""uvicorn's own line for a malformed request, left out: `GuardedH11` notes it with the reason."""


class QuietLogs(logging.Filter):
    """A logging filter: each message (by its first 60 characters) at most once per `QUIET_SECONDS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, NOTED, False):
            return True
        if record.name == "uvicorn.error" and record.msg == UVICORN_MALFORMED:
            return False
        # our own lines by their text (one per pool, say), the libraries' by their format
        text = record.getMessage() if record.name == log.name else str(record.msg)
        key = f"{record.name}:{text[:60]}"
        now = time.monotonic()
        last, left_out = _last.get(key, (-QUIET_SECONDS, 0))
        if now - last < QUIET_SECONDS:
            _last[key] = (last, left_out + 1)
            return False
        _last[key] = (now, 0)
        if left_out:
            record.msg = f"{record.msg} ({left_out} more since the last note)"
        if record.name == "asyncio":  # out of descriptors in accept(): one line, no traceback
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_logs() -> None:
    """Rate-limit the server's own and its libraries' log lines (installed once per process)."""
    for name in ("uvicorn.error", "asyncio", "graphviz_grad.web"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, QuietLogs) for existing in logger.filters):
            logger.addFilter(QuietLogs())
