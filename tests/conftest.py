"""Shared fixtures; installs the loopback-only network guard for the whole run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests import netguard

if os.environ.get("JOBWATCH_IT_NETWORK") != "1":  # only a human running real-cloud tests lifts it
    netguard.install()

EVENTS = Path(__file__).resolve().parents[1] / "events"


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (shared with local invoke)."""
    return json.loads((EVENTS / name).read_text())
