"""Creation-time windows for side-by-side listing, and the pacer that bounds requests in flight."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from jobwatch.ci.pacing import Pacer
from jobwatch.ci.windows import MAX_WINDOWS, edges_for, windows

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def inside(t: datetime, window: tuple[datetime | None, datetime | None], inclusive: bool) -> bool:
    """CI's filter, to the second: documented as >= start and <= end; exclusive bounds are the other reading."""
    lo, hi = window
    t = t.replace(microsecond=0)
    if inclusive:
        return (lo is None or t >= lo) and (hi is None or t <= hi)
    return (lo is None or t > lo) and (hi is None or t < hi)


@given(st.lists(st.integers(0, 400), min_size=0, max_size=600), st.integers(1, 120), st.booleans())
def test_every_time_falls_in_a_window(offsets: list[int], per_window: int, inclusive: bool) -> None:
    """Whatever the times (many equal, edges on them) and whether CI's bounds are inclusive or not, each time lies
    in at least one window: no gap at any edge."""
    times = [T0 + timedelta(seconds=o, microseconds=o * 7 % 1_000_000) for o in offsets]
    cut = windows(edges_for(times, per_window))
    assert all(any(inside(t, w, inclusive) for w in cut) for t in times)


def test_windows_overlap_by_a_second_and_stay_inside_the_bounds() -> None:
    """Neighbours share one second (CI does not say whether bounds are inclusive); the outer bounds are kept."""
    edges = [T0 + timedelta(minutes=m) for m in (10, 20, 30)]
    start, end = T0 + timedelta(minutes=15), T0 + timedelta(minutes=40)
    assert windows(edges, start, end) == [
        (start, edges[1] + timedelta(seconds=1)),
        (edges[1], edges[2] + timedelta(seconds=1)),
        (edges[2], end),
    ]
    assert windows([], start, None) == [(start, None)]


def test_edges_cut_about_per_window_jobs_and_are_bounded() -> None:
    """Edges fall every per_window-th job; a huge active set is cut into at most MAX_WINDOWS windows."""
    times = [T0 + timedelta(seconds=i) for i in range(1000)]
    assert len(edges_for(times, 100)) == 9 and edges_for(times[:100], 100) == []
    assert len(windows(edges_for([T0 + timedelta(seconds=i) for i in range(100_000)], 80))) <= MAX_WINDOWS + 1


def test_pacer_halves_on_throttling_and_grows_back() -> None:
    """A 429 halves the requests in flight; answered requests grow the bound back, one at a time, to its limit."""
    pacer = Pacer(8)
    pacer.throttled()
    pacer.throttled()
    assert pacer.current == 2
    for _ in range(4):
        pacer.answered()
    assert pacer.current == 3
    for _ in range(100):
        pacer.answered()
    assert pacer.current == 8


def test_pacer_bounds_requests_in_flight() -> None:
    """No more than ``current`` holders at once."""
    pacer = Pacer(3)
    busy, peak, lock = [0], [0], threading.Lock()

    def request() -> None:
        with pacer:
            with lock:
                busy[0] += 1
                peak[0] = max(peak[0], busy[0])
            time.sleep(0.01)
            with lock:
                busy[0] -= 1

    threads = [threading.Thread(target=request) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[0] == 3
