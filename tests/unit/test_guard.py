"""The SSRF guard: a table of hostile URLs is refused, and no connection is ever attempted to any of them."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jobwatch.deadline import Deadline
from jobwatch.notify.guard import AddressGuard, RefusedURLError, blocked_reason
from jobwatch.notify.webhook import WebhookSender

# Host names a hostile user controls, and what their DNS answers (the resolver is injected: no real lookups).
DNS = {
    "rebind.example.com": ["127.0.0.1"],
    "meta.example.com": ["169.254.169.254"],
    "tencent-meta.example.com": ["169.254.0.23"],
    "alibaba-meta.example.com": ["100.100.100.200"],
    "mixed.example.com": ["93.184.216.34", "10.1.2.3"],
    "v6private.example.com": ["fd00::1"],
    "v6mapped.example.com": ["::ffff:192.168.1.1"],
    "nat64.example.com": ["64:ff9b::a9fe:a9fe"],
    "zero.example.com": ["0.0.0.0"],
    "good.example.com": ["93.184.216.34"],
    "good6.example.com": ["2606:4700:4700::1111"],
}

HOSTILE = [
    # loopback, in every spelling
    "http://127.0.0.1/",
    "https://127.0.0.1:8443/hook",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://0x7f000001/",
    "http://017700000001/",
    "http://[::1]/",
    "https://localhost/",
    "https://sub.localhost/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    # private, CGNAT, link-local and cloud metadata
    "https://10.0.0.1/",
    "https://172.16.0.1/",
    "https://172.31.255.255/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",
    "https://100.100.100.200/",
    "https://169.254.169.254/latest/meta-data/",
    "https://metadata.tencentyun.com/latest/meta-data/",
    "https://metadata.google.internal/",
    "https://[0:0:0:0:0:ffff:169.254.169.254]/",
    # reserved, documentation, benchmark, multicast, broadcast, this-network
    "https://0.0.0.0/",
    "https://0/",
    "https://192.0.0.8/",
    "https://192.0.2.1/",
    "https://198.18.0.1/",
    "https://198.51.100.7/",
    "https://203.0.113.5/",
    "https://224.0.0.1/",
    "https://239.255.255.250/",
    "https://240.0.0.1/",
    "https://255.255.255.255/",
    # IPv6 local and special ranges
    "https://[::]/",
    "https://[fe80::1]/",
    "https://[fe80::1%25eth0]/",
    "https://[fc00::1]/",
    "https://[fd12:3456::1]/",
    "https://[ff02::1]/",
    "https://[2001:db8::1]/",
    "https://[fec0::1]/",
    # IPv4 hidden in IPv6: 6to4, NAT64, Teredo
    "https://[2002:a9fe:a9fe::1]/",
    "https://[2002:7f00:1::]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://[64:ff9b::7f00:1]/",
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    # internal names
    "https://printer.local/",
    "https://db.internal/",
    "https://host.localdomain/",
    # host names that resolve to refused addresses (DNS rebinding, metadata aliases, one bad answer of two)
    "https://rebind.example.com/",
    "https://meta.example.com/",
    "https://tencent-meta.example.com/",
    "https://alibaba-meta.example.com/",
    "https://mixed.example.com/",
    "https://v6private.example.com/",
    "https://v6mapped.example.com/",
    "https://nat64.example.com/",
    "https://zero.example.com/",
    "https://unresolvable.example.com/",
    # not a usable https URL
    "http://good.example.com/",
    "http://93.184.216.34/",
    "ftp://good.example.com/",
    "file:///etc/passwd",
    "gopher://good.example.com:70/",
    "javascript:alert(1)",
    "",
    "   ",
    "not a url",
    "https://",
    "https://good.example.com:99999/",
    "https://user:pass@good.example.com/",
    "https://good.example.com@127.0.0.1/",
    "https://good.example.com/\r\nX-Injected: 1",
    "https://good.example.com/" + "a" * 2100,
]


def resolver(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise socket.gaierror(socket.EAI_NONAME, "unknown host")
    return DNS[host]


@pytest.fixture
def guard() -> AddressGuard:
    return AddressGuard(resolver=resolver)


@pytest.mark.parametrize(
    ("host", "rule"),
    [
        ("rebind.example.com", "loopback"),
        ("meta.example.com", "link-local"),
        ("alibaba-meta.example.com", "carrier-grade NAT"),
        ("mixed.example.com", "private"),
        ("v6private.example.com", "unique-local"),
        ("v6mapped.example.com", "IPv6 form that carries a private"),
    ],
)
def test_refusal_names_the_rule_not_the_address(guard: AddressGuard, host: str, rule: str) -> None:
    """A name resolving to a refused address is refused naming the rule; the address it resolved to is not shown."""
    with pytest.raises(RefusedURLError, match=rule) as refused:
        guard.check(f"https://{host}/hook")
    for address in DNS[host]:
        assert address not in refused.value.message
    assert "/8" not in refused.value.message and "/16" not in refused.value.message


@pytest.fixture
def hanging() -> Iterator[AddressGuard]:
    """A guard whose name lookups hang until the test ends."""
    release = threading.Event()

    def resolve(host: str, port: int) -> list[str]:
        release.wait(30)
        return ["93.184.216.34"]

    yield AddressGuard(resolver=resolve)
    release.set()


def test_resolution_is_bounded_by_the_timeout(hanging: AddressGuard) -> None:
    """A lookup that hangs is given up after the timeout and refused as not resolved in time."""
    started = time.monotonic()
    with pytest.raises(RefusedURLError, match="in time"):
        hanging.check("https://slow.example.com/", timeout=0.3)
    assert time.monotonic() - started < 5


def test_delivery_counts_resolution_in_its_budget(hanging: AddressGuard) -> None:
    """A delivery whose host does not resolve before the invocation's deadline fails within that deadline."""
    started = time.monotonic()
    result = WebhookSender(hanging).send("https://slow.example.com/", b"{}", {}, Deadline.after(1.5))
    assert not result.ok and "in time" in (result.error or "")
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_url_refused(guard: AddressGuard, url: str) -> None:
    """Each hostile URL raises RefusedURLError."""
    with pytest.raises(RefusedURLError):
        guard.check(url)


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Records every socket connect (and refuses it), to prove none happens."""
    seen: list[Any] = []

    def spy(self: socket.socket, address: Any) -> None:
        seen.append(address)
        raise OSError("connect refused by the test spy")

    monkeypatch.setattr(socket.socket, "connect", spy)
    monkeypatch.setattr(socket.socket, "connect_ex", spy)
    yield seen


def test_sender_never_connects_to_hostile_urls(guard: AddressGuard, connects: list[Any]) -> None:
    """Delivering to every hostile URL yields refused attempts and not a single socket connect."""
    sender = WebhookSender(guard)
    results = [sender.send(url, b"{}", {}, Deadline.after(10)) for url in HOSTILE]
    assert all(not r.ok and r.error and r.error.startswith("refused") for r in results)
    assert connects == []


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://good.example.com/hook?x=1", "93.184.216.34"),
        ("https://good6.example.com/", "2606:4700:4700::1111"),
        ("https://93.184.216.34:8443/a", "93.184.216.34"),
        ("https://[2606:4700:4700::1111]/", "2606:4700:4700::1111"),
    ],
)
def test_public_https_allowed(guard: AddressGuard, url: str, address: str) -> None:
    """Public https URLs pass, and the target carries the checked address to connect to."""
    target = guard.check(url)
    assert target.address == address and target.scheme == "https"


def test_allow_nets_exempt_for_local_use() -> None:
    """Addresses inside JOBWATCH_CALLBACK_ALLOW_NETS pass, http:// included; others stay refused."""
    guard = AddressGuard([ipaddress.ip_network("127.0.0.0/8")], resolver=resolver)
    assert guard.check("http://127.0.0.1:8080/hook").host_header == "127.0.0.1:8080"
    with pytest.raises(RefusedURLError):
        guard.check("http://10.0.0.1/")
    with pytest.raises(RefusedURLError):
        guard.check("http://good.example.com/")


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2002:0808:0808::1"])
def test_global_addresses_have_no_reason(address: str) -> None:
    """Globally routable addresses (6to4 of a public one included) are not blocked."""
    assert blocked_reason(ipaddress.ip_address(address)) is None
