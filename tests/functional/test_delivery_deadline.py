"""Bounded work per delivery: a receiver that trickles bytes (each read well inside the read timeout) cannot hold
an attempt past its total deadline, over real sockets."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from jobwatch.deadline import Deadline
from jobwatch.notify.guard import AddressGuard
from jobwatch.notify.webhook import WebhookSender

LOCAL = [ipaddress.ip_network("127.0.0.0/8")]
TRICKLE_FOR = 12.0  # the server gives up after this, so the test ends even when the sender never does


class Trickler:
    """Accepts a connection, reads the request, sends ``prefix`` at once, then one byte every ``gap`` seconds."""

    def __init__(self, prefix: bytes, answer: bytes, gap: float) -> None:
        self.prefix, self.answer, self.gap = prefix, answer, gap
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.closed_early = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.server.settimeout(TRICKLE_FOR)
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(self.prefix)
            ends = time.monotonic() + TRICKLE_FOR
            data = self.answer
            while time.monotonic() < ends:
                byte, data = (data[:1] or b"x"), data[1:]
                try:
                    conn.sendall(byte)
                except OSError:
                    self.closed_early.set()  # the sender hung up: what the deadline is for
                    return
                time.sleep(self.gap)

    def close(self) -> None:
        self.server.close()
        self.thread.join(TRICKLE_FOR + 2)


@pytest.fixture
def trickle_headers() -> Iterator[Trickler]:
    """A receiver whose status line and headers never end."""
    server = Trickler(b"", b"HTTP/1.1 200 OK\r\nX-Slow: ", gap=0.1)
    yield server
    server.close()


@pytest.fixture
def trickle_body() -> Iterator[Trickler]:
    """A receiver that answers 200 at once, then trickles a long body."""
    server = Trickler(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"", gap=0.1)
    yield server
    server.close()


@pytest.mark.parametrize("fixture", ["trickle_headers", "trickle_body"])
def test_trickling_receiver_is_cut_at_the_total_deadline(fixture: str, request: pytest.FixtureRequest) -> None:
    """Each read arrives within the 1 s read timeout, yet the attempt ends at its 1.5 s total deadline."""
    server: Trickler = request.getfixturevalue(fixture)
    sender = WebhookSender(AddressGuard(LOCAL), timeout=1.0, connect_timeout=1.0, total_timeout=1.5)
    started = time.monotonic()
    result = sender.send(f"http://127.0.0.1:{server.port}/hook", b"{}", {}, Deadline.after(60))
    elapsed = time.monotonic() - started
    assert elapsed < 4.0, f"the attempt took {elapsed:.1f} s"
    if fixture == "trickle_headers":  # no complete answer: a failed attempt
        assert not result.ok and result.error is not None and "timed out" in result.error
    else:  # the status and headers came in time: the 200 counts, the rest of the body is not waited for
        assert result.ok and result.status == 200
    assert server.closed_early.wait(3), "the sender should have hung up on the trickling receiver"


def test_invocation_deadline_caps_the_attempt(trickle_headers: Trickler) -> None:
    """With less time left in the invocation than the attempt's own limit, the invocation's deadline wins."""
    sender = WebhookSender(AddressGuard(LOCAL), timeout=5.0, connect_timeout=1.0, total_timeout=30.0)
    started = time.monotonic()
    result = sender.send(f"http://127.0.0.1:{trickle_headers.port}/hook", b"{}", {}, Deadline.after(2.0))
    assert time.monotonic() - started < 3.5 and not result.ok
