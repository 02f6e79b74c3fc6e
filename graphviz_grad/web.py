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
import json
import multiprocessing
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import TimeoutError as JobTimeout
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from pebble import ProcessExpired, ProcessPool
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
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
WORKERS = 2
"""Processes in each pool (calculations, pictures)."""
ASSETS = {"/": ("index.html", "text/html; charset=utf-8"),
          "/page.js": ("page.js", "text/javascript; charset=utf-8"),
          "/page.css": ("page.css", "text/css; charset=utf-8")}
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
    """A worker's first job: load SymPy and fill the caches with the seed, so that the first
    request from the page is as quick as the rest."""
    service.respond("calculate", {})


def create_app(*, workers: int = WORKERS, timeout: float = TIMEOUT, wait: float = WAIT,
               hosts: Sequence[str] = ("*",), on_ready: Callable[[], None] | None = None) -> Starlette:
    """The application: the page at ``/`` and the API under ``/api/``. ``hosts`` are the
    host names the server answers to (``*``: any), against DNS rebinding."""
    pools: dict[str, ProcessPool] = {}
    assets = {path: (files(__package__).joinpath("static", name).read_bytes(), kind)
              for path, (name, kind) in ASSETS.items()}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        context = multiprocessing.get_context("forkserver")  # no fork of a process that runs threads
        for name in ("calculate", "render"):
            pools[name] = ProcessPool(max_workers=workers, initializer=_warm_up, context=context)
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
        body, kind = assets[request.url.path]
        return Response(body, media_type=kind, headers=HEADERS)

    async def api(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        if endpoint not in service.ENDPOINTS:
            return error(404, f"no such endpoint: /api/{endpoint} (endpoints: "
                         + ", ".join(f"/api/{name}" for name in service.ENDPOINTS) + ")")
        if request.method == "GET":
            body = None
        else:
            body = await _json_body(request)
            if isinstance(body, Response):
                return body
        if endpoint in ("seed", "formula"):  # parsing only: quick enough to answer here
            status, data = service.respond(endpoint, body)
            return JSONResponse(data, status, headers=HEADERS)
        pool = pools["render" if endpoint == "graph" else "calculate"]
        job = pool.schedule(service.respond, (endpoint, body), timeout=timeout)
        try:
            status, data = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job)), wait + timeout)
        except JobTimeout:  # the job ran too long (pebble killed it), or never got a worker
            queued = not (job.running() or job.done())
            job.cancel()
            if queued:
                return error(503, f"the server is busy: no worker was free for {wait + timeout:g} s; "
                             "try again")
            return error(503, f"the {endpoint} job took longer than {timeout:g} s and was stopped: "
                         "try a smaller formula")
        except ProcessExpired as gone:
            return error(503, f"the {endpoint} job's worker stopped unexpectedly ({gone}): try again")
        except GraphvizGradError as failure:  # Graphviz missing or failing on the server's side
            return error(503, str(failure))
        return JSONResponse(data, status, headers=HEADERS)

    async def http_error(request: Request, failure: Exception) -> Response:
        assert isinstance(failure, HTTPException)
        return error(failure.status_code, f"{failure.detail}: {request.method} {request.url.path}")

    async def internal_error(request: Request, failure: Exception) -> Response:
        return error(500, f"internal error: {type(failure).__name__}: {failure}")

    routes = [Route(path, page, methods=["GET"]) for path in ASSETS]
    routes += [Route("/api/{endpoint}", api, methods=["GET", "POST"])]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                     exception_handlers={HTTPException: http_error, Exception: internal_error})


async def _json_body(request: Request) -> Any:
    """The request's JSON, or an error response: 413 when it is over `MAX_BODY` bytes, 400 when
    it is not JSON."""
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
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as failure:
        return error(400, f"the request is not valid JSON: {failure}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


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
        raise ServeError(f"cannot listen on {host}:{port}: {failure.strerror or failure}{hint}") from None
    sock.set_inheritable(True)
    return sock


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
        if open_browser:
            import webbrowser

            webbrowser.open(address)

    hosts = ["127.0.0.1", "localhost"] if host == "127.0.0.1" else ["*"]
    app = create_app(hosts=hosts, on_ready=ready)
    config = uvicorn.Config(app, log_level="warning", timeout_keep_alive=5, lifespan="on",
                            server_header=False)
    uvicorn.Server(config).run(sockets=[sock])
