"""Fan-out on SCF, end to end over real HTTP and real processes: a sweep with more buckets than its invocation can
look at hands shards to asynchronous invocations of its own function; the SCF emulator runs each in a worker process
running ``main_handler``; a killed worker is retried as SCF retries it; overlapping sweeps; every job's terminal event
reaches the receiver exactly once, and the next sweep's summary takes in what the shards did."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devkit.ciemu import CIEmulator
from devkit.ciemu.scf import SCFEmulator
from jobwatch import service
from jobwatch.entry import handle
from jobwatch.targets import Target
from tests.functional.conftest import CREDENTIALS, concurrently
from tests.functional.test_delivery import SECRET, TIMER, Receiver
from tests.functional.test_many_buckets import terminal_bodies

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer

BUCKETS = [Target(f"b{n:02d}-1250000000", "ap-guangzhou" if n % 2 else "ap-shanghai") for n in range(12)]


@pytest.fixture
def scf() -> Iterator[SCFEmulator]:
    with SCFEmulator(concurrency=3, time_limit_ms=6000, retry_delay=0.2) as emulator:
        yield emulator


def environment(emulator: CIEmulator, scf: SCFEmulator, store: Path, webhook: str, **extra: str) -> dict[str, str]:
    """What the function runs with, in the sweeping process and in every worker the SCF emulator starts."""
    return {
        "JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKETS": ",".join(t.key for t in BUCKETS),
        "TENCENTCLOUD_SECRETID": CREDENTIALS.secret_id, "TENCENTCLOUD_SECRETKEY": CREDENTIALS.secret_key,
        "TENCENTCLOUD_REGION": "ap-guangzhou", "JOBWATCH_STORE": f"file:{store}", "JOBWATCH_WEBHOOK_URL": webhook,
        "JOBWATCH_WEBHOOK_SECRET": SECRET, "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.0/8",
        "JOBWATCH_SCF_ENDPOINT": scf.url, "SCF_FUNCTIONNAME": "jobwatch", "SCF_NAMESPACE": "default",
        "JOBWATCH_TRACK_OBJECTS": "false", **extra,
    }  # fmt: skip


def sweep(env: dict[str, str], seconds: float = 3.0) -> dict[str, Any]:
    result = handle(TIMER, {"request_id": "fanout-test", "time_limit_in_ms": int(seconds * 1000)}, environ=env)
    assert "sweepId" in result, result
    return result


def jobs_everywhere(emulator: CIEmulator) -> set[str]:
    """Two jobs in each bucket, ending 4 to 8 seconds from now (real time: the workers run on the real clock)."""
    made: set[str] = set()
    for n, target in enumerate(BUCKETS):
        made |= {j.job_id for j in emulator.add_bucket(target.bucket, target.region).preload(2, seed=300 + n,
                                                                                             duration=(4, 8))}  # fmt: skip
    return made


def sweep_until(env: dict[str, str], receiver: Receiver, made: set[str], scf: SCFEmulator) -> list[dict[str, Any]]:
    """Sweeps two seconds apart until every job's end was delivered (or a minute passed); then the workers finish."""
    summaries = []
    until = time.monotonic() + 60
    while time.monotonic() < until and not made <= set(terminal_bodies(receiver)):
        summaries.append(sweep(env))
        time.sleep(2)
    assert scf.wait_idle(60)
    summaries.append(sweep(env))
    return summaries


@pytest.fixture(autouse=True)
def fresh_ports() -> Iterator[None]:
    """Each test's environment builds its own ports (the function's warm-start cache is per environment)."""
    yield
    service._settings_cache.clear()
    service._ports_cache.clear()


def test_shards_run_in_worker_processes(
    emulator: CIEmulator, scf: SCFEmulator, tmp_path: Path, httpserver: HTTPServer
) -> None:
    """Twelve buckets, a three-second invocation: shards go to worker processes, every job's end arrives once, and
    the summary names every bucket and what the shards did."""
    made = jobs_everywhere(emulator)
    emulator.faults.latency = 0.05
    receiver = Receiver(httpserver)
    scf.workers["default/jobwatch"] = env = environment(emulator, scf, tmp_path / "store", receiver.url)
    summaries = sweep_until(env, receiver, made, scf)
    assert summaries[0]["fanout"]["shards"] >= 1 and len(scf.runs) >= 1
    assert all(run.returncode == 0 and run.answer.get("shard") for run in scf.runs)
    assert any((s.get("fanout") or {}).get("gathered") for s in summaries)
    assert set(summaries[-1]["targets"]) == {t.key for t in BUCKETS}
    assert set(terminal_bodies(receiver)) == made
    assert max(Counter(receiver.ids()).values()) == 1
    assert not emulator.auth_failures and not scf.auth_failures


def test_killed_worker_and_overlapping_sweeps(
    emulator: CIEmulator, scf: SCFEmulator, tmp_path: Path, httpserver: HTTPServer
) -> None:
    """The first worker is killed mid-run and SCF retries it; two sweeps start together: still every job's end
    arrives exactly once, and no bucket is looked at by two invocations at once."""
    made = jobs_everywhere(emulator)
    emulator.faults.latency = 1.2  # a worker looks for over a second after it starts: the kill lands in that
    receiver = Receiver(httpserver)
    scf.workers["default/jobwatch"] = env = environment(emulator, scf, tmp_path / "store", receiver.url)
    sweep(env, 30)  # time enough for every bucket: each has had its first look (which tells nothing of the past)
    scf.kill_after.append(0.9)
    sweep(env)
    time.sleep(2)
    concurrently(lambda _: sweep(env), [1, 2])
    sweep_until(env, receiver, made, scf)
    (killed,) = [run for run in scf.runs if run.killed]
    assert any(run.request_id == killed.request_id and run.attempt == 2 for run in scf.runs)  # SCF ran it again
    assert set(terminal_bodies(receiver)) == made
    assert max(Counter(receiver.ids()).values()) == 1


def test_fanout_off_keeps_one_invocation(
    emulator: CIEmulator, scf: SCFEmulator, tmp_path: Path, httpserver: HTTPServer
) -> None:
    """JOBWATCH_FANOUT=off: no shard is handed out; the sweeps get to every bucket themselves, in turn."""
    made = jobs_everywhere(emulator)
    receiver = Receiver(httpserver)
    env = environment(emulator, scf, tmp_path / "store", receiver.url, JOBWATCH_FANOUT="off")
    scf.workers["default/jobwatch"] = env
    sweep_until(env, receiver, made, scf)
    assert not scf.invocations and set(terminal_bodies(receiver)) == made


@pytest.fixture
def threaded_receiver() -> Iterator[HTTPServer]:
    """A receiver answering requests side by side, as a real one does (the default fixture answers one at a time)."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_a_backlog_of_deliveries_is_split_among_shards(
    emulator: CIEmulator, scf: SCFEmulator, tmp_path: Path, threaded_receiver: HTTPServer
) -> None:
    """One bucket, 120 due deliveries to a slow receiver: the sweep that stopped with due deliveries left makes the
    next split the outbox among delivery shards in worker processes; every event arrives once."""
    from standardwebhooks import Webhook
    from werkzeug import Request, Response

    delivered: list[str] = []

    def answer(request: Request) -> Response:
        Webhook(SECRET).verify(request.get_data(), dict(request.headers))
        time.sleep(0.4)
        delivered.append(request.headers["webhook-id"])
        return Response("ok", status=200)

    threaded_receiver.expect_request("/hook", method="POST").respond_with_handler(answer)
    env = environment(emulator, scf, tmp_path / "store", threaded_receiver.url_for("/hook"))
    del env["JOBWATCH_CI_BUCKETS"]
    env |= {"JOBWATCH_CI_BUCKET": "demo-1250000000", "JOBWATCH_CI_REGION": "ap-guangzhou"}
    scf.workers["default/jobwatch"] = env
    from datetime import datetime, timezone

    from bench.backlog_bench import fill
    from jobwatch.records import Records
    from jobwatch.store import FileStore

    made = sorted(fill(Records(FileStore(tmp_path / "store")), threaded_receiver.url_for("/hook"),
                       [datetime.now(timezone.utc)] * 120))  # fmt: skip
    summaries = []
    until = time.monotonic() + 90
    while time.monotonic() < until and len(set(delivered)) < len(made):
        summaries.append(sweep(env))
    assert scf.wait_idle(60)
    assert summaries[0]["deliveries"].get("backlog")
    assert summaries[1]["fanout"]["deliveryShards"] == 7
    assert any(run.answer.get("shard", "").split("-")[-1].startswith("d") for run in scf.runs)
    assert sorted(delivered) == made  # each event delivered, none twice
