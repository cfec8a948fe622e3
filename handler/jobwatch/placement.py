"""Which target a job belongs to, for the requests that name a job rather than a bucket (describe, watches): a known
job's record says; a job not seen yet takes the ``bucket`` (and ``region``) the caller gives, which must name one
watched target."""

from __future__ import annotations

from typing import Any

from .config import Settings
from .errors import InvalidInputError, JobwatchError
from .records import Records
from .targets import BUCKET_RE, REGION_RE, Target, parse_key

DISCOVERY_KEY = "sweeps/discovery.json"


def checked_place(bucket: object, region: object) -> tuple[str, str]:
    """``bucket`` and ``region`` filters as given (empty when absent); 400 when malformed."""
    found = []
    for name, value, pattern in (("bucket", bucket, BUCKET_RE), ("region", region, REGION_RE)):
        if value is None or value == "":
            found.append("")
            continue
        if not isinstance(value, str) or not pattern.fullmatch(value):
            example = "media-1250000000" if name == "bucket" else "ap-guangzhou"
            raise InvalidInputError(f"{name} must look like {example}")
        found.append(value)
    return found[0], found[1]


def discovered(records: Records) -> tuple[dict[str, Any], list[Target]]:
    """What the last discovery stored (``{}`` when none, or unreadable), and the targets it found."""
    try:
        kept = records.load(DISCOVERY_KEY) or {}
    except JobwatchError:
        kept = {}
    return kept, [t for t in map(parse_key, kept.get("targets") or []) if t is not None]


def watched(settings: Settings, records: Records) -> list[Target]:
    """The targets the sweeps watch: the listed ones, or those the last discovery found."""
    if settings.ci_targets or not settings.discover_regions:
        return list(settings.targets())
    return discovered(records)[1]


def default_bucket(settings: Settings, records: Records) -> str:
    """The bucket a record or line without one belongs to: what the one-bucket form watched (the first target)."""
    targets = watched(settings, records)
    return targets[0].bucket if targets else ""


def target_for(settings: Settings, records: Records, job_id: str, bucket: str, region: str) -> Target:
    """The target of ``job_id``: its record's, else the one the filters name among the watched."""
    try:
        record: dict[str, Any] | None = records.job(job_id)
    except JobwatchError:
        record = None
    if record and record.get("bucket") and record.get("region"):
        return Target(str(record["bucket"]), str(record["region"]))
    targets = watched(settings, records)
    chosen = [t for t in targets if t.matches(bucket, region)]
    if len(chosen) == 1:
        return chosen[0]
    if not chosen:
        shown = f"{bucket or '*'}@{region or '*'}"
        raise InvalidInputError(f"{shown} is not a watched bucket: say bucket (and region) of one of "
                                f"{', '.join(t.key for t in targets[:20]) or 'none'}")  # fmt: skip
    raise InvalidInputError(f"job {job_id} is not known yet and several buckets are watched: say bucket (and region)"
                            f", one of {', '.join(t.key for t in chosen[:20])}")  # fmt: skip
