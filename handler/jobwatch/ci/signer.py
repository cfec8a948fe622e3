"""The COS/CI request signature ("q-sign-algorithm=sha1"), as a pure function.

Steps (ci-api.md §6): KeyTime ``start;end`` → SignKey = hex HMAC-SHA1(SecretKey, KeyTime) → HttpString
``lower(method)\\n<decoded path>\\n<params>\\n<headers>\\n`` → StringToSign ``sha1\\n<KeyTime>\\n<sha1(HttpString)>\\n``
→ Signature = hex HMAC-SHA1(SignKey, StringToSign). Keys are lower-cased and URL-encoded, values URL-encoded
(RFC 3986: only ``A-Za-z0-9-_.~`` stay literal), pairs sorted by key.

The verifier side (the emulator) uses ``canonical_pairs`` and ``signature`` with the keys the request lists.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

# Headers the official Python SDK signs, plus every x-cos-* and x-ci-* header.
SIGNED_HEADERS = frozenset(
    {
        "cache-control",
        "content-disposition",
        "content-encoding",
        "content-type",
        "content-md5",
        "content-length",
        "expect",
        "expires",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-unmodified-since",
        "origin",
        "range",
        "transfer-encoding",
        "pic-operations",
    }
)


def encode(text: str) -> str:
    """URL-encode as COS does: UTF-8, only ``A-Za-z0-9-_.~`` literal, ``/`` and space encoded."""
    return quote(text.encode("utf-8"), safe="-_.~")


def should_sign_header(name: str) -> bool:
    """True for the headers that go into the signature."""
    lower = name.lower()
    return lower in SIGNED_HEADERS or lower.startswith(("x-cos-", "x-ci-"))


def canonical_pairs(items: Iterable[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """Encoded, lower-cased key and encoded value pairs, sorted by key; ``None`` signs as ``""``. Keys that differ
    only in case fold into one, the last value winning, as the official SDKs sign them."""
    return sorted({encode(k).lower(): encode(v or "") for k, v in items}.items())


def http_string(method: str, path: str, params: list[tuple[str, str]], headers: list[tuple[str, str]]) -> str:
    """The canonical request text that is hashed; ``path`` is the decoded path."""
    joined_params = "&".join(f"{k}={v}" for k, v in params)
    joined_headers = "&".join(f"{k}={v}" for k, v in headers)
    return f"{method.lower()}\n{path}\n{joined_params}\n{joined_headers}\n"


def signature(secret_key: str, key_time: str, canonical: str) -> str:
    """The hex q-signature of a canonical request text for a KeyTime."""
    sign_key = hmac.new(secret_key.encode(), key_time.encode(), hashlib.sha1).hexdigest()
    digest = hashlib.sha1(canonical.encode("utf-8")).hexdigest()  # noqa: S324 (the protocol is SHA-1)
    string_to_sign = f"sha1\n{key_time}\n{digest}\n"
    return hmac.new(sign_key.encode(), string_to_sign.encode(), hashlib.sha1).hexdigest()


@dataclass(frozen=True)
class Signer:
    """Builds ``Authorization`` values; the clock is injectable so tests can pin KeyTime."""

    secret_id: str
    secret_key: str
    clock: Callable[[], float] = time.time
    # KeyTime window: [now - skew, now + expires]; the skew absorbs small clock drift.
    expires: int = 900
    skew: int = 60

    def __repr__(self) -> str:
        return f"Signer(secret_id={self.secret_id[:6]!r}…, secret_key=***)"

    def authorization(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | None] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """The ``Authorization`` header for a request; signs every param and the whitelisted headers."""
        now = int(self.clock())
        key_time = f"{now - self.skew};{now + self.expires}"
        param_pairs = canonical_pairs((params or {}).items())
        header_pairs = canonical_pairs((k, v) for k, v in (headers or {}).items() if should_sign_header(k))
        sig = signature(self.secret_key, key_time, http_string(method, path, param_pairs, header_pairs))
        return (
            f"q-sign-algorithm=sha1&q-ak={self.secret_id}&q-sign-time={key_time}&q-key-time={key_time}"
            f"&q-header-list={';'.join(k for k, _ in header_pairs)}"
            f"&q-url-param-list={';'.join(k for k, _ in param_pairs)}&q-signature={sig}"
        )
