"""Pure: the rules for job IDs and event IDs, checked in one place (they keep IDs safe in paths and file names)."""

from __future__ import annotations

import re

from .errors import InvalidInputError

JOB_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
EVENT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
JOB_ID_RULE = "1-64 characters of A-Z, a-z, 0-9, _ and -"
EVENT_ID_RULE = "1-128 characters of A-Z, a-z, 0-9, _ and -"


def is_valid_job_id(job_id: str) -> bool:
    """1–64 characters of ``[A-Za-z0-9_-]`` (the public contract)."""
    return JOB_ID_RE.fullmatch(job_id) is not None


def checked_job_id(value: object, field: str | None = None) -> str:
    """``value`` when it is a job ID; else ``InvalidInputError`` naming the rule (and the field, when given)."""
    if not isinstance(value, str) or JOB_ID_RE.fullmatch(value) is None:
        raise InvalidInputError(f"{field} must be {JOB_ID_RULE}" if field else f"job IDs are {JOB_ID_RULE}")
    return value


def checked_event_id(value: object) -> str:
    """``value`` when it is an event ID; else ``InvalidInputError``."""
    if not isinstance(value, str) or EVENT_ID_RE.fullmatch(value) is None:
        raise InvalidInputError(f"event ids are {EVENT_ID_RULE}")
    return value
