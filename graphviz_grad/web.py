"""The local web server behind ``graphviz-grad serve``: one page, its script and style, and a JSON API.

>>> sock = listen("127.0.0.1", 0)  # port 0: any free port
>>> url_of(sock).startswith("http://127.0.0.1:")
True
>>> sock.close()

Starlette routes the requests and uvicorn speaks HTTP; the work (the engine, the SymPy check
and Graphviz) runs in two pools of worker processes from ``pebble``, one for calculations and
one for pictures, so a slow render never holds up a calculation. A job that runs longer than
``timeout`` seconds has its process killed and answers 503; a request that waits longer than
``wait`` seconds for a free worker answers 503 too. The answers are those of
`graphviz_grad.service`; every error is JSON ``{"error": message, "field": name or null}``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import multiprocessing
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import TimeoutError as JobTimeout
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from pebble import ProcessExpired, ProcessPool
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import service
from .errors import GraphvizGradError

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
ASSETS = {"/": ("index.html", "text/html; charset=utf-8"),
          "/page.js": ("page.js", "text/javascript; charset=utf-8"),
          "/page.css": ("page.css", "text/css; charset=utf-8"),
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


def error(status: int, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status, headers=HEADERS)


def _warm_up() -> None:
    """A worker's start: load SymPy and fill the caches with the seed, so that the first request
    from the page is as quick as the rest; then give the SymPy check its time budget."""
    service.respond("calculate", {})
    service.TIMED = True


def create_app(*, workers: int = WORKERS, timeout: float = TIMEOUT, wait: float = WAIT,
               hosts: Sequence[str] = ("*",), on_ready: Callable[[], None] | None = None) -> Starlette:
    """The application: the page at ``/`` and the API under ``/api/``. ``hosts`` are the
    host names the server answers to (``*``: any), against DNS rebinding."""
    pools: dict[str, ProcessPool] = {}
    slots: dict[str, asyncio.Semaphore] = {}
    assets = {path: (files(__package__).joinpath("static", name).read_bytes(), kind)
              for path, (name, kind) in ASSETS.items()}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        context = multiprocessing.get_context("forkserver")  # no fork of a process that runs threads
        for name in ("calculate", "render"):
            pools[name] = ProcessPool(max_workers=workers, initializer=_warm_up, context=context)
            slots[name] = asyncio.Semaphore(workers)
        # the first jobs start the processes and load SymPy, before the page is offered
        await asyncio.gather(*(asyncio.wrap_future(pool.schedule(_warm_up)) for pool in pools.values()))
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            for pool in pools.values():
                pool.stop()
                pool.join()

    async def page(request: Request) -> Response:
        if not _host_allowed(request, hosts):
            return error(400, "this server answers to its own address only (127.0.0.1 or localhost)")
        body, kind = assets[request.url.path]
        return Response(body, media_type=kind, headers=HEADERS)

    async def api(request: Request) -> Response:
        if not _host_allowed(request, hosts):
            return error(400, "this server answers to its own address only (127.0.0.1 or localhost)")
        endpoint = request.path_params["endpoint"]
        if endpoint not in service.ENDPOINTS:
            return error(404, f"no such endpoint: /api/{endpoint} (endpoints: "
                         + ", ".join(f"/api/{name}" for name in service.ENDPOINTS) + ")")
        method = "GET" if endpoint == "seed" else "POST"
        if request.method != method:
            return error(405, f"/api/{endpoint} takes {method}, not {request.method}")
        body = None if method == "GET" else await _json_body(request)
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
        kind = "render" if endpoint in ("graph", "exercise") else "calculate"
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            # Jobs wait here, not in pebble's pipe: a job handed to pebble and then cancelled costs
            # a worker process, a request dropped while it waits for a slot costs nothing.
            slot = asyncio.ensure_future(slots[kind].acquire())
            done, _ = await asyncio.wait({slot, gone}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if slot not in done:
                slot.cancel()
                if slot.done() and not slot.cancelled():  # acquired just as it was given up
                    slots[kind].release()
                if gone in done:
                    return error(499, "the client closed the connection")
                return error(503, f"the server is busy: no {kind} worker was free for {wait:g} s; try again")
            job = pools[kind].schedule(service.answer, (endpoint, clean), timeout=timeout)
            answer = asyncio.ensure_future(asyncio.wrap_future(job))
            answer.add_done_callback(lambda _: slots[kind].release())  # when the job ends, not before
            answer.add_done_callback(_quietly)
            done, _ = await asyncio.wait({answer, gone}, timeout=timeout + SLACK,
                                         return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # Ctrl+C, and the grace period is over
            return error(503, "the server is stopping")
        finally:
            gone.cancel()
        if answer not in done:
            if gone in done:  # the page moved on: the job ends on its own, within its time limit
                return error(499, "the client closed the connection")
            job.cancel()
            return error(503, f"the {endpoint} job took longer than {timeout:g} s and was stopped: "
                         "try a smaller formula")
        try:
            status, data = answer.result()
        except JobTimeout:  # pebble stopped the job at its time limit
            return error(503, f"the {endpoint} job took longer than {timeout:g} s and was stopped: "
                         "try a smaller formula")
        except ProcessExpired as lost:
            return error(503, f"the {endpoint} job's worker stopped unexpectedly ({lost}): try again")
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


async def _json_body(request: Request) -> Any:
    """The request's JSON, or an error response: 415 when it is not sent as JSON (a form or a
    text/plain post from another web site), 413 when it is over `MAX_BODY` bytes, 400 when it
    is not valid JSON (a repeated key, NaN and Infinity included)."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/json":
        return error(415, f"the request must be sent as application/json, not {kind or 'no content type'}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return error(413, f"the request has {int(declared):,} bytes, over the limit of {MAX_BODY:,}")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            return error(413, f"the request is over the limit of {MAX_BODY:,} bytes")
    if not data.strip():
        return None
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant, object_pairs_hook=_no_repeats)
    except (UnicodeDecodeError, ValueError) as failure:
        return error(400, f"the request is not valid JSON: {failure}")
    except RecursionError:
        return error(400, "the request is not valid JSON: it is nested too deeply")


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
        sock.listen(128)
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


def serve(sock: socket.socket, *, open_browser: bool = False,
          announce: Callable[[str], None] = print) -> None:
    """Run the server on a socket from `listen` until interrupted (Ctrl+C); ``announce`` gets the
    page's address once the workers are ready."""
    import uvicorn

    address = url_of(sock)
    host = sock.getsockname()[0]

    def ready() -> None:
        announce(f"graphviz-grad: the calculator is at {address} (Ctrl+C to stop)")
        if open_browser:  # in a thread: a console browser would otherwise hold up the server
            import threading
            import webbrowser

            threading.Thread(target=webbrowser.open, args=(address,), daemon=True).start()

    app = create_app(hosts=allowed_hosts(host), on_ready=ready)
    config = uvicorn.Config(app, http="h11", log_level="warning", timeout_keep_alive=5, lifespan="on",
                            server_header=False, timeout_graceful_shutdown=GRACE)
    uvicorn.Server(config).run(sockets=[sock])
