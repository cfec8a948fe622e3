"""Webhook POSTs that connect only to the address the guard checked, follow no redirect, and read little.

urllib3 (requests' own transport) is given the checked IP as the host to connect to, while the Host header, TLS
SNI and certificate check use the URL's host name: no second DNS lookup, no rebinding window.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import certifi
import urllib3

from ..deadline import Deadline
from ..errors import InvalidInputError
from ..httpmessage import retry_after_seconds
from .guard import AddressGuard, Target

MAX_RESPONSE_BYTES = 64 * 1024


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


class WebhookSender:
    """Sends signed bodies; pools connections per checked address."""

    def __init__(self, guard: AddressGuard, *, timeout: float = 15.0, connect_timeout: float = 5.0) -> None:
        self.guard = guard
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._pools: dict[tuple[str, str, int, str], Any] = {}
        self._lock = threading.Lock()

    def _pool(self, target: Target) -> Any:
        key = (target.scheme, target.address, target.port, target.host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                if target.scheme == "https":
                    pool = urllib3.HTTPSConnectionPool(
                        target.address, target.port, maxsize=4, retries=False,
                        server_hostname=target.host, assert_hostname=target.host,
                        cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
                    )  # fmt: skip
                else:
                    pool = urllib3.HTTPConnectionPool(target.address, target.port, maxsize=4, retries=False)
                self._pools[key] = pool
            return pool

    def send(self, url: str, body: bytes, headers: dict[str, str], deadline: Deadline) -> AttemptResult:
        """POST ``body`` to ``url``; the URL is checked again now, whatever it was at registration."""
        try:
            target = self.guard.check(url)
        except InvalidInputError as exc:
            return AttemptResult(False, None, f"refused: {exc.message}")
        remaining = deadline.remaining()
        if remaining <= 0.5:
            return AttemptResult(False, None, "no time left in this invocation")
        timeout = urllib3.Timeout(connect=min(self.connect_timeout, remaining), read=min(self.timeout, remaining))
        request_headers = {**headers, "Host": target.host_header, "User-Agent": "jobwatch/0.1"}
        try:
            response = self._pool(target).urlopen(
                "POST", target.path, body=body, headers=request_headers, timeout=timeout,
                redirect=False, retries=False, preload_content=False, assert_same_host=False,
            )  # fmt: skip
        except urllib3.exceptions.NewConnectionError:  # a subclass of the timeout error in urllib3 2
            return AttemptResult(False, None, "connection failed: nothing accepted the connection")
        except urllib3.exceptions.TimeoutError:
            return AttemptResult(False, None, "timed out")
        except urllib3.exceptions.HTTPError as exc:
            return AttemptResult(False, None, f"connection failed: {type(exc).__name__}")
        try:
            response.read(MAX_RESPONSE_BYTES, decode_content=False)  # never trust or echo a receiver's body
        except urllib3.exceptions.HTTPError:
            pass
        finally:
            response.release_conn()
        return classify(response.status, retry_after_seconds(response.headers.get("Retry-After")))
