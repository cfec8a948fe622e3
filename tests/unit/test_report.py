"""Completion-report CSV (format /2): keys percent-encoded so no cell can become a formula, and read back exactly."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from jobwatch import report
from jobwatch.ci.children import Child

HOSTILE_KEYS = ['=HYPERLINK("http://evil.example/","open")', "+SUM(A1)", "-2+3", "@cmd", "a b,c\"d'e.mp4", "视频/ü.mp4"]


def _child(key: str, outputs: tuple[str, ...] = ()) -> Child:
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return Child("r1", key, "Failed", at, at, at, code="E1", message="bad", output=outputs)


def test_no_cell_can_be_a_formula() -> None:
    """Object and output cells of hostile keys hold no formula start and none of the characters a formula needs."""
    rows = [report.row_of(_child(k, (k, "out/" + k))) for k in HOSTILE_KEYS]
    for row in report.read_rows(report.csv_bytes(rows)):
        for cell in [report.encode_key(row["object"]), *row["output"].split(" ")]:
            assert cell[:1] not in "=+@\t\r" and not set(cell) & set("()|!=+@,\"' "), cell


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_object_key_round_trips(key: str) -> None:
    """Any key written to a part is read back exactly as CI named it."""
    (row,) = report.read_rows(report.csv_bytes([report.row_of(_child(key))]))
    assert row["object"] == key


def test_output_keys_with_spaces_stay_apart() -> None:
    """Output keys are encoded one by one, so a key holding a space is still one token."""
    row = report.row_of(_child("in.mp4", ("out/a b.mp4", "out/c.mp4")))
    (read,) = report.read_rows(report.csv_bytes([row]))
    assert [unquote(t) for t in read["output"].split(" ")] == ["out/a b.mp4", "out/c.mp4"]
