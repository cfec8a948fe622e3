"""make soak's code, in a short run (a few seconds of faults and kills): it finds nothing lost and says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jobwatch.notify.outbox import WORKERS

ROOT = Path(__file__).resolve().parents[2]


def test_short_soak_passes() -> None:
    """Forty jobs, six seconds of CI faults, receiver faults, overlapping sweeps and killed sweepers, then retention:
    every invariant holds and the figures are printed."""
    command = [sys.executable, "-m", "devkit.soak", "--jobs", "40", "--seconds", "6", "--longest", "4", "--drain", "60",
               "--seed", "3"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'handler'}{os.pathsep}{ROOT}"}  # as in make test310's plain venv
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    figures = json.loads(out[: out.rindex("}") + 1])
    assert figures["lost"] == 0 and figures["jobs"] == 40 and figures["terminalEvents"] == 40
    assert figures["kills"] >= 1 and figures["duplicates"] <= figures["kills"] * WORKERS  # in flight when killed
    assert "events" not in figures["storeAfter"] and "claims" not in figures["storeAfter"]  # retention ran
    assert out.rstrip().endswith("soak: ok")
