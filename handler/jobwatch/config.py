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
from .targets import BUCKET_RE, REGION_RE, Target, parse_list

FUNCTION_RE = re.compile(r"^([A-Za-z0-9_-]{1,30}/)?[A-Za-z][A-Za-z0-9_-]{0,58}[A-Za-z0-9]$")
LOG_LEVELS = ("INFO", "DEBUG", "WARNING", "ERROR", "CRITICAL")  # the first is the default
NOTIFY_CHOICES = ("terminal", "all")
REPORT_SCOPES = ("all", "failed")
FANOUT_CHOICES = ("auto", "off")
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
    retain_days: int = 30  # what jobwatch wrote about a job ages out this long after it ended and was delivered
    report_retain_days: int = 90  # completion reports age out this long after they were written
    scf_endpoint: str | None = None  # the SCF API for chained invokes (a local SCF emulator in tests)
    # JOBWATCH_CI_BUCKETS: the listed targets, or the regions whose buckets are discovered; empty in the one-bucket form
    ci_targets: tuple[Target, ...] = ()
    discover_regions: tuple[str, ...] = ()
    fanout: str = "auto"
    # the function itself (SCF sets both): a sweep with more work than it can finish invokes it for shards
    function_name: str | None = None
    function_namespace: str = "default"
    # acting on failures: when a running batch is failing, whether to cancel it then; whether retries may be asked for
    failing_ratio: float = 0.5
    failing_min: int = 100
    cancel_when_failing: bool = False
    retry: bool = False  # POST /jobs/{jobId}/retry allowed
    cos_endpoint: str | None = None  # the watched buckets' own objects (retry lists): an S3 endpoint override

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and check every variable; the first bad one raises ``ConfigError``."""
        env = {k: v.strip() for k, v in environ.items() if isinstance(v, str) and v.strip()}
        bucket, region, endpoint = _ci_target(env)
        targets, regions = _ci_targets(env)
        store, store_endpoint, scf_endpoint = _services(env)
        webhook_url, secrets, chain = _delivery(env)
        api_token, callback_token = _tokens(env)
        return cls(
            ci_bucket=bucket,
            ci_region=region,
            ci_endpoint=endpoint,
            credentials=_credentials(env),
            store=store,
            store_endpoint=store_endpoint,
            watch_all=_bool("JOBWATCH_WATCH_ALL", env.get("JOBWATCH_WATCH_ALL", "true")),
            webhook_url=webhook_url,
            webhook_secrets=secrets,
            chain_function=chain,
            notify_on=_choice(env, "JOBWATCH_NOTIFY_ON", NOTIFY_CHOICES),
            stuck_after=_positive_int("JOBWATCH_STUCK_AFTER", env.get("JOBWATCH_STUCK_AFTER", "172800")),
            api_token=api_token,
            callback_allow_nets=_networks(env.get("JOBWATCH_CALLBACK_ALLOW_NETS", "")),
            log_level=_choice(env, "JOBWATCH_LOG_LEVEL", LOG_LEVELS),
            function_region=env.get("TENCENTCLOUD_REGION") or region,
            callback_token=callback_token,
            track_objects=_bool("JOBWATCH_TRACK_OBJECTS", env.get("JOBWATCH_TRACK_OBJECTS", "true")),
            report_scope=_choice(env, "JOBWATCH_REPORT_SCOPE", REPORT_SCOPES),
            scf_endpoint=scf_endpoint,
            retain_days=_positive_int("JOBWATCH_RETAIN_DAYS", env.get("JOBWATCH_RETAIN_DAYS", "30"), "days"),
            report_retain_days=_positive_int(
                "JOBWATCH_REPORT_RETAIN_DAYS", env.get("JOBWATCH_REPORT_RETAIN_DAYS", "90"), "days"
            ),
            ci_targets=targets,
            discover_regions=regions,
            fanout=_choice(env, "JOBWATCH_FANOUT", FANOUT_CHOICES),
            function_name=env.get("SCF_FUNCTIONNAME")
            if FUNCTION_RE.fullmatch(env.get("SCF_FUNCTIONNAME", ""))
            else None,
            function_namespace=env.get("SCF_NAMESPACE") or "default",
            failing_ratio=_ratio("JOBWATCH_FAILING_RATIO", env.get("JOBWATCH_FAILING_RATIO", "0.5")),
            failing_min=_positive_int("JOBWATCH_FAILING_MIN", env.get("JOBWATCH_FAILING_MIN", "100"), "objects"),
            cancel_when_failing=_bool("JOBWATCH_CANCEL_WHEN_FAILING", env.get("JOBWATCH_CANCEL_WHEN_FAILING", "false")),
            retry=_bool("JOBWATCH_RETRY", env.get("JOBWATCH_RETRY", "false")),
            cos_endpoint=_url(env, "JOBWATCH_COS_ENDPOINT"),
        )

    @property
    def many(self) -> bool:
        """``JOBWATCH_CI_BUCKETS`` is set: targets are listed or discovered, each with state of its own."""
        return bool(self.ci_targets or self.discover_regions)

    def targets(self) -> tuple[Target, ...]:
        """The listed targets; the one-bucket form is a one-element list (empty without a bucket)."""
        if self.many:
            return self.ci_targets
        return (Target(self.ci_bucket, self.ci_region or ""),) if self.ci_bucket else ()

    def ci_base_url(self) -> str:
        """The CI endpoint: the override, or ``https://<bucket>.ci.<region>.myqcloud.com``."""
        if self.ci_endpoint:
            return self.ci_endpoint
        if not self.ci_bucket:
            raise ConfigError("JOBWATCH_CI_BUCKET", "required for CI calls")
        if not self.ci_region:
            raise ConfigError("JOBWATCH_CI_REGION", "required for CI calls (or TENCENTCLOUD_REGION)")
        return f"https://{self.ci_bucket}.ci.{self.ci_region}.myqcloud.com"


def _ci_target(env: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
    """The watched bucket, its region, and the CI endpoint override."""
    bucket = env.get("JOBWATCH_CI_BUCKET")
    if bucket is not None and not BUCKET_RE.fullmatch(bucket):
        raise ConfigError("JOBWATCH_CI_BUCKET", "expected <name>-<APPID>, e.g. media-1250000000")
    region = env.get("JOBWATCH_CI_REGION") or env.get("TENCENTCLOUD_REGION")
    if region is not None and not REGION_RE.fullmatch(region):
        name = "JOBWATCH_CI_REGION" if "JOBWATCH_CI_REGION" in env else "TENCENTCLOUD_REGION"
        raise ConfigError(name, "expected a region such as ap-guangzhou")
    return bucket, region, _url(env, "JOBWATCH_CI_ENDPOINT")


def _ci_targets(env: Mapping[str, str]) -> tuple[tuple[Target, ...], tuple[str, ...]]:
    """``JOBWATCH_CI_BUCKETS``: the listed targets or the regions to discover; not with the one-bucket form."""
    value = env.get("JOBWATCH_CI_BUCKETS")
    if value is None:
        return (), ()
    for one in ("JOBWATCH_CI_BUCKET", "JOBWATCH_CI_REGION"):
        if one in env:
            raise ConfigError("JOBWATCH_CI_BUCKETS", f"set it or {one}, not both (it replaces the one-bucket form)")
    try:
        return parse_list(value)
    except ValueError as exc:
        raise ConfigError("JOBWATCH_CI_BUCKETS", str(exc)) from None


def _services(env: Mapping[str, str]) -> tuple[str, str | None, str | None]:
    """The store, its S3 endpoint override, and the SCF endpoint override."""
    store = env.get("JOBWATCH_STORE", "file:.jobwatch")
    _check_store(store)
    return store, _url(env, "JOBWATCH_STORE_ENDPOINT", strip=False), _url(env, "JOBWATCH_SCF_ENDPOINT")


def _delivery(env: Mapping[str, str]) -> tuple[str | None, tuple[str, ...], str | None]:
    """The default webhook, its signing secrets, and the chained function."""
    webhook_url = _url(env, "JOBWATCH_WEBHOOK_URL", strip=False)
    secrets = tuple(env.get("JOBWATCH_WEBHOOK_SECRET", "").split())
    for secret in secrets:
        try:
            secret_key(secret)
        except ValueError:
            raise ConfigError("JOBWATCH_WEBHOOK_SECRET", "each secret must be whsec_<base64 of 16+ bytes>") from None
    if webhook_url and not secrets:
        raise ConfigError("JOBWATCH_WEBHOOK_SECRET", "required when JOBWATCH_WEBHOOK_URL is set")
    chain = env.get("JOBWATCH_CHAIN_FUNCTION")
    if chain is not None and not FUNCTION_RE.fullmatch(chain):
        raise ConfigError("JOBWATCH_CHAIN_FUNCTION", "expected <name> or <namespace>/<name>")
    return webhook_url, secrets, chain


def _tokens(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The API token and the callback token, which must differ (the callback token rides in a URL)."""
    api_token, callback_token = env.get("JOBWATCH_API_TOKEN"), env.get("JOBWATCH_CALLBACK_TOKEN")
    if callback_token is not None and callback_token == api_token:
        raise ConfigError("JOBWATCH_CALLBACK_TOKEN", "must differ from JOBWATCH_API_TOKEN (never in a URL)")
    return api_token, callback_token


def _url(env: Mapping[str, str], name: str, *, strip: bool = True) -> str | None:
    """An http(s) URL variable, checked; without its trailing slash unless ``strip`` is off."""
    value = env.get(name)
    if value is None:
        return None
    _check_http_url(name, value)
    return value.rstrip("/") if strip else value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first is the default), compared case-insensitively."""
    value = env.get(name, choices[0])
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise ConfigError(name, f"expected one of {', '.join(choices)}")


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


def _ratio(variable: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(variable, "expected a fraction such as 0.5") from None
    if not 0 < number <= 1:
        raise ConfigError(variable, "expected a fraction above 0 and at most 1, such as 0.5")
    return number


def _networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    nets = []
    for item in value.replace(",", " ").split():
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError("JOBWATCH_CALLBACK_ALLOW_NETS", f"not a CIDR: {item!r}") from None
    return tuple(nets)
