"""``GET /mediabucket``'s answer: the buckets CI's media processing is enabled on, as (bucket, region) pairs."""

from __future__ import annotations

from ..errors import CIBadResponseError
from ..targets import BUCKET_RE, REGION_RE
from . import xmldoc
from .models import response_root


def parse_buckets(body: bytes) -> tuple[list[tuple[str, str]], int]:
    """The page's buckets (items without a well-formed ``BucketId`` and ``Region`` are passed over) and
    ``TotalCount``."""
    root = response_root(body)
    try:
        total = int(xmldoc.child_text(root, "TotalCount") or "0")
    except ValueError as exc:
        raise CIBadResponseError("TotalCount of /mediabucket is not a number") from exc
    found = []
    for item in root.iterfind("MediaBucketList"):
        bucket = xmldoc.child_text(item, "BucketId") or xmldoc.child_text(item, "Name") or ""
        region = xmldoc.child_text(item, "Region") or ""
        if BUCKET_RE.fullmatch(bucket) and REGION_RE.fullmatch(region):
            found.append((bucket, region))
    return found, max(total, 0)
