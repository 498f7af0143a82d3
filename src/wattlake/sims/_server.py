"""A tiny threaded HTTP server on loopback that the stand-ins share (stdlib only)."""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes
    client: str


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    truncate: bool = False  # promise the whole body, send half, hang up (a cut connection)


class Faults:
    """A stand-in's queue of injected faults (``fail_next``): each request takes the next one."""

    def __init__(self, known: tuple[str, ...]) -> None:
        self.known = known
        self._queue: list[str] = []
        self._lock = threading.Lock()

    def add(self, *kinds: str) -> None:
        unknown = [k for k in kinds if k not in self.known]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; use {self.known}")
        with self._lock:
            self._queue.extend(kinds)

    def take(self) -> str | None:
        """The next fault, or None when there is none."""
        with self._lock:
            return self._queue.pop(0) if self._queue else None


class Serving:
    """What every stand-in offers around its ``start()``/``stop()``: ``with sim:`` and
    serving until Ctrl-C."""

    def start(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_until_interrupted(self) -> None:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()


class SimServer(Serving):
    """Subclasses implement ``handle(request) -> Reply``; ``start()`` returns the root URL.
    ``tls``: serve HTTPS with this server-side context (client certificates if it requires them)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.host, self.port, self.tls = host, port, tls
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handle(self, request: Request) -> Reply:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def root_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> str:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(
                    self.command, url.path, params,
                    {k.lower(): v for k, v in self.headers.items()}, body, self.client_address[0],
                )  # fmt: skip
                try:
                    reply = sim.handle(req)
                except Exception as exc:  # a stand-in bug shows as a 500 with the reason
                    reply = Reply(500, f"stand-in error: {type(exc).__name__}: {exc}".encode())
                self.send_response(reply.status)
                headers = {"Content-Type": "text/plain", **reply.headers}
                headers["Content-Length"] = str(len(reply.body))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if reply.truncate:
                    self.wfile.write(reply.body[: len(reply.body) // 2])
                    self.close_connection = True
                else:
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:  # e.g. mutual TLS: a context with CERT_REQUIRED
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        server = self._server
        self._thread = threading.Thread(target=lambda: server.serve_forever(0.05), daemon=True)
        self._thread.start()
        return self.root_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
