"""The production path: HTTPS webhooks to a pinned address, against a local TLS receiver and a test CA (trustme).

The certificate is checked against the URL's host name while the connection goes to the address the guard
checked; a wrong-host, an expired and a self-signed certificate are refused and recorded as failed attempts. The CI
client verifies CI's certificate the same way."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

from jobwatch.deadline import Deadline
from jobwatch.notify.guard import AddressGuard
from jobwatch.notify.outbox import Dispatcher
from jobwatch.notify.webhook import WebhookSender
from jobwatch.records import Records
from jobwatch.store import FileStore

HOST = "hooks.example.test"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = datetime.datetime.now(datetime.timezone.utc)


@dataclass
class TLSReceiver:
    """A TLS server on 127.0.0.1 that answers 204 and records SNI names and requests."""

    context: ssl.SSLContext
    server_names: list[str | None] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)
    handshake_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)  # type: ignore[assignment,func-returns-value]
        self.stopped = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                raw, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(None)
            try:
                with self.context.wrap_socket(raw, server_side=True) as conn:
                    conn.settimeout(5)
                    data = b""
                    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    self.requests.append(data)  # read whole: closing with unread bytes would reset the answer
                    conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except (ssl.SSLError, OSError) as exc:
                self.handshake_errors.append(type(exc).__name__)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


def _length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def self_signed_context(tmp_path: Path) -> ssl.SSLContext:
    """A certificate for HOST signed by its own key: valid dates and name, but no trusted issuer."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = tmp_path / "self-signed.pem"
    pem.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(pem))
    return context


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def make_receiver(kind: str, ca: trustme.CA, tmp_path: Path) -> TLSReceiver:
    if kind == "good":
        return TLSReceiver(server_context(ca.issue_cert(HOST)))
    if kind == "wrong-host":
        return TLSReceiver(server_context(ca.issue_cert("other.example.test")))
    if kind == "expired":
        return TLSReceiver(server_context(ca.issue_cert(HOST, not_before=NOW - datetime.timedelta(days=30),
                                                        not_after=NOW - datetime.timedelta(days=1))))  # fmt: skip
    if kind == "self-signed":
        return TLSReceiver(self_signed_context(tmp_path))
    raise AssertionError(kind)


@pytest.fixture
def receiver(request: pytest.FixtureRequest, ca: trustme.CA, tmp_path: Path) -> Iterator[TLSReceiver]:
    server = make_receiver(request.param, ca, tmp_path)
    yield server
    server.close()


def pinned_guard(resolved: list[str]) -> AddressGuard:
    """HOST resolves to 127.0.0.1 (the test's receiver), which the allow-nets exempt; nothing asks real DNS."""

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"] if host == HOST else []

    return AddressGuard([ipaddress.ip_network("127.0.0.1/32")], resolver=resolver)


@pytest.mark.parametrize("receiver", ["good"], indirect=True)
def test_https_delivery_verifies_the_url_host_and_dials_the_checked_address(
    receiver: TLSReceiver, ca_file: str
) -> None:
    """SNI and the certificate check use the URL's host name; the connection goes to the guard's address."""
    resolved: list[str] = []
    sender = WebhookSender(pinned_guard(resolved), ca_certs=ca_file)
    result = sender.send(f"https://{HOST}:{receiver.port}/hook?k=v", b'{"a":1}', {}, Deadline.after(10))
    assert result.ok and result.status == 204, result
    assert receiver.server_names == [HOST] and resolved == [HOST]
    request = receiver.requests[0].decode()
    assert request.startswith("POST /hook?k=v HTTP/1.1") and f"host: {HOST}:{receiver.port}" in request.lower()


@pytest.mark.parametrize(
    ("receiver", "reason"),
    [("wrong-host", "hostname mismatch"), ("expired", "expired"), ("self-signed", "self-signed|self signed")],
    indirect=["receiver"],
)
def test_bad_certificates_are_refused(receiver: TLSReceiver, reason: str, ca_file: str) -> None:
    """A wrong-host, expired or self-signed certificate fails the attempt with a message saying so; nothing is sent."""
    sender = WebhookSender(pinned_guard([]), ca_certs=ca_file)
    result = sender.send(f"https://{HOST}:{receiver.port}/hook", b"{}", {}, Deadline.after(10))
    assert not result.ok and result.status is None
    assert result.error is not None and result.error.startswith("TLS certificate refused")
    import re

    assert re.search(reason, result.error, re.IGNORECASE), result.error
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("receiver", "delivers"), [("good", True), ("wrong-host", False), ("expired", False), ("self-signed", False)],
    indirect=["receiver"],
)  # fmt: skip
def test_dispatcher_records_tls_outcomes(receiver: TLSReceiver, delivers: bool, ca_file: str, tmp_path: Path) -> None:
    """Through the outbox, a good certificate delivers and each bad one is a recorded failed attempt, retried later:
    the outcome each certificate must have is fixed before sending, not read from what the receiver saw."""
    records = Records(FileStore(tmp_path / "store"))
    url = f"https://{HOST}:{receiver.port}/hook"
    now = datetime.datetime.now(datetime.timezone.utc)
    event: dict[str, Any] = {
        "id": "evt-tls-success", "type": "ci.batchjob.succeeded", "jobId": "b1", "state": "Success",
        "createdAt": now.isoformat(), "payload": {"type": "ci.batchjob.succeeded", "data": {}}, "status": "pending",
        "attempts": [], "nextAttemptAt": now.isoformat(),
        "targets": {"wh-1": {"kind": "webhook", "url": url, "status": "pending", "attempts": 0,
                             "nextAttemptAt": now.isoformat()}},
    }  # fmt: skip
    records.create_event(event)
    dispatcher = Dispatcher(records, (SECRET,), webhooks=WebhookSender(pinned_guard([]), ca_certs=ca_file))
    ok, failed, _ = dispatcher.dispatch([event], Deadline.after(20))
    stored = records.event("evt-tls-success")
    assert stored is not None and len(stored["attempts"]) == 1
    if delivers:
        assert (ok, failed) == (1, 0) and stored["status"] == "delivered"
        assert len(receiver.requests) == 1 and receiver.server_names == [HOST]
    else:
        assert (ok, failed) == (0, 1) and stored["status"] == "pending" and receiver.requests == []
        assert stored["attempts"][0]["error"].startswith("TLS certificate refused")
        assert stored["targets"]["wh-1"]["nextAttemptAt"] > now.isoformat()


def test_ci_client_verifies_certificates(ca: trustme.CA, ca_file: str) -> None:
    """The CI client checks CI's certificate: one its CA bundle does not trust fails to connect (nothing sent);
    with the issuing CA trusted, the request goes through."""
    import urllib3

    from jobwatch.ci import CIClient
    from jobwatch.config import Credentials
    from jobwatch.errors import CIBadResponseError, CIConnectionError

    receiver = TLSReceiver(server_context(ca.issue_cert("127.0.0.1")))
    try:
        url = f"https://127.0.0.1:{receiver.port}"
        untrusting = CIClient(url, Credentials("AKIDtest", "key"), max_attempts=1)
        with pytest.raises(CIConnectionError):
            untrusting.describe(["b1"])
        for _ in range(100):  # the server notes the failed handshake a moment after the client gave up
            if receiver.handshake_errors:
                break
            time.sleep(0.02)
        assert receiver.requests == [] and receiver.handshake_errors
        trusting = CIClient(
            url, Credentials("AKIDtest", "key"), pool=urllib3.PoolManager(ca_certs=ca_file), max_attempts=1
        )
        with pytest.raises(CIBadResponseError):  # the receiver's empty 200 is no CI answer, but it was received
            trusting.describe(["b1"])
        assert receiver.requests and receiver.requests[-1].startswith(b"GET /inventorytriggerjob/b1 ")
    finally:
        receiver.close()
