"""Settings: every environment variable of the README's table, read once into a frozen object.

``Settings.from_env(os.environ)`` in the function, ``Settings.from_env({...})`` in tests. A bad value raises
``ConfigError`` naming the variable; secrets are kept out of ``repr`` so a logged settings object leaks nothing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import ConfigError
from .signing import secret_key

BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,48}-[0-9]{5,12}$")
REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+){1,3}$")
FUNCTION_RE = re.compile(r"^([A-Za-z0-9_-]{1,30}/)?[A-Za-z][A-Za-z0-9_-]{0,58}[A-Za-z0-9]$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
NOTIFY_CHOICES = ("terminal", "all")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Credentials:
    """Tencent Cloud keys; SCF sets temporary ones from the execution role."""

    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        shown = self.secret_id[:6] + "…" if self.secret_id else ""
        return f"Credentials(secret_id={shown!r}, secret_key=***, token={'***' if self.token else None})"


@dataclass(frozen=True)
class Settings:
    """The function's configuration. Field order follows the README's table."""

    ci_bucket: str | None = None
    ci_region: str | None = None
    ci_endpoint: str | None = None
    credentials: Credentials | None = None
    store: str = "file:.jobwatch"
    store_endpoint: str | None = None
    watch_all: bool = True
    webhook_url: str | None = field(default=None, repr=False)  # its query may carry a receiver's token
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    chain_function: str | None = None
    notify_on: str = "terminal"
    stuck_after: int = 172800
    api_token: str | None = field(default=None, repr=False)
    callback_allow_nets: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    log_level: str = "INFO"
    function_region: str | None = None  # where chained functions live: the function's own region
    callback_token: str | None = field(default=None, repr=False)  # /ci-callback only: it rides in CI's URL
    track_objects: bool = True  # follow each batch's objects: progress, a truthful "finished", the report
    report_scope: str = "all"  # which objects the completion report lists: all, or failed
    retain_days: int = 30  # delivered events, old claims and dated summaries older than this are deleted
    scf_endpoint: str | None = None  # the SCF API for chained invokes (a local SCF emulator in tests)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and check every variable; the first bad one raises ``ConfigError``."""
        env = {k: v.strip() for k, v in environ.items() if isinstance(v, str) and v.strip()}
        bucket = env.get("JOBWATCH_CI_BUCKET")
        if bucket is not None and not BUCKET_RE.fullmatch(bucket):
            raise ConfigError("JOBWATCH_CI_BUCKET", "expected <name>-<APPID>, e.g. media-1250000000")
        region = env.get("JOBWATCH_CI_REGION") or env.get("TENCENTCLOUD_REGION")
        if region is not None and not REGION_RE.fullmatch(region):
            name = "JOBWATCH_CI_REGION" if "JOBWATCH_CI_REGION" in env else "TENCENTCLOUD_REGION"
            raise ConfigError(name, "expected a region such as ap-guangzhou")
        endpoint = env.get("JOBWATCH_CI_ENDPOINT")
        if endpoint is not None:
            _check_http_url("JOBWATCH_CI_ENDPOINT", endpoint)
        store = env.get("JOBWATCH_STORE", "file:.jobwatch")
        _check_store(store)
        store_endpoint = env.get("JOBWATCH_STORE_ENDPOINT")
        if store_endpoint is not None:
            _check_http_url("JOBWATCH_STORE_ENDPOINT", store_endpoint)
        scf_endpoint = env.get("JOBWATCH_SCF_ENDPOINT")
        if scf_endpoint is not None:
            _check_http_url("JOBWATCH_SCF_ENDPOINT", scf_endpoint)
        webhook_url = env.get("JOBWATCH_WEBHOOK_URL")
        if webhook_url is not None:
            _check_http_url("JOBWATCH_WEBHOOK_URL", webhook_url)
        secrets = tuple(env.get("JOBWATCH_WEBHOOK_SECRET", "").split())
        for secret in secrets:
            try:
                secret_key(secret)
            except ValueError:
                raise ConfigError(
                    "JOBWATCH_WEBHOOK_SECRET", "each secret must be whsec_<base64 of 16+ bytes>"
                ) from None
        if webhook_url and not secrets:
            raise ConfigError("JOBWATCH_WEBHOOK_SECRET", "required when JOBWATCH_WEBHOOK_URL is set")
        chain = env.get("JOBWATCH_CHAIN_FUNCTION")
        if chain is not None and not FUNCTION_RE.fullmatch(chain):
            raise ConfigError("JOBWATCH_CHAIN_FUNCTION", "expected <name> or <namespace>/<name>")
        notify_on = env.get("JOBWATCH_NOTIFY_ON", "terminal").lower()
        if notify_on not in NOTIFY_CHOICES:
            raise ConfigError("JOBWATCH_NOTIFY_ON", "expected 'terminal' or 'all'")
        log_level = env.get("JOBWATCH_LOG_LEVEL", "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError("JOBWATCH_LOG_LEVEL", f"expected one of {', '.join(LOG_LEVELS)}")
        report_scope = env.get("JOBWATCH_REPORT_SCOPE", "all").lower()
        if report_scope not in ("all", "failed"):
            raise ConfigError("JOBWATCH_REPORT_SCOPE", "expected 'all' or 'failed'")
        api_token, callback_token = env.get("JOBWATCH_API_TOKEN"), env.get("JOBWATCH_CALLBACK_TOKEN")
        if callback_token is not None and callback_token == api_token:
            raise ConfigError("JOBWATCH_CALLBACK_TOKEN", "must differ from JOBWATCH_API_TOKEN (never in a URL)")
        return cls(
            ci_bucket=bucket,
            ci_region=region,
            ci_endpoint=endpoint.rstrip("/") if endpoint else None,
            credentials=_credentials(env),
            store=store,
            store_endpoint=store_endpoint,
            watch_all=_bool("JOBWATCH_WATCH_ALL", env.get("JOBWATCH_WATCH_ALL", "true")),
            webhook_url=webhook_url,
            webhook_secrets=secrets,
            chain_function=chain,
            notify_on=notify_on,
            stuck_after=_positive_int("JOBWATCH_STUCK_AFTER", env.get("JOBWATCH_STUCK_AFTER", "172800")),
            api_token=api_token,
            callback_allow_nets=_networks(env.get("JOBWATCH_CALLBACK_ALLOW_NETS", "")),
            log_level=log_level,
            function_region=env.get("TENCENTCLOUD_REGION") or region,
            callback_token=callback_token,
            track_objects=_bool("JOBWATCH_TRACK_OBJECTS", env.get("JOBWATCH_TRACK_OBJECTS", "true")),
            report_scope=report_scope,
            scf_endpoint=scf_endpoint.rstrip("/") if scf_endpoint else None,
            retain_days=_positive_int("JOBWATCH_RETAIN_DAYS", env.get("JOBWATCH_RETAIN_DAYS", "30"), "days"),
        )

    def ci_base_url(self) -> str:
        """The CI endpoint: the override, or ``https://<bucket>.ci.<region>.myqcloud.com``."""
        if self.ci_endpoint:
            return self.ci_endpoint
        if not self.ci_bucket:
            raise ConfigError("JOBWATCH_CI_BUCKET", "required for CI calls")
        if not self.ci_region:
            raise ConfigError("JOBWATCH_CI_REGION", "required for CI calls (or TENCENTCLOUD_REGION)")
        return f"https://{self.ci_bucket}.ci.{self.ci_region}.myqcloud.com"


def _credentials(env: Mapping[str, str]) -> Credentials | None:
    secret_id = env.get("TENCENTCLOUD_SECRETID")
    secret_key = env.get("TENCENTCLOUD_SECRETKEY")
    if secret_id is None and secret_key is None:
        return None
    if secret_id is None:
        raise ConfigError("TENCENTCLOUD_SECRETID", "required when TENCENTCLOUD_SECRETKEY is set")
    if secret_key is None:
        raise ConfigError("TENCENTCLOUD_SECRETKEY", "required when TENCENTCLOUD_SECRETID is set")
    return Credentials(secret_id, secret_key, env.get("TENCENTCLOUD_SESSIONTOKEN"))


def _check_http_url(variable: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(variable, "expected an http:// or https:// URL with a host")


def _check_store(value: str) -> None:
    if value.startswith("file:"):
        if not value[len("file:") :]:
            raise ConfigError("JOBWATCH_STORE", "file: needs a directory, e.g. file:.jobwatch")
        return
    if value.startswith("s3://"):
        bucket = value[len("s3://") :].split("/", 1)[0]
        if not bucket:
            raise ConfigError("JOBWATCH_STORE", "s3:// needs a bucket, e.g. s3://jobs-1250000000/jobwatch")
        return
    raise ConfigError("JOBWATCH_STORE", "expected file:<dir> or s3://<bucket>/<prefix>")


def _bool(variable: str, value: str) -> bool:
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(variable, "expected true or false")


def _positive_int(variable: str, value: str, unit: str = "seconds") -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(variable, f"expected a whole number of {unit}") from None
    if number <= 0:
        raise ConfigError(variable, f"expected a positive number of {unit}")
    return number


def _networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    nets = []
    for item in value.replace(",", " ").split():
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError("JOBWATCH_CALLBACK_ALLOW_NETS", f"not a CIDR: {item!r}") from None
    return tuple(nets)
