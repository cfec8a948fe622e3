"""Local servers on loopback, each served from a daemon thread: the emulators, the webhook receiver, the failing S3
proxy, and the plain servers tests and tools start around a handler (or moto's app)."""

from __future__ import annotations

import socketserver
import threading
from typing import Any, TypeVar

Self = TypeVar("Self", bound="LocalServer")


class LocalServer:
    """Serves ``self._server`` (made by the subclass) from a daemon thread: ``url``, ``start()``, ``stop()``, and
    ``with`` for both. ``_path`` ends the URL; ``_poll`` is how often the serving loop looks for a stop."""

    _server: Any  # a socketserver server, or werkzeug's (moto), which has the same serve_forever and shutdown
    _path = ""
    _poll = 0.1
    _thread_name: str | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self._path}"

    def start(self: Self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(self._poll,), name=self._thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self: Self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Serving(LocalServer):
    """Any server made elsewhere: ``with Serving(server) as served: ... served.url``."""

    def __init__(self, server: socketserver.BaseServer | Any, path: str = "", poll: float = 0.1) -> None:
        self._server, self._path, self._poll = server, path, poll
