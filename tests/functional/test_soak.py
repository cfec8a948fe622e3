"""make soak's code, in a short run (a few seconds of faults and kills): it finds nothing lost and says so."""

from __future__ import annotations

import json

import pytest

from devkit import soak


def test_short_soak_passes(capsys: pytest.CaptureFixture[str]) -> None:
    """Forty jobs, six seconds of CI faults, receiver faults, overlapping sweeps and killed sweepers, then retention:
    every invariant holds and the figures are printed."""
    assert soak.main(["--jobs", "40", "--seconds", "6", "--longest", "4", "--drain", "60", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    figures = json.loads(out[: out.rindex("}") + 1])
    assert figures["lost"] == 0 and figures["jobs"] == 40 and figures["terminalEvents"] == 40
    assert figures["kills"] >= 1 and figures["duplicates"] <= figures["kills"]
    assert "events" not in figures["storeAfter"] and "claims" not in figures["storeAfter"]  # retention ran
    assert out.rstrip().endswith("soak: ok")
