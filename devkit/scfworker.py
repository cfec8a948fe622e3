"""One SCF invocation in a process of its own, as the SCF emulator runs asynchronous invocations: the event on
stdin, the context from the environment, ``index.main_handler`` called, its answer printed as JSON."""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> int:
    event = json.loads(sys.stdin.read() or "{}")
    context = {
        "request_id": os.environ.get("SCF_WORKER_REQUEST_ID", "local"),
        "function_name": os.environ.get("SCF_FUNCTIONNAME", ""),
        "namespace": os.environ.get("SCF_NAMESPACE", "default"),
        "time_limit_in_ms": int(os.environ.get("SCF_WORKER_TIME_LIMIT_MS", "30000")),
    }
    started = time.monotonic()
    from index import main_handler

    answer = main_handler(event, context)
    print(json.dumps({"answer": answer, "seconds": round(time.monotonic() - started, 3)}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
