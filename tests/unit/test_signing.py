"""Standard Webhooks signing: the spec's known answer, verification by the reference library, rotation."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook

from jobwatch.signing import secret_key, sign, webhook_headers

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER = "whsec_" + "b2xkLXNlY3JldC1yb3RhdGVkLWF3YXk="


def test_known_answer_vector() -> None:
    """The reference library's test vector (msg_p5jXN8AQM9LWM0D4loKWxJek at 1614265330) signs identically."""
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected
    stamp = datetime.fromtimestamp(1614265330, tz=timezone.utc)
    assert Webhook(SECRET).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", stamp, body.decode()) == expected


def test_reference_library_verifies() -> None:
    """What we send verifies with the standardwebhooks library and returns the payload."""
    body = b'{"type":"ci.batchjob.succeeded","data":{"jobId":"b1","name":"\xe8\xbd\xac\xe7\xa0\x81"}}'
    now = int(datetime.now(timezone.utc).timestamp())
    headers = webhook_headers([SECRET], "evt-b1-success", now, body)
    assert Webhook(SECRET).verify(body, headers)["data"]["jobId"] == "b1"


def test_rotation_lists_every_secret() -> None:
    """Two secrets give two signatures; a receiver holding either one verifies."""
    body = b"{}"
    now = int(datetime.now(timezone.utc).timestamp())
    headers = webhook_headers([SECRET, OTHER], "evt-b1-failed", now, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(SECRET).verify(body, headers)
    Webhook(OTHER).verify(body, headers)


def test_tampered_body_fails_verification() -> None:
    """A changed byte breaks the signature."""
    from standardwebhooks.webhooks import WebhookVerificationError

    now = int(datetime.now(timezone.utc).timestamp())
    headers = webhook_headers([SECRET], "evt-b1-success", now, b'{"a":1}')
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(b'{"a":2}', headers)


@pytest.mark.parametrize("bad", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_!!!notbase64", "whsec_c2hvcnQ="])
def test_bad_secrets_refused(bad: str) -> None:
    """Missing prefix, empty, non-base64 and too-short keys are refused."""
    with pytest.raises(ValueError):
        secret_key(bad)


def test_id_with_dot_refused() -> None:
    """webhook-id must not contain a dot (it would make the signed content ambiguous)."""
    with pytest.raises(ValueError):
        sign(SECRET, "evt.1", 1, b"{}")
