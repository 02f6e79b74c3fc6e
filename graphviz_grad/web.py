"""The local web server behind ``graphviz-grad serve``: one page, its script and style, and a JSON API.

>>> sock = listen("127.0.0.1", 0)  # port 0: any free port
>>> url_of(sock).startswith("http://127.0.0.1:")
True
>>> sock.close()

Starlette routes the requests and uvicorn speaks HTTP (with the connection limits of
`graphviz_grad.connections`); the work (the engine, the SymPy check and Graphviz) runs in three
self-healing pools of worker processes (`graphviz_grad.jobs`), one for calculations, one for
SymPy checks and one for pictures, so a slow check or render never holds up the engine's
numbers. Each worker has a memory bound
(``job_memory``: past it 422); a job that runs longer than ``timeout`` seconds has its process
killed and answers 503, and so does a request that waits longer than ``wait`` seconds for a
worker; a page with ``per_client`` jobs waiting or running gets 429, and so does an address
with ``per_address`` for all its clients together. The answers are those of
`graphviz_grad.service`; every error is JSON ``{"error": message, "field": name or null}``.
docs/serve.md lists every limit and status.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import service
from .connections import BACKLOG, Limits, max_connections, note, protocol, quiet_logs
from .errors import GraphvizGradError
from .jobs import FairTurns, PoolBroken, TooManyJobs, Workers
from .limits import JOB_MEMORY

HOST, PORT = "127.0.0.1", 8000
MAX_BODY = 64 * 1024
"""Bytes in a request: a formula of `service.MAX_FORMULA` characters and its values fit many times."""
TIMEOUT = 20.0
"""Seconds a job may run before its worker process is killed."""
WAIT = 30.0
"""Seconds a request may wait for a free worker."""
SLACK = 2.0
"""Seconds past ``TIMEOUT`` before a request stops waiting for pebble to stop its job."""
WORKERS = 2
"""Processes in each pool (calculations, pictures)."""
GRACE = 3
"""Seconds Ctrl+C waits for requests still running before it stops them."""
PER_CLIENT = 4
"""Jobs one client (a page, else a connection) may have waiting or running in each pool; more: 429."""
PER_ADDRESS = 64
"""Jobs all the clients at one network address may have waiting or running in each pool; more: 429.
(On the loopback every local page has the same address: this bounds what any one local program
can queue, forged sessions or not, while leaving room for many pages.)"""
CONNECTIONS = 512
"""Open connections at most (fewer when the file-descriptor limit is lower); see `connections`."""
HEAD_SECONDS = 10.0
"""Seconds a request's head may take to arrive (from the connection's start or its last answer)."""
BODY_SECONDS = 10.0
"""Seconds a request's body may take to arrive."""
KEEP_ALIVE = 5
"""Seconds a kept-alive connection may stay idle."""
MAX_HEAD = 16 * 1024
"""Bytes in a request's line and headers."""
SESSION_HEADER = "x-graphviz-grad-session"
"""The header by which the page names its session (for the per-client bound); else the connection counts."""
KINDS = ("calculate", "check", "render")
"""The pools: calculations (the engine, and SymPy when asked for in the same request), SymPy
checks (``/api/check``), pictures (Graphviz)."""
ASSETS = {"/": ("index.html", "text/html; charset=utf-8"),
          "/page.js": ("page.js", "text/javascript; charset=utf-8"),
          "/page.css": ("page.css", "text/css; charset=utf-8"),
          "/viewer.js": ("viewer.js", "text/javascript; charset=utf-8"),
          "/viewer.css": ("viewer.css", "text/css; charset=utf-8"),
          "/overview.js": ("overview.js", "text/javascript; charset=utf-8"),
          "/big": ("big.html", "text/html; charset=utf-8"),
          "/big.js": ("big.js", "text/javascript; charset=utf-8"),
          "/vendor/panzoom.min.js": ("vendor/panzoom.min.js", "text/javascript; charset=utf-8"),
          # the exercises: a page of their own (see graphviz_grad.exercise_service)
          "/exercise": ("exercise.html", "text/html; charset=utf-8"),
          "/exercise.js": ("exercise.js", "text/javascript; charset=utf-8"),
          "/exercise.css": ("exercise.css", "text/css; charset=utf-8")}
HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class ServeError(GraphvizGradError):
    """The server cannot start: the address is taken, the host unknown, a library missing."""


def error(status: int, message: str, field: str | None = None, *, retry: float | None = None) -> JSONResponse:
    """The JSON error answer ``{"error": message, "field": field}`` with the security headers (and
    ``Retry-After`` in whole seconds when ``retry`` is given)."""
    headers = HEADERS if retry is None else {**HEADERS, "Retry-After": str(max(1, math.ceil(retry)))}
    return JSONResponse({"error": message, "field": field}, status, headers=headers)


def _warm_up() -> None:
    """A worker's start: load SymPy and fill the caches with the seed, so that the first request
    from the page is as quick as the rest; then give the SymPy check its time budget."""
    service.respond("calculate", {})
    service.TIMED = True


def create_app(*, workers: int = WORKERS, timeout: float = TIMEOUT, wait: float = WAIT,
               hosts: Sequence[str] = ("*",), on_ready: Callable[[], None] | None = None,
               job_memory: int | None = JOB_MEMORY, per_client: int = PER_CLIENT,
               per_address: int | None = PER_ADDRESS,
               body_seconds: float = BODY_SECONDS, head_bytes: int = MAX_HEAD,
               job: Callable[[str, Mapping[str, Any]], service.Answer] = service.answer) -> Starlette:
    """The application: the page at ``/`` and the API under ``/api/``. ``hosts`` are the
    host names the server answers to (``*``: any), against DNS rebinding; ``job_memory`` is each
    worker's memory bound in bytes (None: none), ``per_client`` the jobs one client may have
    waiting or running in each pool, ``per_address`` the same for all the clients at one
    address (None: no such cap). ``job(endpoint, request)`` is what a worker runs for a
    checked request (`service.answer`; the tests put in one whose jobs take as long as they
    need): it is sent to the worker processes, so it must be picklable and importable there
    (a module-level function, or an instance of a module-level class)."""
    pools: dict[str, Workers] = {}
    turns = {kind: FairTurns(workers, per_client, per_address) for kind in KINDS}
    assets = {path: (files(__package__).joinpath("static", *name.split("/")).read_bytes(), kind)
              for path, (name, kind) in ASSETS.items()}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        quiet_logs()
        for kind in KINDS:
            pools[kind] = Workers(kind, workers, memory=job_memory, warm_up=_warm_up)
        # the workers start and load SymPy before the page is offered
        await asyncio.gather(*(pool.start() for pool in pools.values()))
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            await asyncio.gather(*(pool.stop() for pool in pools.values()))

    async def page(request: Request) -> Response:
        refusal = _refusal(request, hosts, head_bytes)
        if refusal is not None:
            return refusal
        body, kind = assets[request.url.path]
        return Response(body, media_type=kind, headers=HEADERS)

    async def health(request: Request) -> Response:
        state = {kind: {**pool.state(), **turns[kind].state()} for kind, pool in pools.items()}
        ok = bool(state) and all(pool["ok"] for pool in state.values())
        return JSONResponse({"ok": ok, "pools": state}, 200 if ok else 503, headers=HEADERS)

    async def api(request: Request) -> Response:
        refusal = _refusal(request, hosts, head_bytes)
        if refusal is not None:
            return refusal
        endpoint = request.path_params["endpoint"]
        if endpoint not in service.ENDPOINTS and endpoint != "health":
            return error(404, f"no such endpoint: /api/{endpoint} (endpoints: "
                         + ", ".join(f"/api/{name}" for name in [*service.ENDPOINTS, "health"]) + ")")
        method = "GET" if endpoint in ("seed", "health") else "POST"
        if request.method != method:
            return error(405, f"/api/{endpoint} takes {method}, not {request.method}")
        if endpoint == "health":
            return await health(request)
        body = None if method == "GET" else await _json_body(request, body_seconds)
        if isinstance(body, Response):
            return body
        try:  # checked here, so a worker only ever gets plain numbers and text
            clean = service.read(endpoint, body)
        except service.RequestError as failure:
            return error(400, str(failure), failure.field)
        except GraphvizGradError as failure:
            return error(400, str(failure))
        if endpoint in ("seed", "formula"):  # parsing only: quick enough to answer here
            status, data = service.answer(endpoint, clean)
            return JSONResponse(data, status, headers=HEADERS)
        return await _job(request, endpoint, clean)

    async def _job(request: Request, endpoint: str, clean: dict[str, Any]) -> Response:
        kind = ("render" if endpoint in ("graph", "exercise", "descend", "overview") else
                "check" if endpoint == "check" else "calculate")
        key, address = _client_key(request)
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            # Jobs wait here for their turn, not in pebble's pipe: a job handed to pebble and
            # then cancelled costs a worker process, a request dropped while it waits costs nothing.
            turn = asyncio.ensure_future(turns[kind].acquire(key, address))
            done, _ = await asyncio.wait({turn, gone}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if turn not in done:
                turn.cancel()  # (a turn given just now is handed back by `acquire`)
                if gone in done:
                    return _gone(request)
                return error(503, f"the server is busy: no {kind} worker was free for {wait:g} s; try again",
                             retry=wait)
            if isinstance(turn.exception(), TooManyJobs):
                return error(429, f"too many {kind} jobs at once: {turn.exception()}; "
                             "wait for an answer before asking again", retry=1)
            started = time.monotonic()
            task = asyncio.ensure_future(pools[kind].run(job, (endpoint, clean), timeout))
            task.add_done_callback(lambda _: turns[kind].release(key, time.monotonic() - started))
            task.add_done_callback(_quietly)
            done, _ = await asyncio.wait({task, gone}, timeout=2 * timeout + SLACK,
                                         return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # Ctrl+C, and the grace period is over
            return error(503, "the server is stopping")
        finally:
            gone.cancel()
        if task not in done:
            if gone in done:  # the page moved on: the job ends on its own, within its time limit
                return _gone(request)
            task.cancel()
            return _too_slow(endpoint, timeout)
        try:
            status, data = task.result()
        except TimeoutError:  # pebble stopped the job at its time limit
            return _too_slow(endpoint, timeout)
        except MemoryError:  # (service.answer turns most of these into a 422 itself)
            return error(422, service.memory_message(endpoint), service.FORMULA)
        except PoolBroken as lost:
            return error(503, f"{lost}: try again", retry=1)
        except GraphvizGradError as failure:  # Graphviz missing or failing on the server's side
            return error(503, str(failure))
        return JSONResponse(data, status, headers=HEADERS)

    async def http_error(request: Request, failure: Exception) -> Response:
        assert isinstance(failure, HTTPException)
        return error(failure.status_code, f"{failure.detail}: {request.method} {request.url.path}")

    async def internal_error(request: Request, failure: Exception) -> Response:
        return error(500, f"internal error: {type(failure).__name__}: {failure}")

    routes = [Route(path, page, methods=["GET"]) for path in ASSETS]
    routes += [Route("/api/{endpoint}", api, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, Exception: internal_error})
    app.router.redirect_slashes = False  # /api/calculate/ is not found, rather than redirected
    return app


def _too_slow(endpoint: str, timeout: float) -> Response:
    return error(503, f"the {endpoint} job took longer than {timeout:g} s and was stopped: "
                 "try a smaller formula")


def _gone(request: Request) -> Response:
    client = request.client
    note("disconnect", f"{client.host if client else 'a client'} closed the connection before the answer "
         f"to {request.method} {request.url.path}")
    return error(499, "the client closed the connection")


def _refusal(request: Request, hosts: Sequence[str], head_bytes: int) -> Response | None:
    """An error answer for a request head that is too large or names another host, else None."""
    size = len(request.scope.get("raw_path", b"")) + len(request.scope.get("query_string", b"")) + sum(
        len(name) + len(value) + 4 for name, value in request.scope["headers"])
    if size > head_bytes:
        return error(431, f"the request head has {size:,} bytes, over the limit of {head_bytes:,}")
    if not _host_allowed(request, hosts):
        return error(400, "this server answers to its own address only (127.0.0.1 or localhost)")
    return None


def _client_key(request: Request) -> tuple[str, str]:
    """Whose job it is, and from which address: the page's session (a header the page sends) at
    the client's address, else the connection. The address is part of the key, so a session
    name copied from another machine's page is another client; a missing or malformed header
    counts the connection, and the per-address cap and turns bound what many connections or
    made-up sessions from one address can take."""
    client = request.client
    address = client.host if client else "?"
    session = request.headers.get(SESSION_HEADER, "")
    if 8 <= len(session) <= 64 and session.replace("-", "").isalnum() and session.isascii():
        return f"{address} session {session}", address
    return f"{address} connection {client.port if client else '?'}", address


def _quietly(answer: asyncio.Future[Any]) -> None:
    """Collect the outcome of a job nobody waits for any more (its client left)."""
    if not answer.cancelled():
        answer.exception()


async def _disconnected(request: Request) -> None:
    """Return when the client closes the connection (its body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _host_allowed(request: Request, hosts: Sequence[str]) -> bool:
    """Whether the Host header names one of ``hosts`` (``*``: any), the port left out."""
    if "*" in hosts:
        return True
    try:
        return urlsplit("//" + request.headers.get("host", "")).hostname in hosts
    except ValueError:  # a malformed Host, such as "[::1"
        return False


async def _json_body(request: Request, seconds: float = BODY_SECONDS) -> Any:
    """The request's JSON (None for an empty body), or an error response: 415 when it is not sent
    as JSON (a form or a text/plain post from another web site), 413 when it is over `MAX_BODY`
    bytes, 408 when it takes longer than ``seconds`` to arrive, 400 when it is not valid JSON (a
    repeated key, NaN and Infinity included) or is JSON ``null``."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/json":
        return error(415, f"the request must be sent as application/json, not {kind or 'no content type'}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return error(413, f"the request has {int(declared):,} bytes, over the limit of {MAX_BODY:,}")
    data = bytearray()
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                data += chunk
                if len(data) > MAX_BODY:
                    return error(413, f"the request is over the limit of {MAX_BODY:,} bytes")
    except TimeoutError:
        return error(408, f"the request body did not arrive within {seconds:g} s")
    except ClientDisconnect:
        return _gone(request)
    if not data.strip():
        return None
    try:
        body = json.loads(data.decode("utf-8"), parse_constant=_no_constant, object_pairs_hook=_no_repeats)
    except (UnicodeDecodeError, ValueError) as failure:
        return error(400, f"the request is not valid JSON: {failure}")
    except RecursionError:
        return error(400, "the request is not valid JSON: it is nested too deeply")
    if body is None:  # like any other JSON that is not an object (an empty body means {})
        return error(400, "the request must be a JSON object, not null")
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"the key {repeated[:40]!r} appears twice in one object")
    return dict(pairs)


def listen(host: str = HOST, port: int = PORT) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: any free port), or a `ServeError` that says why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError, OverflowError) as failure:
        raise ServeError(f"cannot listen on {host!r}: {failure}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as failure:
        sock.close()
        hint = " (another program uses it: try another --port, or --port 0 for any free port)" \
            if failure.errno == 98 else ""
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise ServeError(f"cannot listen on {where}: {failure.strerror or failure}{hint}") from None
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    """Whether an address reaches this machine only (127.0.0.0/8, ::1, or IPv4 ones in IPv6)."""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def allowed_hosts(host: str) -> list[str]:
    """The Host names to answer to when listening on ``host``: on a loopback address only this
    machine's names (against DNS rebinding), else any."""
    return ["127.0.0.1", "localhost", "::1", host.lower()] if is_loopback(host) else ["*"]


def url_of(sock: socket.socket) -> str:
    """The page's address for a listening socket."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def server_config(app: Starlette, *, connections: int = CONNECTIONS, head_seconds: float = HEAD_SECONDS,
                  head_bytes: int = MAX_HEAD, log_level: str = "warning") -> Any:
    """uvicorn's settings for ``app`` with the connection limits (`graphviz_grad.connections`)."""
    import uvicorn

    limits = Limits(max_connections(connections), head_seconds, head_bytes,
                    tuple((name.lower().encode(), value.encode()) for name, value in HEADERS.items()))
    return uvicorn.Config(app, http=protocol(limits), ws="none", log_level=log_level, lifespan="on",
                          backlog=BACKLOG,
                          timeout_keep_alive=KEEP_ALIVE, h11_max_incomplete_event_size=head_bytes,
                          server_header=False, timeout_graceful_shutdown=GRACE)


def serve(sock: socket.socket, *, open_browser: bool = False, job_memory: int | None = JOB_MEMORY,
          announce: Callable[[str], None] = print) -> None:
    """Run the server on a socket from `listen` until interrupted (Ctrl+C); ``announce`` gets the
    page's address once the workers are ready; ``job_memory`` bounds each worker (bytes)."""
    import uvicorn

    address = url_of(sock)
    host = sock.getsockname()[0]

    def ready() -> None:
        announce(f"graphviz-grad: the calculator is at {address} (Ctrl+C to stop)")
        if open_browser:  # in a thread: a console browser would otherwise hold up the server
            import threading
            import webbrowser

            threading.Thread(target=webbrowser.open, args=(address,), daemon=True).start()

    app = create_app(hosts=allowed_hosts(host), on_ready=ready, job_memory=job_memory)
    uvicorn.Server(server_config(app)).run(sockets=[sock])
