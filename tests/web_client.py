"""A small HTTP client for the server tests (the standard library's http.client), and a way to run
an application with uvicorn in a thread of the test process."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Answer:
    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")

    def json(self):
        return json.loads(self.content)


class Client:
    """Requests to one server, each on a new connection, or on one kept-alive connection per thread."""

    def __init__(self, url: str, host: str | None = None, timeout: float = 60):
        parts = urlsplit(url)
        self.address = (parts.hostname, parts.port)
        self.host = host
        self.timeout = timeout
        self.local = threading.local()

    def _connection(self, keep: bool) -> http.client.HTTPConnection:
        if keep and getattr(self.local, "connection", None) is not None:
            return self.local.connection
        connection = http.client.HTTPConnection(*self.address, timeout=self.timeout)
        if keep:
            self.local.connection = connection
        return connection

    def request(self, method: str, path: str, *, json_body=None, content: bytes | Iterable[bytes] | None = None,
                keep: bool = False, content_type: str | None = "application/json") -> Answer:
        headers = {"Host": self.host} if self.host else {}
        if json_body is not None:
            content = json.dumps(json_body).encode()
        if method == "POST" and content_type:
            headers["Content-Type"] = content_type
        connection = self._connection(keep)
        try:
            if content is not None and not isinstance(content, bytes):
                connection.request(method, path, body=content, headers=headers, encode_chunked=True)
            else:
                connection.request(method, path, body=content, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except Exception:
            connection.close()
            self.local.connection = None
            raise
        if not keep:
            connection.close()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)

    def close(self) -> None:
        """Close this thread's kept-alive connection."""
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.close()
            self.local.connection = None

    def get(self, path: str, **options) -> Answer:
        return self.request("GET", path, **options)

    def head(self, path: str) -> Answer:
        return self.request("HEAD", path)

    def post(self, path: str, json=None, content=None, **options) -> Answer:
        return self.request("POST", path, json_body=json, content=content, **options)

    def delete(self, path: str) -> Answer:
        return self.request("DELETE", path)


@contextlib.contextmanager
def running(app, timeout: float = 60, **limits) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 in a thread, with the server's connection
    limits (``limits``: options of `graphviz_grad.web.server_config`); yields the base URL."""
    import uvicorn

    from graphviz_grad.web import listen, server_config, url_of

    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(server_config(app, **limits))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
