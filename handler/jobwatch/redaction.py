"""Pure: the secrets URLs carry, taken out before anything CI echoes is stored or shown.

CI repeats a batch job's ``Input`` and ``Operation`` in every answer, and users put credentials in them: the
``/ci-callback?token=`` of ``Operation.CallBack``, a presigned ``Input.Manifest``, a password in an MQ URL. Each URL
keeps its scheme, host, port and path; its userinfo, query and fragment go
(``https://fn.example/ci-callback?token=…`` becomes ``https://fn.example/ci-callback``).
"""

from __future__ import annotations

import re
from typing import Any

# A scheme, "://", then anything up to whitespace, a quote, or markup: the URL as it appears inside text.
URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s\"'<>]*")
_SECRET_PART = re.compile(r"[?#@]")


def redact_url(url: str) -> str:
    """``url`` without userinfo, query and fragment. Never raises: a malformed URL is cut the same way."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


def redact_text(text: str) -> str:
    """Every URL inside ``text`` redacted (see ``redact_url``); the text is returned as is when none needs it."""
    if "://" not in text or not _SECRET_PART.search(text):
        return text
    return URL_RE.sub(lambda match: redact_url(match[0]), text)


def redact(value: Any) -> Any:
    """Plain JSON data with every string's URLs redacted; the same object when nothing changed."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        out = {k: redact(v) for k, v in value.items()}
        return value if all(out[k] is value[k] for k in value) else out
    if isinstance(value, list):
        items = [redact(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def needs_redaction(text: str) -> bool:
    """True when ``text`` holds a URL with userinfo, a query or a fragment."""
    return redact_text(text) != text
