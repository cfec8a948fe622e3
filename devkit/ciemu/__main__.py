"""Run the CI emulator on loopback: ``.venv/bin/python -m devkit.ciemu --port 9100 --jobs 20``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator, EmulatorOptions, Faults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.ciemu", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback only; default 127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--jobs", type=int, default=20, help="jobs of both types to preload")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, nargs=2, default=(20.0, 40.0), metavar=("MIN", "MAX"))
    parser.add_argument("--secret-id", default=TEST_SECRET_ID)
    parser.add_argument("--secret-key", default=TEST_SECRET_KEY)
    parser.add_argument("--no-multi-describe", action="store_true", help="refuse comma-joined IDs on describe")
    parser.add_argument("--error-ratio", type=float, default=0.0, help="share of requests answered 500")
    parser.add_argument("--throttle-ratio", type=float, default=0.0, help="share answered 429 SlowDown")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    args = parser.parse_args(argv)
    if not args.host.startswith("127.") and args.host != "::1":
        parser.error("the emulator listens on loopback only")
    options = EmulatorOptions(
        secret_id=args.secret_id, secret_key=args.secret_key, multi_describe=not args.no_multi_describe
    )
    faults = Faults(latency=args.latency, error_ratio=args.error_ratio, throttle_ratio=args.throttle_ratio)
    emulator = CIEmulator(host=args.host, port=args.port, options=options, faults=faults)
    emulator.book.preload(args.jobs, seed=args.seed, duration=tuple(args.duration))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with emulator:
        print(f"CI emulator on {emulator.url} with {args.jobs} jobs; SecretId {args.secret_id}", flush=True)
        print(f"  export JOBWATCH_CI_ENDPOINT={emulator.url} JOBWATCH_CI_BUCKET=demo-1250000000", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        print(f"served: {dict(emulator.served)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
