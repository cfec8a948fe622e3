"""Local invoke: run ``index.main_handler`` on a sample event, as SCF would, and print the JSON answer.

    .venv/bin/python -m devkit.invoke events/timer.json [--context events/context.json]

The function reads its configuration from the environment (JOBWATCH_*, TENCENTCLOUD_*), exactly as deployed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.invoke", description=__doc__)
    parser.add_argument("event", type=Path, help="a JSON event, e.g. events/timer.json")
    parser.add_argument("--context", type=Path, help="a JSON context (default: events/context.json)")
    args = parser.parse_args(argv)
    event = json.loads(args.event.read_text())
    context_path = args.context or Path(__file__).resolve().parents[1] / "events" / "context.json"
    context = json.loads(context_path.read_text()) if context_path.exists() else {}
    started = time.monotonic()
    limit = float(context.get("time_limit_in_ms", 60_000))
    context["get_remaining_time_in_millis"] = lambda: limit - (time.monotonic() - started) * 1000

    import index

    print(json.dumps(index.main_handler(event, context), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
