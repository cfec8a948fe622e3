"""The SSRF guard: a callback URL may only lead to a globally routable address.

It resolves the host once, refuses unless *every* address is global (private, loopback, link-local and metadata,
CGNAT, reserved, multicast, IPv6 unique-local/link-local, and IPv4 hidden in IPv6 mapped, 6to4, NAT64,
Teredo, compatible, SIIT-translated and ISATAP forms are all refused), refuses legacy numeric host forms
(``2130706433``, ``0x7f.1``, ``0177.0.0.1``) and metadata host names, and returns the address it checked so the
sender connects to exactly that one.
``http://`` is accepted only for addresses inside the configured allow-nets (the demo and tests).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..deadline import call_within
from ..errors import InvalidInputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

# An explicit list, so the answer does not depend on the stdlib's is_global table of the day. Each network is named by
# its rule: a refusal says which rule an address broke, never the address (that would map the function's network).
_RULES = {
    "this network (0.0.0.0/8)": ("0.0.0.0/8",),
    "private (RFC 1918)": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
    "shared address space (carrier-grade NAT)": ("100.64.0.0/10",),
    "loopback": ("127.0.0.0/8", "::1/128"),
    "link-local (cloud metadata lives here)": ("169.254.0.0/16", "fe80::/10"),
    "reserved": ("192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4", "255.255.255.255/32", "::/128", "100::/64"),
    "documentation": ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"),
    "6to4 relay anycast": ("192.88.99.0/24",),
    "multicast": ("224.0.0.0/4", "ff00::/8"),
    "local-use NAT64": ("64:ff9b:1::/48",),
    "unique-local or site-local": ("fc00::/7", "fec0::/10"),
}
RULE_OF: dict[Network, str] = {ipaddress.ip_network(n): rule for rule, nets in _RULES.items() for n in nets}
BLOCKED_NETWORKS: tuple[Network, ...] = tuple(RULE_OF)
# Forms that carry an IPv4 address in their last 32 bits (RFC 6052 NAT64, RFC 8215 local-use NAT64 as a /96,
# RFC 6145 SIIT "translated", RFC 4291 "compatible").
LAST_32_BITS = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "::/96"))
ISATAP_IDS = (0x00005EFE, 0x02005EFE)  # RFC 5214 interface identifiers: 0000:5efe or 0200:5efe, then the IPv4
BLOCKED_NAMES = ("localhost", "metadata.tencentyun.com", "metadata.google.internal", "metadata")
BLOCKED_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".intranet")
MAX_URL_LENGTH = 2048


class RefusedURLError(InvalidInputError):
    """Raised for a callback URL that is malformed or leads somewhere jobwatch must not connect to."""

    code = "RefusedURL"


@dataclass(frozen=True)
class Target:
    """A checked callback: connect to ``address``:``port`` and present ``host`` (Host header, TLS name)."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries: mapped, translated (SIIT), NAT64 (well-known and local-use),
    6to4, Teredo (server and client), ISATAP, compatible."""
    found = []
    if ip.ipv4_mapped:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:
        found.extend(ip.teredo)
    value = int(ip)
    if (any(ip in net for net in LAST_32_BITS) and value > 1) or (value >> 32) & 0xFFFFFFFF in ISATAP_IDS:
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    return found


def blocked_reason(ip: IPAddress) -> str | None:
    """The rule ``ip`` breaks (named without the address), or None when it is globally routable."""
    for net in BLOCKED_NETWORKS:
        if ip.version == net.version and ip in net:
            return f"a {RULE_OF[net]} address"
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in embedded_ipv4(ip):
            reason = blocked_reason(inner)
            if reason:
                return f"an IPv6 form that carries {reason}"
    if not ip.is_global:
        return "an address that is not globally routable"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressGuard:
    """Checks callback URLs; one per process. ``allow_nets`` exempts addresses (demo and tests only)."""

    def __init__(self, allow_nets: Sequence[Network] = (), resolver: Resolver | None = None) -> None:
        self.allow_nets = tuple(allow_nets)
        self.resolver = resolver or system_resolver

    def _allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allow_nets)

    def check(self, url: object, *, timeout: float | None = None) -> Target:
        """The checked target of ``url``; raises ``RefusedURLError`` saying why not. ``timeout`` bounds the name's
        resolution (a lookup still going then is a refusal: "did not resolve in time")."""
        if not isinstance(url, str) or not url.strip():
            raise RefusedURLError("callback URL is empty")
        url = url.strip()
        if len(url) > MAX_URL_LENGTH or any(c in url for c in "\r\n\t\x00 "):
            raise RefusedURLError("callback URL is too long or holds whitespace or control characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise RefusedURLError("callback URL is malformed") from None
        if parts.scheme not in ("http", "https"):
            raise RefusedURLError("callback URL must be https://")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise RefusedURLError("callback URL must not carry credentials")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise RefusedURLError("callback URL has no host")
        if "%" in host:  # a zone only exists inside brackets; elsewhere it is an encoded name a resolver won't read
            if "[" in parts.netloc:
                raise RefusedURLError("callback URL must not name an IPv6 zone")
            raise RefusedURLError("callback host is percent-encoded: write the host name plainly")
        if host in BLOCKED_NAMES or host.endswith(BLOCKED_SUFFIXES):
            raise RefusedURLError(f"callback host {host} is internal")
        port = port or (443 if parts.scheme == "https" else 80)
        addresses = self._addresses(host, port, timeout)
        for ip in addresses:
            if self._allowed(ip):
                continue
            reason = blocked_reason(ip)
            if reason:
                raise RefusedURLError(f"callback URL leads to a refused address ({reason})")
        if parts.scheme == "http" and not all(self._allowed(ip) for ip in addresses):
            raise RefusedURLError("callback URL must be https://")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return Target(url, parts.scheme, host, port, str(addresses[0]), path)

    def _resolve(self, host: str, port: int, timeout: float | None) -> Sequence[str]:
        if timeout is None:
            return self.resolver(host, port)
        # getaddrinfo has no timeout of its own
        return call_within(lambda: self.resolver(host, port), timeout, "resolve")

    def _addresses(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            socket.inet_aton(host)
        except OSError:
            pass
        else:  # 2130706433, 0x7f.1, 0177.0.0.1, 127.1: forms a resolver reads as an IPv4 address
            raise RefusedURLError(f"callback host {host} is a non-canonical numeric address")
        try:
            found = [ipaddress.ip_address(a.split("%")[0]) for a in self._resolve(host, port, timeout)]
        except TimeoutError:
            raise RefusedURLError(f"callback host {host} did not resolve in time") from None
        except (OSError, UnicodeError, ValueError):
            raise RefusedURLError(f"callback host {host} does not resolve") from None
        if not found:
            raise RefusedURLError(f"callback host {host} does not resolve")
        return found
