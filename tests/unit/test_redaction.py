"""URL secrets taken out of what CI echoes: userinfo, query and fragment go, the rest stays."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobwatch import history
from jobwatch.ci.models import MAX_TEXT_CHARS, parse_page
from jobwatch.redaction import needs_redaction, redact, redact_text, redact_url

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://fn.example/ci-callback?token=s3cret", "https://fn.example/ci-callback"),
        ("https://user:pw@fn.example:8443/a/b#frag", "https://fn.example:8443/a/b"),
        ("kafka://broker:9092?password=x", "kafka://broker:9092"),
        ("https://fn.example", "https://fn.example"),
        ("https://a@b@host/p?x", "https://host/p"),
        ("https://[::1/p?q", "https://[::1/p"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    """Each URL keeps scheme, host, port and path, and loses userinfo, query and fragment, malformed or not."""
    assert redact_url(url) == expected


def test_urls_inside_text_and_data() -> None:
    """URLs inside longer texts, nested dicts and lists are redacted; other strings stay the same objects."""
    data = {"CallBack": "https://fn.example/cb?token=T", "Note": ["see http://h/x?k=T now", 5], "Plain": "no url"}
    clean = redact(data)
    assert clean == {"CallBack": "https://fn.example/cb", "Note": ["see http://h/x now", 5], "Plain": "no url"}
    assert "T" not in str(clean).replace("Plain", "")
    untouched = {"a": "https://fn.example/cb", "b": [1, "x"]}
    assert redact(untouched) is untouched


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_no_query_survives(secret: str) -> None:
    """Whatever follows ``?`` in a URL is gone from the redacted text."""
    text = redact_text(f"go to https://fn.example/cb?token=zz{secret} please")
    assert "token=zz" not in text and not needs_redaction(text)


def _page(detail: bytes) -> bytes:
    return b"<Response><JobsDetail><JobId>b1</JobId><State>Running</State>" + detail + b"</JobsDetail></Response>"


def test_job_model_redacts_input_operation_and_raw() -> None:
    """A parsed JobsDetail shows no token in input, operation or raw."""
    body = _page(
        b"<Input><Manifest>https://b.cos.example/m.json?q-sign-algorithm=sha1&amp;q-signature=SIG</Manifest></Input>"
        b"<Operation><CallBack>https://fn.example/ci-callback?token=TOKEN</CallBack></Operation>"
    )
    (job,) = parse_page(body)[0]
    data = job.to_dict()
    assert data["operation"]["CallBack"] == "https://fn.example/ci-callback"
    assert data["input"]["Manifest"] == "https://b.cos.example/m.json"
    assert "TOKEN" not in job.raw and "SIG" not in job.raw and "<CallBack>https://fn.example/ci-callback<" in job.raw


def test_huge_message_is_cut_and_says_so() -> None:
    """A 2 MB Message is stored cut to a few KB, in the field and in raw, and the job says it was cut."""
    (job,) = parse_page(_page(b"<Message>" + b"m" * 2_000_000 + b"</Message>"))[0]
    assert len(job.message) < MAX_TEXT_CHARS + 100 and "cut by jobwatch: 2000000 characters" in job.message
    assert len(job.raw) < 2 * MAX_TEXT_CHARS
    assert job.to_dict()["cut"] is True


def test_history_survives_a_wrong_nonexistent() -> None:
    """A job once (wrongly) marked nonexistent keeps its history when CI knows it again."""
    (job,) = parse_page(_page(b"<CreationTime>2026-01-01T08:00:00+0800</CreationTime>"))[0]
    first = history.observe(None, job, NOW).record
    gone = history.nonexistent_record("b1", first, NOW)
    assert gone is not None
    back = history.observe(gone, job, NOW)
    assert back.changed and "nonExistent" not in back.record
    assert back.record["history"] == first["history"] and back.record["firstSeenAt"] == first["firstSeenAt"]


def test_unreadable_time_never_replaces_a_readable_one() -> None:
    """An empty or unreadable CreationTime keeps the stored one."""
    (good,) = parse_page(_page(b"<CreationTime>2026-01-01T08:00:00+0800</CreationTime>"))[0]
    (bad,) = parse_page(_page(b"<CreationTime>soon</CreationTime>"))[0]
    stored = history.observe(None, good, NOW).record
    again = history.observe(stored, bad, NOW)
    assert again.record["creationTime"] == "2026-01-01T08:00:00+08:00"
