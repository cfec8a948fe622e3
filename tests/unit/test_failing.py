"""When a batch is failing, and its most frequent failure codes."""

from __future__ import annotations

from jobwatch.failing import MAX_CODES, OTHER, count_code, is_failing, top_codes


def test_failing_needs_the_minimum_and_the_ratio() -> None:
    """Below the minimum of ended objects nothing is failing; at it, the share of failures decides."""
    assert not is_failing({"succeeded": 0, "failed": 99, "cancelled": 0}, 100, 0.5)
    assert is_failing({"succeeded": 50, "failed": 50, "cancelled": 0}, 100, 0.5)
    assert not is_failing({"succeeded": 50, "failed": 49, "cancelled": 1}, 100, 0.5)
    assert is_failing({"succeeded": 0, "failed": 1, "cancelled": 0, "active": 10**6}, 1, 1.0)


def test_codes_counted_and_ranked() -> None:
    """Success and cancellations are no failure codes; the five most frequent come first, ties by name."""
    codes: dict[str, int] = {}
    for code in ["B", "A", "B", "Success", "", "Cancel", "C", "D", "E", "F", "A", "B"]:
        count_code(codes, code)
    assert top_codes(codes) == [{"code": "B", "count": 3}, {"code": "A", "count": 2}, {"code": "C", "count": 1},
                                {"code": "D", "count": 1}, {"code": "E", "count": 1}]  # fmt: skip


def test_distinct_codes_are_bounded() -> None:
    """Past the bound, new codes are counted as Other: the track stays small."""
    codes: dict[str, int] = {}
    for n in range(MAX_CODES + 10):
        count_code(codes, f"Code{n}")
    assert len(codes) == MAX_CODES + 1 and codes[OTHER] == 10
