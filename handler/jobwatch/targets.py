"""The watched targets: a bucket in a region, as ``JOBWATCH_CI_BUCKETS`` names them or ``GET /mediabucket`` lists
them. Pure: parsing, names and hosts; discovery's HTTP lives in the CI client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,48}-[0-9]{5,12}$")
REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+){1,3}$")
DISCOVER = "discover:"
MAX_TARGETS = 1000  # a listed set past this is a mistake, not an account


@dataclass(frozen=True, order=True)
class Target:
    """One watched bucket. ``region`` is empty only in the one-bucket form without a region (an endpoint override
    then stands for the bucket's host)."""

    bucket: str
    region: str = ""

    @property
    def key(self) -> str:
        """``bucket@region``: how summaries, claims and the page name the target."""
        return f"{self.bucket}@{self.region}"

    @property
    def host(self) -> str:
        """The bucket's CI host, which requests carry (and sign) whatever address they go to."""
        return f"{self.bucket}.ci.{self.region}.myqcloud.com"

    def matches(self, bucket: str | None, region: str | None) -> bool:
        """True when the filters (either may be empty) name this target."""
        return (not bucket or bucket == self.bucket) and (not region or region == self.region)


def region_host(region: str) -> str:
    """The region's CI host without a bucket (``GET /mediabucket``)."""
    return f"ci.{region}.myqcloud.com"


def parse_list(value: str) -> tuple[tuple[Target, ...], tuple[str, ...]]:
    """``bucket@region`` entries (commas or spaces), or ``discover:<region>,…``: (targets, regions to discover).
    Raises ``ValueError`` with what is wrong, naming the entry."""
    text = value.strip()
    if text.lower().startswith(DISCOVER):
        regions = tuple(dict.fromkeys(r for r in re.split(r"[,\s]+", text[len(DISCOVER) :]) if r))
        if not regions:
            raise ValueError("discover: needs at least one region, e.g. discover:ap-guangzhou,ap-shanghai")
        for region in regions:
            if not REGION_RE.fullmatch(region):
                raise ValueError(f"not a region: {region[:40]!r} (expected e.g. ap-guangzhou)")
        return (), regions
    found: dict[Target, None] = {}
    for entry in (e for e in re.split(r"[,\s]+", text) if e):
        bucket, at, region = entry.partition("@")
        if not at:
            raise ValueError(f"{entry[:60]!r}: expected <bucket>@<region>, e.g. media-1250000000@ap-guangzhou")
        if not BUCKET_RE.fullmatch(bucket):
            raise ValueError(f"{entry[:60]!r}: the bucket must be <name>-<APPID>, e.g. media-1250000000")
        if not REGION_RE.fullmatch(region):
            raise ValueError(f"{entry[:60]!r}: the region must look like ap-guangzhou")
        found[Target(bucket, region)] = None
    if not found:
        raise ValueError("expected <bucket>@<region> entries or discover:<regions>")
    if len(found) > MAX_TARGETS:
        raise ValueError(f"at most {MAX_TARGETS} buckets")
    return tuple(found), ()


def parse_key(key: object) -> Target | None:
    """A ``bucket@region`` key back to its target (None when it is not one)."""
    if not isinstance(key, str) or key.count("@") != 1:
        return None
    bucket, region = key.split("@")
    if not BUCKET_RE.fullmatch(bucket) or (region and not REGION_RE.fullmatch(region)):
        return None
    return Target(bucket, region)
