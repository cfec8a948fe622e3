"""Pure: when a running batch is failing, and which failure codes it fails with most.

A batch is failing once at least ``minimum`` of its objects have ended and at least ``ratio`` of those failed.
The codes are counted as failed objects end (a workflow execution's code once its detail was read), at most
``MAX_CODES`` distinct ones a batch; later new codes are counted under ``OTHER``.
"""

from __future__ import annotations

from typing import Any

MAX_CODES = 50
OTHER = "Other"
TOP = 5
NOT_FAILURES = frozenset({"", "Success", "Cancel", "Cancelled"})


def is_failing(counts: dict[str, Any], minimum: int, ratio: float) -> bool:
    """At least ``minimum`` objects ended and at least ``ratio`` of them failed."""
    failed = int(counts.get("failed") or 0)
    ended = failed + int(counts.get("succeeded") or 0) + int(counts.get("cancelled") or 0)
    return ended >= minimum and failed >= ratio * ended


def count_code(codes: dict[str, int], code: str | None) -> None:
    """One more failed object with ``code`` (a cancellation or success is no failure code)."""
    name = (code or "").strip()
    if name in NOT_FAILURES:
        return
    if name not in codes and len(codes) >= MAX_CODES:
        name = OTHER
    codes[name] = codes.get(name, 0) + 1


def top_codes(codes: dict[str, int]) -> list[dict[str, Any]]:
    """The ``TOP`` most frequent codes, most frequent first (ties by name): ``[{"code", "count"}]``."""
    ranked = sorted(codes.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    return [{"code": code, "count": count} for code, count in ranked]
