"""Leavers: which known jobs a finished listing window shows to have left the active list."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from jobwatch import leavers
from jobwatch.ci.models import Job
from jobwatch.leavers import Leavers, born_of

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)
TYPES = ("Workflow", "Job")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def born(**minutes: float) -> dict[str, int]:
    return {job_id: int(at(m).timestamp()) for job_id, m in minutes.items()}


def job(job_id: str, minutes: float) -> Job:
    return Job(job_id=job_id, type="Workflow", name="n", state="Running", creation_time=at(minutes))


def test_known_job_absent_from_every_types_window_has_left() -> None:
    """Once a window of each type covers a job's creation time without listing it, it has left."""
    leavers = Leavers(born(a=5, b=15), TYPES)
    assert leavers.window("Workflow", None, at(10), []) == []  # the Job type has not covered 5 yet
    assert leavers.window("Job", None, at(10), []) == ["a"]
    assert leavers.window("Job", at(10), None, []) == []  # b waits for its Workflow window
    assert leavers.window("Workflow", at(10), None, []) == ["b"]


def test_listed_job_has_not_left() -> None:
    """A job some window listed is still active, whatever the other windows show."""
    leavers = Leavers(born(a=5), TYPES)
    leavers.window("Workflow", None, None, [job("a", 5)])
    assert leavers.window("Job", None, None, []) == []


def test_window_bounds_do_not_count() -> None:
    """A job created in a window's bounding second is not decided by it (CI's bounds may exclude it); a second
    inside, it is."""
    leavers = Leavers(born(edge=10), TYPES)
    leavers.window("Job", None, None, [])
    assert leavers.window("Workflow", None, at(10), []) == []
    assert leavers.window("Workflow", at(10), None, []) == []
    assert leavers.window("Workflow", at(10) - timedelta(seconds=1), None, []) == ["edge"]


def test_jobs_the_recent_listing_may_show_wait() -> None:
    """Jobs created after the recent-jobs listing starts are left to the end (that listing may show them)."""
    leavers = Leavers(born(old=5, new=30), TYPES, before=at(20))
    leavers.window("Job", None, None, [])
    assert leavers.window("Workflow", None, None, []) == ["old"]


def test_each_job_is_named_once() -> None:
    """Overlapping windows name a job once."""
    leavers = Leavers(born(a=5), TYPES)
    leavers.window("Job", None, None, [])
    assert leavers.window("Workflow", None, at(10), []) == ["a"]
    assert leavers.window("Workflow", at(0), at(20), []) == []


def test_born_of_skips_jobs_without_a_creation_time() -> None:
    """Creation times are whole epoch seconds; a job without one is left out."""
    assert born_of([job("a", 1), Job(job_id="b", type="Job", name="n", state="Running")]) == born(a=1)


def test_known_jobs_round_trip_and_read_an_earlier_summary() -> None:
    """Each known job's state, creation time and stuck flag come back from one short string; a summary of the
    earlier form (state alone, with born and stuckReported apart) reads the same."""
    packed = leavers.pack_known({"a": "Running", "b": "Submitted"}, {"a": 1700000000}, {"b"})
    assert packed == {"a": "Running 1700000000 0", "b": "Submitted - 1"}
    assert leavers.unpack_known({"known": packed}) == ({"a": "Running", "b": "Submitted"}, {"a": 1700000000}, {"b"})
    earlier = {"known": {"a": "Running", "b": "Submitted"}, "born": {"a": 1700000000}, "stuckReported": ["b"]}
    assert leavers.unpack_known(earlier) == ({"a": "Running", "b": "Submitted"}, {"a": 1700000000}, {"b"})
