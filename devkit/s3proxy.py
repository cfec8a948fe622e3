"""A failing proxy in front of an S3 endpoint (moto in the tests): forwards each request, or fails it.

``fail(kind, ratio)`` makes a share of requests fail (seeded); ``kind`` is one of ``"503"`` (SlowDown), ``"500"``
(InternalError), ``"403"`` (AccessDenied), ``"412"`` (PreconditionFailed), ``"409"`` (COS's FileAlreadyExists),
``"409-race"`` (S3's ConditionalRequestConflict), ``"trickle"`` (forwarded, then the answer's body a byte every
0.2 s), ``"reset"`` (the connection dropped before the request is
forwarded) or ``"lost"`` (forwarded and applied, then the connection dropped: the answer is lost).
``next(method, kind, path)`` fails just the next request of that method (and path), before any ratio. ``heal()``
stops failing. ``injected`` counts what was done; ``forwarded`` what reached the endpoint.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from devkit.localserver import LocalServer

_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "expect", "host"}
_CODES = {"503": "SlowDown", "500": "InternalError", "403": "AccessDenied", "412": "PreconditionFailed",
          "409": "FileAlreadyExists", "409-race": "ConditionalRequestConflict"}  # fmt: skip


class FailingProxy(LocalServer):
    """``start()``, ``url``, ``stop()``; ``fail(kind, ratio)`` and ``heal()`` switch the faults."""

    def __init__(self, upstream: str, seed: int = 11) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.kind: str | None = None
        self.ratio = 0.0
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self.scripted: list[tuple[str, str, str]] = []  # (method, kind, part of the path), used first
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    def fail(self, kind: str, ratio: float = 1.0) -> None:
        with self._lock:
            self.kind, self.ratio = kind, ratio

    def heal(self) -> None:
        self.fail("", 0.0)

    def next(self, method: str, kind: str, path: str = "") -> None:
        """Fail the next request of ``method`` whose path holds ``path`` with ``kind``."""
        with self._lock:
            self.scripted.append((method, kind, path))

    def _draw(self, method: str, path: str) -> str | None:
        with self._lock:
            for i, (wanted, kind, part) in enumerate(self.scripted):
                if wanted == method and part in path:
                    del self.scripted[i]
                    self.injected[kind] += 1
                    return kind
            if self.kind and self._rng.random() < self.ratio:
                self.injected[self.kind] += 1
                return self.kind
            return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.relay()

            do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

            def relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._draw(self.command, self.path)
                if fault == "reset":
                    return self.reset()
                if fault in _CODES:
                    return self.error(int(fault[:3]), _CODES[fault])
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                with proxy._lock:
                    proxy.forwarded += 1
                if fault == "lost":
                    return self.reset()
                if fault == "trickle":
                    return self.trickle(answer.status, data)
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def error(self, status: int, code: str) -> None:
                body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                        f"<Message>injected by the failing proxy</Message></Error>").encode()  # fmt: skip
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def trickle(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    for i in range(len(data)):
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                        time.sleep(0.2)
                except OSError:
                    pass  # the client gave up, as it should
                self.close_connection = True

            def reset(self) -> None:
                # RST, not FIN: the client sees a connection reset with no answer
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True

        return Handler
