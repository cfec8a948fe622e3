"""Settings from the environment: defaults, each bad value named, secrets kept out of repr."""

from __future__ import annotations

import ipaddress

import pytest

from jobwatch.config import Credentials, Settings
from jobwatch.errors import ConfigError, PermanentError

GOOD = {
    "JOBWATCH_CI_BUCKET": "media-1250000000",
    "JOBWATCH_CI_REGION": "ap-guangzhou",
    "TENCENTCLOUD_SECRETID": "AKIDexample000000000000000000000",
    "TENCENTCLOUD_SECRETKEY": "very-secret-key-value",
    "TENCENTCLOUD_SESSIONTOKEN": "session-token-value",
    "JOBWATCH_WEBHOOK_URL": "https://hooks.example.com/ci",
    "JOBWATCH_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_b2xkc2VjcmV0b2xkc2VjcmV0",
    "JOBWATCH_API_TOKEN": "api-token-value-123",
}


class TestDefaults:
    def test_empty_environment(self) -> None:
        """With nothing set, the documented defaults apply."""
        s = Settings.from_env({})
        assert s.store == "file:.jobwatch"
        assert s.watch_all is True
        assert s.notify_on == "terminal"
        assert s.stuck_after == 172800
        assert s.log_level == "INFO"
        assert s.credentials is None
        assert s.callback_allow_nets == ()

    def test_full_environment(self) -> None:
        """Every variable is read; several webhook secrets are kept in order."""
        s = Settings.from_env(
            {
                **GOOD,
                "JOBWATCH_WATCH_ALL": "false",
                "JOBWATCH_NOTIFY_ON": "ALL",
                "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.0/8, ::1/128",
            }
        )
        assert s.ci_bucket == "media-1250000000"
        assert s.credentials == Credentials(
            "AKIDexample000000000000000000000", "very-secret-key-value", "session-token-value"
        )
        assert s.webhook_secrets[0].startswith("whsec_MfKQ") and len(s.webhook_secrets) == 2
        assert s.watch_all is False and s.notify_on == "all"
        assert s.callback_allow_nets == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

    def test_region_falls_back_to_scf_region(self) -> None:
        """Without JOBWATCH_CI_REGION the function's own TENCENTCLOUD_REGION is used."""
        assert Settings.from_env({"TENCENTCLOUD_REGION": "ap-shanghai"}).ci_region == "ap-shanghai"

    def test_base_url(self) -> None:
        """The CI endpoint is built from bucket and region, unless overridden."""
        s = Settings.from_env(GOOD)
        assert s.ci_base_url() == "https://media-1250000000.ci.ap-guangzhou.myqcloud.com"
        local = Settings.from_env({**GOOD, "JOBWATCH_CI_ENDPOINT": "http://127.0.0.1:9100/"})
        assert local.ci_base_url() == "http://127.0.0.1:9100"

    def test_base_url_needs_bucket(self) -> None:
        """Asking for the CI endpoint without a bucket names the variable."""
        with pytest.raises(ConfigError, match="JOBWATCH_CI_BUCKET"):
            Settings.from_env({}).ci_base_url()

    def test_frozen(self) -> None:
        """Settings cannot be changed after reading."""
        with pytest.raises(AttributeError):
            Settings.from_env({}).store = "x"  # type: ignore[misc]


class TestBadValues:
    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("JOBWATCH_CI_BUCKET", "NoAppId"),
            ("JOBWATCH_CI_BUCKET", "media_x-1250000000"),
            ("JOBWATCH_CI_REGION", "Guangzhou"),
            ("JOBWATCH_CI_ENDPOINT", "ftp://127.0.0.1"),
            ("JOBWATCH_STORE", "redis://x"),
            ("JOBWATCH_STORE", "s3://"),
            ("JOBWATCH_STORE_ENDPOINT", "cos.example"),
            ("JOBWATCH_WATCH_ALL", "maybe"),
            ("JOBWATCH_WEBHOOK_URL", "not a url"),
            ("JOBWATCH_WEBHOOK_SECRET", "plainsecret"),
            ("JOBWATCH_CHAIN_FUNCTION", "bad name!"),
            ("JOBWATCH_NOTIFY_ON", "sometimes"),
            ("JOBWATCH_STUCK_AFTER", "two days"),
            ("JOBWATCH_STUCK_AFTER", "-5"),
            ("JOBWATCH_CALLBACK_ALLOW_NETS", "10.0.0.0/33"),
            ("JOBWATCH_LOG_LEVEL", "LOUD"),
        ],
    )
    def test_names_the_variable(self, variable: str, value: str) -> None:
        """Each bad value raises ConfigError whose message starts with the variable's name."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({**GOOD, variable: value})
        assert info.value.variable == variable
        assert str(info.value).startswith(variable)
        assert isinstance(info.value, PermanentError)

    def test_webhook_url_needs_secret(self) -> None:
        """A webhook URL without a signing secret is refused."""
        env = {k: v for k, v in GOOD.items() if k != "JOBWATCH_WEBHOOK_SECRET"}
        with pytest.raises(ConfigError, match="JOBWATCH_WEBHOOK_SECRET"):
            Settings.from_env(env)

    def test_half_credentials(self) -> None:
        """A secret key without its id is refused, naming the missing one."""
        with pytest.raises(ConfigError, match="TENCENTCLOUD_SECRETID"):
            Settings.from_env({"TENCENTCLOUD_SECRETKEY": "k"})

    def test_error_does_not_echo_secret(self) -> None:
        """A bad webhook secret is not repeated in the error message."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({**GOOD, "JOBWATCH_WEBHOOK_SECRET": "hunter2-not-whsec"})
        assert "hunter2" not in str(info.value)


class TestSecrets:
    def test_repr_hides_every_secret(self) -> None:
        """repr() of the settings shows no secret key, token, webhook secret or API token."""
        text = repr(Settings.from_env(GOOD))
        for secret in ("very-secret-key-value", "session-token-value", "whsec_", "api-token-value-123"):
            assert secret not in text
        assert "media-1250000000" in text
