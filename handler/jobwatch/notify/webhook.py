"""Webhook POSTs that connect only to the address the guard checked, follow no redirect, read little, and end in
bounded time.

Each connection dials the checked IP while the Host header, TLS SNI and certificate check use the URL's host name
(no second DNS lookup, no rebinding window). Socket timeouts only bound each read, so a receiver that trickles a byte
at a time could hold a sweep for hours: every attempt also has a total deadline (connect + send + answer), enforced by
a watchdog that shuts the socket down when it passes.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from ..backoff import retry_after_seconds
from ..deadline import Deadline
from ..errors import InvalidInputError
from .guard import AddressGuard, Target

MAX_RESPONSE_BYTES = 64 * 1024
IDLE_PER_TARGET = 4
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True)
class AttemptResult:
    """One delivery attempt to one target."""

    ok: bool
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    disable: bool = False  # 410 Gone: the receiver asks us to stop


def classify(status: int, retry_after: float | None) -> AttemptResult:
    """2xx succeeds; 410 disables the target; 429 and Retry-After slow down; everything else fails."""
    if 200 <= status < 300:
        return AttemptResult(True, status)
    if status == 410:
        return AttemptResult(False, status, "410 Gone: target disabled", disable=True)
    if 300 <= status < 400:
        return AttemptResult(False, status, f"{status}: redirects are not followed", retry_after)
    return AttemptResult(False, status, f"HTTP {status}", retry_after)


class _Pinned(http.client.HTTPConnection):
    """An HTTP connection to a fixed address, whatever its host name resolves to; abortable from another thread."""

    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext | None) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address
        self.context = context
        self.raw: socket.socket | None = None
        self.aborted = False

    def connect(self) -> None:
        self.raw = socket.create_connection((self.address, self.port), self.timeout)
        if self.aborted:
            raise TimeoutError("the attempt's deadline passed while connecting")
        self.raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # server_hostname drives SNI and, with check_hostname, the certificate's name check
        self.sock = self.context.wrap_socket(self.raw, server_hostname=self.host) if self.context else self.raw

    def abort(self) -> None:
        self.aborted = True
        for sock in (self.sock, self.raw):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class WebhookSender:
    """Sends signed bodies; keeps a few idle connections per checked address."""

    def __init__(
        self,
        guard: AddressGuard,
        *,
        timeout: float = 15.0,
        connect_timeout: float = 5.0,
        total_timeout: float = 20.0,
        ca_certs: str | None = None,
    ) -> None:
        self.guard = guard
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.ca_certs = ca_certs
        self._context: ssl.SSLContext | None = None
        self._idle: dict[tuple[str, str, int, str], list[_Pinned]] = {}
        self._lock = threading.Lock()

    def _tls(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                if self.ca_certs is None:
                    import certifi  # the same CA bundle requests uses; loaded on the first https delivery

                    self.ca_certs = certifi.where()
                context = ssl.create_default_context(cafile=self.ca_certs)  # verifies the chain and the host name
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                self._context = context
            return self._context

    def _checkout(self, target: Target, *, fresh: bool = False) -> tuple[_Pinned, bool]:
        """An idle connection to ``target`` (reused: True) or a new one."""
        key = (target.scheme, target.address, target.port, target.host)
        with self._lock:
            idle = self._idle.get(key)
            if idle and not fresh:
                return idle.pop(), True
        context = self._tls() if target.scheme == "https" else None
        return _Pinned(target, self.connect_timeout, context), False

    def _checkin(self, target: Target, conn: _Pinned) -> None:
        key = (target.scheme, target.address, target.port, target.host)
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < IDLE_PER_TARGET:
                idle.append(conn)
                return
        conn.close()

    def send(self, url: str, body: bytes, headers: dict[str, str], deadline: Deadline) -> AttemptResult:
        """POST ``body`` to ``url``; the URL is checked again now, whatever it was at registration."""
        remaining = deadline.remaining()
        if remaining <= 0.5:
            return AttemptResult(False, None, "no time left in this invocation")
        budget = min(self.total_timeout, remaining - 0.25)
        started = time.monotonic()
        try:  # the name's resolution is part of the attempt: its time counts against the same budget
            target = self.guard.check(url, timeout=budget)
        except InvalidInputError as exc:
            return AttemptResult(False, None, f"refused: {exc.message}")
        budget -= time.monotonic() - started
        if budget <= 0.1:
            return AttemptResult(False, None, "no time left in this attempt after resolving the host")
        request_headers = {**headers, "Host": target.host_header, "User-Agent": "jobwatch/0.1",
                           "Content-Type": headers.get("Content-Type", "application/json")}  # fmt: skip
        conn, reused = self._checkout(target)
        result = self._attempt(target, conn, body, request_headers, budget, reused=reused)
        if result is None:  # an idle connection the receiver had closed meanwhile: once more on a new one
            conn, _ = self._checkout(target, fresh=True)
            result = self._attempt(target, conn, body, request_headers, budget, reused=False)
        return result or AttemptResult(False, None, "connection failed: the receiver closed the connection")

    def _attempt(
        self, target: Target, conn: _Pinned, body: bytes, headers: dict[str, str], budget: float, *, reused: bool
    ) -> AttemptResult | None:
        """One POST within ``budget`` seconds in all; None when a reused connection turned out to be closed."""
        watchdog = threading.Timer(budget, conn.abort)
        watchdog.daemon = True
        watchdog.start()
        keep = False
        try:
            conn.timeout = min(self.connect_timeout, budget)
            if conn.sock is not None:
                conn.sock.settimeout(min(self.timeout, budget))
            conn.request("POST", target.path, body=body, headers=headers)
            if conn.sock is not None:
                conn.sock.settimeout(min(self.timeout, budget))
            response = conn.getresponse()
            if conn.aborted:  # a shut-down socket reads as end of input: the status or headers may be cut short
                return AttemptResult(False, None, f"timed out: no complete answer within {budget:.1f} s")
            with contextlib.suppress(OSError, http.client.HTTPException):
                response.read(MAX_RESPONSE_BYTES)  # never trust or echo a receiver's body; its status is the answer
            keep = response.isclosed() and not response.will_close and not conn.aborted
            return classify(response.status, retry_after_seconds(response.getheader("Retry-After")))
        except ssl.SSLCertVerificationError as exc:
            return AttemptResult(False, None, f"TLS certificate refused: {exc.verify_message or exc.reason}")
        except ssl.SSLError as exc:
            return AttemptResult(False, None, f"TLS failed: {exc.reason or type(exc).__name__}")
        except ConnectionRefusedError:
            return AttemptResult(False, None, "connection failed: nothing accepted the connection")
        except (OSError, http.client.HTTPException) as exc:
            if conn.aborted:
                return AttemptResult(False, None, f"timed out: no complete answer within {budget:.1f} s")
            if isinstance(exc, TimeoutError):
                return AttemptResult(False, None, "timed out")
            if reused and isinstance(exc, STALE):
                return None
            return AttemptResult(False, None, f"connection failed: {type(exc).__name__}")
        finally:
            watchdog.cancel()
            if keep:
                self._checkin(target, conn)
            else:
                conn.close()

    def close(self) -> None:
        """Close idle connections."""
        with self._lock:
            for idle in self._idle.values():
                for conn in idle:
                    conn.close()
            self._idle.clear()

    def __del__(self) -> None:
        # at interpreter shutdown contextlib may be torn down already: a bare try, not contextlib.suppress
        try:  # noqa: SIM105
            self.close()
        except Exception:  # noqa: S110
            pass
