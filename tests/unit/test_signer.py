"""The q-sign signer against the official cos-python-sdk-v5 and the Go SDK's published vector."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qcloud_cos import CosConfig
from qcloud_cos.cos_auth import CosS3Auth

from jobwatch.ci import signer
from jobwatch.ci.signer import Signer

NOW = 1_700_000_000
SECRET_ID = "AKIDsignerTEST0000000000000000000000"
SECRET_KEY = "signer-test-secret-key-000000000000"


def official_authorization(
    method: str, path: str, params: dict[str, str], headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    """What the official Python SDK puts in Authorization for the same request at ``NOW``."""
    conf = CosConfig(Region="ap-guangzhou", SecretId=SECRET_ID, SecretKey=SECRET_KEY)
    auth = CosS3Auth(conf, key=path, params=params, expire=10000)
    monkeypatch.setattr("qcloud_cos.cos_auth.time.time", lambda: NOW)
    request = SimpleNamespace(
        method=method, url="https://example-1250000000.ci.ap-guangzhou.myqcloud.com/", headers=dict(headers)
    )
    return auth(request).headers["Authorization"]


def ours(method: str, path: str, params: dict[str, str], headers: dict[str, str]) -> str:
    # The SDK's KeyTime is [now-60, now+10000]; ours is [now-skew, now+expires].
    return Signer(SECRET_ID, SECRET_KEY, clock=lambda: NOW, expires=10000, skew=60).authorization(
        method, path, params, headers
    )


class TestAgainstGoVector:
    def test_go_sdk_published_signature(self) -> None:
        """The Go SDK's auth_test.go vector gives q-signature ce4ac0ec…."""
        headers = [
            ("host", "testbucket-125000000.cos.ap-guangzhou.myqcloud.com"),
            ("x-cos-content-sha1", "db8ac1c259eb89d4a131b253bacfca5f319d54f2"),
            ("x-cos-stroage-class", "nearline"),
        ]
        pairs = signer.canonical_pairs(headers)
        canonical = signer.http_string("PUT", "/testfile2", [], pairs)
        assert hashlib.sha1(canonical.encode()).hexdigest() == "113b22e92b74237531fafbfc8bb9e67be55645c7"
        sig = signer.signature("AKIDZfbOA78asKUYBcXFrJD0a1ICvR98JM", "1480932292;1481012292", canonical)
        assert sig == "ce4ac0ecbcdb30538b3fee0a97cc6389694ce53a"

    def test_go_vector_through_signer_header(self) -> None:
        """The whole Authorization value carries the vector's signature and sorted header list."""
        value = Signer(
            "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q",
            "AKIDZfbOA78asKUYBcXFrJD0a1ICvR98JM",
            clock=lambda: 1480932292,
            expires=80000,
            skew=0,
        ).authorization(
            "PUT",
            "/testfile2",
            {},
            {
                "Host": "testbucket-125000000.cos.ap-guangzhou.myqcloud.com",
                "x-cos-content-sha1": "db8ac1c259eb89d4a131b253bacfca5f319d54f2",
                "x-cos-stroage-class": "nearline",
            },
        )
        assert "q-header-list=host;x-cos-content-sha1;x-cos-stroage-class&" in value
        assert value.endswith("q-signature=ce4ac0ecbcdb30538b3fee0a97cc6389694ce53a")


class TestAgainstOfficialSDK:
    def test_list_request_like_the_sdk(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A list call with empty parameters and a security token signs exactly as the SDK does."""
        params = {
            "type": "Workflow",
            "orderByTime": "Desc",
            "states": "All",
            "size": "10",
            "nextToken": "",
            "workflowId": "",
            "jobId": "",
        }
        headers = {"x-ci-security-token": "tok/en+=", "Host": "demo-1250000000.ci.ap-guangzhou.myqcloud.com"}
        official = official_authorization("GET", "/inventorytriggerjob", params, headers, monkeypatch)
        assert ours("GET", "/inventorytriggerjob", params, headers) == official
        assert "q-url-param-list=jobid;nexttoken;orderbytime;size;states;type;workflowid" in official

    def test_non_ascii_path(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A path with CJK and brackets is hashed decoded, as in the COS doc's example."""
        headers = {"Host": "examplebucket-1250000000.cos.ap-beijing.myqcloud.com", "Content-Type": "image/jpeg"}
        path = "/exampleobject(腾讯云)"
        assert ours("PUT", path, {}, headers) == official_authorization("PUT", path, {}, headers, monkeypatch)

    def test_unsigned_headers_left_out(self) -> None:
        """Headers outside the whitelist (User-Agent, Accept) do not enter the signature."""
        with_extra = ours("GET", "/x", {}, {"Host": "h", "User-Agent": "a", "Accept": "*/*"})
        assert with_extra == ours("GET", "/x", {}, {"Host": "h"})
        assert "user-agent" not in with_extra

    header_names = st.sampled_from(
        [
            "Host",
            "Content-Type",
            "content-md5",
            "Content-Length",
            "x-cos-meta-a",
            "X-Ci-Security-Token",
            "x-ci-extra",
            "Range",
            "If-None-Match",
            "User-Agent",
            "Accept",
            "x-other",
        ]
    )
    header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
    param_keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12)
    param_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
    paths = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30)

    @settings(max_examples=300, deadline=None)
    @given(
        method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD"]),
        path=paths,
        params=st.dictionaries(param_keys, param_values, max_size=6),
        headers=st.dictionaries(header_names, header_values, max_size=6),
    )
    def test_generated_requests_match_sdk(
        self, method: str, path: str, params: dict[str, str], headers: dict[str, str]
    ) -> None:
        """Hundreds of generated requests (methods, non-ASCII paths, params with and without values) match."""
        with pytest.MonkeyPatch.context() as mp:
            path = "/" + path.lstrip("/")
            # Header names differing only in case are one header on the wire.
            unique = {k.lower(): (k, v) for k, v in headers.items()}
            headers = dict(unique.values())
            if "host" not in unique:  # the SDK signs the URL's host when no Host header is set; we always send one
                headers["Host"] = "example-1250000000.ci.ap-guangzhou.myqcloud.com"
            official = official_authorization(method, path, params, headers, mp)
        assert ours(method, path, params, headers) == official


class TestEncoding:
    @pytest.mark.parametrize(
        ("raw", "encoded"),
        [("a b", "a%20b"), ("a/b", "a%2Fb"), ("~-_.", "~-_."), ("腾", "%E8%85%BE"), ("a+b=c&", "a%2Bb%3Dc%26")],
    )
    def test_rfc3986_encoding(self, raw: str, encoded: str) -> None:
        """Only A-Za-z0-9-_.~ stay literal; space is %20, never +."""
        assert signer.encode(raw) == encoded

    def test_valueless_param_signs_as_empty(self) -> None:
        """``?cancel`` is signed as ``cancel=`` (as the Java SDK does)."""
        assert signer.canonical_pairs([("cancel", None)]) == [("cancel", "")]

    def test_repr_hides_secret_key(self) -> None:
        """A logged signer shows no secret key."""
        assert SECRET_KEY not in repr(Signer(SECRET_ID, SECRET_KEY))
