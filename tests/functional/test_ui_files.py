"""The status page's files and headers: strict CSP with no inline script or style, nothing from outside, assets only
from the function, in both event shapes."""

from __future__ import annotations

import re

import pytest

from jobwatch.entry import Ports, handle
from jobwatch.ui import STATIC


def get(ports: Ports, path: str, shape: str) -> dict:  # type: ignore[type-arg]
    event: dict = {"httpMethod": "GET", "path": path, "headers": {}, "queryString": {}}  # type: ignore[type-arg]
    if shape == "apigateway":
        event.update(requestContext={"path": path, "httpMethod": "GET", "stage": "release"}, queryStringParameters={})
    return handle(event, {}, ports=ports)  # type: ignore[no-any-return]


@pytest.mark.parametrize("shape", ["functionurl", "apigateway"])
@pytest.mark.parametrize(("path", "kind"), [("/ui", "text/html"), ("/ui/", "text/html"), ("/ui/app.js", "text/javascript"),
                                            ("/ui/app.css", "text/css")])  # fmt: skip
def test_page_and_assets_with_security_headers(api: Ports, shape: str, path: str, kind: str) -> None:
    """Each file answers 200 without a token, with CSP (no inline script), nosniff, no-referrer and no framing."""
    result = get(api, path, shape)
    headers = result["headers"]
    assert result["statusCode"] == 200 and headers["Content-Type"].startswith(kind)
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"


def test_asset_links_are_relative_to_where_the_page_is(api: Ports) -> None:
    """/ui links ui/app.js and calls the API at the root; /ui/ links app.js and the API one level up."""
    assert 'src="ui/app.js"' in get(api, "/ui", "functionurl")["body"]
    slash = get(api, "/ui/", "functionurl")["body"]
    assert 'src="app.js"' in slash and 'data-api="../"' in slash


@pytest.mark.parametrize("name", ["index.html", "app.js", "app.css", "../records.py", "app.js.map", "%2e%2e"])
def test_only_the_page_files_are_served(api: Ports, name: str) -> None:
    """Anything but app.js and app.css under /ui/ is a 404 (or 400), never another file."""
    status = get(api, f"/ui/{name}", "functionurl")["statusCode"]
    assert status == (200 if name in ("app.js", "app.css") else 404) or (status == 400 and ".." in name)


def test_no_inline_script_style_or_outside_url() -> None:
    """The HTML has no inline script, event handler or style attribute; no file names an outside URL."""
    html = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son\w+=", html) and " style=" not in html
    for path in STATIC.iterdir():
        assert not re.search(r"https?://", path.read_text()), path.name
    assert ".innerHTML" not in (STATIC / "app.js").read_text()  # API text goes in as text only
