"""The status page's face: ``GET /ui`` and its two assets, shipped in ``static/``, with strict security headers.

The page needs no token to load; its data calls use the API token as a bearer header (typed once, kept in the tab's
session storage). URLs in the page are relative, so it works under a Function URL and under an API Gateway stage.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from .httpmessage import HTTPError

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@cache
def _read(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _answer(body: str, content_type: str) -> dict[str, Any]:
    return {"isBase64Encoded": False, "statusCode": 200, "headers": {"Content-Type": content_type, **HEADERS},
            "body": body}  # fmt: skip


def page(path: str) -> dict[str, Any]:
    """The page; its asset and API links are relative to where it was asked for (``/ui`` or ``/ui/``)."""
    slash = path.endswith("/")
    html = _read("index.html").replace("{{assets}}", "" if slash else "ui/").replace("{{api}}", "../" if slash else "")
    return _answer(html, "text/html; charset=utf-8")


def asset(name: str) -> dict[str, Any]:
    if name not in ASSETS:
        raise HTTPError(404, "NotFound", "no such file of the status page")
    return _answer(_read(name), ASSETS[name])
