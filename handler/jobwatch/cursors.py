"""Pure: paging cursors, one scheme for every list. A cursor continues a listing jobwatch gave out and nothing else.

A cursor is ``base64url(kind ":" value) "." mac``: ``kind`` says which listing it continues (``n``: an offset into
an index, ``o``: an offset into a batch's objects, ``k``: a store key to list after), and the MAC (HMAC-SHA256 under
a key the deployment's API token derives, cut to 128 bits) makes one that jobwatch did not write a 400, so a forged
cursor cannot send a page down a costlier path than the one it came from.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from .errors import InvalidInputError

_REFUSED = "cursor is not one this API gave out"
MAX_OFFSET = 10**9


def key_for(token: str | None) -> bytes:
    """The MAC key of one deployment (a fixed one without an API token: only direct invokes read then)."""
    return hashlib.sha256(b"jobwatch-cursor\0" + (token or "").encode()).digest()


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def encode(key: bytes, kind: str, value: str | int) -> str:
    """A cursor of ``kind`` carrying ``value``."""
    body = base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")
    return f"{body}.{_mac(key, body)}"


def _open(key: bytes, raw: str) -> tuple[str, str]:
    """(kind, value) of a cursor jobwatch gave out; ``InvalidInputError`` for anything else."""
    body, dot, mac = raw.partition(".")
    if not dot or len(raw) > 1024 or not hmac.compare_digest(mac.encode(), _mac(key, body).encode()):
        raise InvalidInputError(_REFUSED)
    try:
        text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInputError(_REFUSED) from None
    kind, colon, value = text.partition(":")
    if not colon:
        raise InvalidInputError(_REFUSED)
    return kind, value


def decode(key: bytes, raw: str, kind: str) -> str:
    """The value of a cursor of ``kind`` ("" for no cursor); ``InvalidInputError`` for anything jobwatch did not
    give out for that kind of listing."""
    if not raw:
        return ""
    found, value = _open(key, raw)
    if found != kind:
        raise InvalidInputError(_REFUSED)
    return value


def kind_of(key: bytes, raw: str) -> str:
    """Which listing a cursor continues (its kind), or "" when it is none jobwatch gave out."""
    try:
        return _open(key, raw)[0] if raw else ""
    except InvalidInputError:
        return ""


def offset(key: bytes, raw: str, kind: str) -> int:
    """An offset cursor's number (0 for no cursor)."""
    value = decode(key, raw, kind) or "0"
    if not value.isascii() or not value.isdigit() or int(value) > MAX_OFFSET:
        raise InvalidInputError(_REFUSED)
    return int(value)
