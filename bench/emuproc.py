"""The CI emulator in a process of its own, for the benchmarks: in the sweep's process its work (filtering,
building XML) would take the sweep's CPU and GIL, which real CI never does. Driven over stdin/stdout, one command
a line, each answered by one JSON line:

``preload N SEED SPREAD`` → the job IDs; ``end K [FROM]`` (K preloaded jobs end, the first ones or those from
index FROM); ``revive`` (the ended jobs run again, as before they ended); ``advance SECONDS``;
``latency SECONDS``; ``buckets N JOBS SEED`` (N buckets in two regions, each with JOBS long-running batches with a
few objects each) → their ``bucket@region`` keys; ``served`` → requests answered per operation; ``quit``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from devkit.ciemu import CIEmulator

ROOT = Path(__file__).resolve().parents[1]


def serve() -> None:
    with CIEmulator() as emulator:
        print(json.dumps(emulator.url), flush=True)
        made: list[Any] = []
        ended: dict[int, tuple[Any, float]] = {}  # what "end" changed, for "revive"
        for line in sys.stdin:
            command, *args = line.split()
            answer: Any = "ok"
            if command == "preload":
                count, seed, spread = int(args[0]), int(args[1]), float(args[2])
                made = emulator.book.preload(count, seed=seed, spread=spread, duration=(10**6, 2 * 10**6))
                answer = [job.job_id for job in made]
            elif command == "end":
                first = int(args[1]) if len(args) > 1 else 0
                for job in made[first : first + int(args[0])]:
                    ended.setdefault(id(job), (job, job.running_for))
                    job.running_for = 1.0  # ended long ago
            elif command == "revive":
                for job, running_for in ended.values():
                    job.running_for = running_for
                ended.clear()
            elif command == "advance":
                emulator.clock.advance(float(args[0]))
            elif command == "buckets":
                count, jobs, seed = int(args[0]), int(args[1]), int(args[2])
                answer = []
                for n in range(count):
                    region = ("ap-guangzhou", "ap-shanghai")[n % 2]
                    book = emulator.add_bucket(f"bench{n:04d}-1250000000", region)
                    book.preload(jobs, seed=seed + n, spread=3600, duration=(10**6, 2 * 10**6), objects=(5, 20),
                                 object_duration=(10**5, 10**6))  # fmt: skip
                    answer.append(f"bench{n:04d}-1250000000@{region}")
            elif command == "latency":
                emulator.faults.latency = float(args[0])
            elif command == "served":
                answer = dict(emulator.served)
            elif command == "clock":
                answer = emulator.clock()
            print(json.dumps(answer), flush=True)
            if command == "quit":
                break


class RemoteEmulator:
    """The emulator process, from the benchmark's side."""

    def __init__(self) -> None:
        path = os.pathsep.join([str(ROOT / "handler"), str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.emuproc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=ROOT, env={**os.environ, "PYTHONPATH": path},
        )  # fmt: skip
        try:
            self.url: str = self._read()
        except ValueError:  # it died before answering (its error went to stderr)
            self._close()
            raise RuntimeError("the emulator process did not start") from None

    def _read(self) -> Any:
        assert self._process.stdout is not None
        return json.loads(self._process.stdout.readline())

    def ask(self, *words: object) -> Any:
        assert self._process.stdin is not None
        self._process.stdin.write(" ".join(str(w) for w in words) + "\n")
        self._process.stdin.flush()
        return self._read()

    def requests(self) -> int:
        return sum(self.ask("served").values())

    def __enter__(self) -> RemoteEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.ask("quit")
        finally:
            self._close()

    def _close(self) -> None:
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()
        if self._process.poll() is None:
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)


if __name__ == "__main__":
    serve()
