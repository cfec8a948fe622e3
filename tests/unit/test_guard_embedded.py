"""The SSRF guard and IPv4 hidden in IPv6: every standard embedding of a refused address is refused, and refusals
name their real reason."""

from __future__ import annotations

import ipaddress

import pytest

from jobwatch.notify.guard import AddressGuard, RefusedURLError, blocked_reason, embedded_ipv4

# (form, address embedding a refused IPv4, the IPv4 it carries)
EMBEDDED = [
    ("mapped", "::ffff:127.0.0.1", "127.0.0.1"),
    ("mapped-private", "::ffff:10.1.2.3", "10.1.2.3"),
    ("translated-siit-loopback", "::ffff:0:7f00:1", "127.0.0.1"),
    ("translated-siit-metadata", "::ffff:0:a9fe:a9fe", "169.254.169.254"),
    ("translated-siit-private", "::ffff:0:c0a8:101", "192.168.1.1"),
    ("nat64-well-known", "64:ff9b::a00:1", "10.0.0.1"),
    ("nat64-well-known-metadata", "64:ff9b::a9fe:a9fe", "169.254.169.254"),
    ("nat64-local-use", "64:ff9b:1::a00:1", "10.0.0.1"),
    ("nat64-local-use-loopback", "64:ff9b:1:0:0:0:7f00:1", "127.0.0.1"),
    ("teredo-client", "2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),
    ("teredo-server", "2001:0:a00:1::1", "10.0.0.1"),
    ("ipv4-compatible", "::7f00:1", "127.0.0.1"),
    ("ipv4-compatible-private", "::c0a8:101", "192.168.1.1"),
    ("6to4", "2002:a9fe:a9fe::1", "169.254.169.254"),
    ("isatap", "2606:4700:0:0:0:5efe:a00:1", "10.0.0.1"),
    ("isatap-universal", "2606:4700:0:0:200:5efe:7f00:1", "127.0.0.1"),
]


@pytest.mark.parametrize(("form", "address", "inner"), EMBEDDED, ids=[e[0] for e in EMBEDDED])
def test_embedded_refused_address_is_refused(form: str, address: str, inner: str) -> None:
    """An IPv6 address carrying a refused IPv4 in any standard form is refused, and the reason names the rule the
    IPv4 breaks (or local-use NAT64's own), never either address."""
    reason = blocked_reason(ipaddress.ip_address(address))
    inner_rule = blocked_reason(ipaddress.ip_address(inner))
    assert reason is not None and inner_rule is not None, form
    assert inner_rule in reason or "local-use NAT64" in reason, reason
    assert inner not in reason and address not in reason, reason


@pytest.mark.parametrize(("form", "address", "inner"), EMBEDDED, ids=[e[0] for e in EMBEDDED])
def test_embedded_address_is_extracted(form: str, address: str, inner: str) -> None:
    """Each embedding yields the IPv4 address it carries."""
    assert ipaddress.ip_address(inner) in embedded_ipv4(ipaddress.ip_address(address))  # type: ignore[arg-type]


@pytest.mark.parametrize(("form", "address", "inner"), EMBEDDED, ids=[e[0] for e in EMBEDDED])
def test_embedded_forms_refused_through_dns(form: str, address: str, inner: str) -> None:
    """A public host name whose DNS answers one of these addresses is refused at registration."""
    guard = AddressGuard(resolver=lambda host, port: [address])
    with pytest.raises(RefusedURLError, match="refused address"):
        guard.check("https://hooks.example.com/ci")


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "::ffff:0:808:808", "2606:4700:4700::1111"])
def test_embedded_public_addresses_pass(address: str) -> None:
    """A translation form carrying a public IPv4 (DNS64 synthesises these) is not refused for its form alone."""
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://exa%6dple.com/", "percent-encoded"),
        ("https://ex%2eample.com/hook", "percent-encoded"),
        ("https://%31%32%37.0.0.1/", "percent-encoded"),
        ("https://[fe80::1%25eth0]/", "IPv6 zone"),
    ],
)
def test_refusal_names_the_real_reason(url: str, reason: str) -> None:
    """A %-encoded host name is refused as percent-encoded; only a bracketed IPv6 literal has a zone."""
    guard = AddressGuard(resolver=lambda host, port: ["93.184.216.34"])
    with pytest.raises(RefusedURLError, match=reason):
        guard.check(url)
