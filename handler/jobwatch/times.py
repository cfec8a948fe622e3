"""Pure: the ISO 8601 times jobwatch writes in its documents, read back in one way (CI's own times are read by
``ci.models.parse_ci_time``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parsed(value: object) -> datetime | None:
    """An aware datetime from ``isoformat()`` text; None when absent or unreadable (a naive one is taken as UTC)."""
    if not value:
        return None
    try:
        found = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=timezone.utc)


def at(value: object) -> datetime:
    """``parsed(value)``, or the epoch when there is none: "long ago", so an unset due time is due."""
    return parsed(value) or EPOCH


def older(value: object, cutoff: datetime) -> bool:
    """``value`` is a readable time before ``cutoff`` (absent or unreadable: never old enough to delete)."""
    found = parsed(value)
    return found is not None and found < cutoff


def within(value: object, now: datetime, span: timedelta) -> bool:
    """``value`` is a readable time less than ``span`` before ``now`` (and not after it)."""
    found = parsed(value)
    return found is not None and timedelta(0) <= now - found < span
