"""The sweep through main_handler against the emulator and a real store: diffing, events, deadlines, overlap."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from devkit.ciemu import CIEmulator, EmulatedJob
from devkit.counting import CountingStore
from jobwatch.ci import CIClient
from jobwatch.config import Settings
from jobwatch.deadline import Deadline
from jobwatch.entry import Ports, handle
from jobwatch.notify.guard import AddressGuard
from jobwatch.records import Records
from jobwatch.store import FileStore, ObjectStore
from jobwatch.sweep import HEARTBEAT, Sweeper
from tests.conftest import load_event
from tests.functional.conftest import CREDENTIALS, concurrently
from tests.stored import stored_ids

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CONTEXT = {"request_id": "test-request", "time_limit_in_ms": 60_000}
TIMER = load_event("timer.json")


def make_ports(emulator: CIEmulator, store: ObjectStore, **env: str) -> Ports:
    settings = Settings.from_env(
        {
            "JOBWATCH_CI_ENDPOINT": emulator.url,
            "JOBWATCH_CI_BUCKET": "demo-1250000000",
            "JOBWATCH_CI_REGION": "ap-guangzhou",
            "JOBWATCH_TRACK_OBJECTS": "false",  # batch states only here; tests/functional/test_objects.py follows objects
            **env,
        }
    )
    client = CIClient(emulator.url, CREDENTIALS, sleep=lambda s: None)
    # jobwatch's clock follows the emulator's, so moving emulated time moves both sides.
    return Ports(
        settings, Records(store), lambda: client, clock=lambda: datetime.fromtimestamp(emulator.clock(), timezone.utc)
    )


@pytest.fixture
def ports(emulator: CIEmulator, tmp_path: Path) -> Ports:
    return make_ports(emulator, FileStore(tmp_path / "store"))


def sweep(ports: Ports, context: dict[str, Any] | None = None) -> dict[str, Any]:
    result = handle(TIMER, context or CONTEXT, ports=ports)
    assert result["ok"], result
    return result


def events_of(ports: Ports) -> list[dict[str, Any]]:
    store = ports.records.store
    return [json.loads(store.get(k) or b"") for k in store.list("events/")]


def job(
    emulator: CIEmulator, *, running: float = 30, final: str = "Success", kind: str = "Job", created_offset: float = 0.0
) -> EmulatedJob:
    """One job created now (+offset) that runs ``running`` seconds after a 1 s queue wait."""
    n = len(emulator.book.all())
    return emulator.book.add(
        EmulatedJob(
            f"b{n:032x}",
            kind,
            f"job-{n}",
            emulator.clock() + created_offset,
            {"Prefix": "in/"},
            {"WorkflowIds": "w1"} if kind == "Workflow" else {"Tag": "Transcode"},
            submitted_for=1,
            running_for=running,
            final=final,
        )
    )


class TestDiffing:
    def test_first_sweep_records_without_events(self, emulator: CIEmulator, ports: Ports) -> None:
        """The first sweep records every active job of both types and reports no history."""
        made = emulator.book.preload(12, seed=1)
        result = sweep(ports)
        assert result["jobsSeen"] == 12 and result["eventsEmitted"] == 0
        assert sorted(stored_ids(ports.records, "jobs")) == sorted(j.job_id for j in made)
        assert {ports.records.job(j.job_id)["type"] for j in made} == {"Workflow", "Job"}  # type: ignore[index]

    def test_finished_job_emits_once(self, emulator: CIEmulator, ports: Ports) -> None:
        """A job that ends yields one terminal event, and later sweeps add none."""
        j = job(emulator, running=5)
        sweep(ports)
        emulator.clock.advance(30)
        assert sweep(ports)["eventsEmitted"] == 1
        assert sweep(ports)["eventsEmitted"] == 0
        (event,) = events_of(ports)
        assert event["id"] == f"evt-{j.job_id}-success" and event["type"] == "ci.batchjob.succeeded"
        assert event["payload"]["data"]["previousState"] == "Submitted"
        assert event["targets"] == {} and event["status"] == "delivered"  # nothing configured to deliver to
        record = ports.records.job(j.job_id)
        assert record is not None and [h["state"] for h in record["history"]] == ["Submitted", "Success"]

    @pytest.mark.parametrize(("final", "kind"), [("Failed", "ci.batchjob.failed"), ("Cancel", "ci.batchjob.cancelled")])
    def test_other_terminal_types(self, emulator: CIEmulator, ports: Ports, final: str, kind: str) -> None:
        """Failed and cancelled jobs make their own event types."""
        j = job(emulator, running=5, final="Failed")
        sweep(ports)
        if final == "Cancel":
            emulator.book.cancel(j.job_id)
        emulator.clock.advance(30)
        sweep(ports)
        assert [e["type"] for e in events_of(ports)] == [kind]

    def test_unchanged_jobs_not_read_or_written(self, emulator: CIEmulator, ports: Ports) -> None:
        """A sweep that finds nothing new writes no record and creates no event."""
        emulator.book.preload(30, seed=2, duration=(500, 600))
        emulator.clock.advance(10)
        sweep(ports)
        result = sweep(ports)
        assert result["recordsWritten"] == 0 and result["eventsEmitted"] == 0 and result["transitions"] == 0

    def test_quiet_sweep_writes_nothing(self, emulator: CIEmulator, tmp_path: Path) -> None:
        """A sweep that finds nothing new puts, creates and deletes nothing in the store, not even its summary;
        once the stored summary is older than the heartbeat, a quiet sweep stores one again."""
        store = CountingStore(FileStore(tmp_path))
        ports = make_ports(emulator, store)
        emulator.book.preload(30, seed=2, duration=(5000, 6000))
        sweep(ports)
        emulator.clock.advance(10)
        sweep(ports)  # the jobs start running: records and a summary are written
        store.written.clear()
        emulator.clock.advance(30)
        result = sweep(ports)
        assert result["stored"] is False and store.written == []
        emulator.clock.advance(HEARTBEAT.total_seconds())
        assert "stored" not in sweep(ports) and [k for k in store.written if k.startswith("sweeps/")]

    def test_state_changes_with_notify_all(self, emulator: CIEmulator, tmp_path: Path) -> None:
        """With JOBWATCH_NOTIFY_ON=all, Submitted → Running is a state_changed event too."""
        ports = make_ports(emulator, FileStore(tmp_path), JOBWATCH_NOTIFY_ON="all")
        j = job(emulator, running=100)
        sweep(ports)
        emulator.clock.advance(5)
        sweep(ports)
        (event,) = events_of(ports)
        assert event["type"] == "ci.batchjob.state_changed" and event["state"] == "Running"
        assert event["id"] == f"evt-{j.job_id}-0002-running"

    def test_job_started_and_ended_between_sweeps(self, emulator: CIEmulator, ports: Ports) -> None:
        """A job created after one sweep and finished before the next is still reported."""
        sweep(ports)
        emulator.clock.advance(1)
        j = job(emulator, running=2)
        emulator.clock.advance(20)
        result = sweep(ports)
        assert [e["jobId"] for e in events_of(ports)] == [j.job_id] and result["eventsEmitted"] == 1

    def test_vanished_job_is_described(self, emulator: CIEmulator, ports: Ports) -> None:
        """A job that left the active list (and is older than the history window) is described, not lost."""
        j = job(emulator, running=5000)
        emulator.clock.advance(1000)  # first seen Running, long after it was created
        sweep(ports)
        emulator.clock.advance(5000)
        result = sweep(ports)
        assert result["ciRequests"].get("describe") == 1
        assert [e["jobId"] for e in events_of(ports)] == [j.job_id]

    def test_watched_unknown_job_recorded_once(self, emulator: CIEmulator, ports: Ports) -> None:
        """A watched ID CI does not know is recorded as non-existent once and then no longer asked about."""
        ghost = "b" + "e" * 32
        assert handle({"action": "watch", "jobId": ghost}, CONTEXT, ports=ports)["ok"]
        first = sweep(ports)
        assert first["nonExistJobIds"] == [ghost]
        assert ports.records.job(ghost) == {**ports.records.job(ghost), "nonExistent": True}  # type: ignore[dict-item]
        second = sweep(ports)
        assert second["nonExistJobIds"] == [] and second["ciRequests"].get("describe") is None
        assert ports.records.finished_watch(ghost)["nonExistent"] is True  # type: ignore[index]

    def test_watched_job_finished_before_first_sweep(self, emulator: CIEmulator, tmp_path: Path) -> None:
        """A watch on a job that already ended gets its event even on the very first sweep (with watch-all off)."""
        ports = make_ports(emulator, FileStore(tmp_path), JOBWATCH_WATCH_ALL="false")
        j = job(emulator, running=1)
        emulator.clock.advance(10)
        handle({"action": "watch", "jobId": j.job_id, "metadata": {"ticket": "T-1"}}, CONTEXT, ports=ports)
        result = sweep(ports)
        (event,) = events_of(ports)
        assert event["payload"]["data"]["metadata"] == {"ticket": "T-1"} and result["ciRequests"] == {
            "describe": 1,
            "total": 1,
        }
        assert ports.records.watch(j.job_id) is None  # moved out of the sweeps' reads
        assert ports.records.finished_watch(j.job_id)["finalState"] == "Success"  # type: ignore[index]

    def test_stuck_job_reported_once(self, emulator: CIEmulator, tmp_path: Path) -> None:
        """A job active longer than JOBWATCH_STUCK_AFTER gets one stuck event, however many sweeps follow."""
        ports = make_ports(emulator, FileStore(tmp_path), JOBWATCH_STUCK_AFTER="60")
        j = job(emulator, running=10_000)
        sweep(ports)
        emulator.clock.advance(120)
        for _ in range(3):
            sweep(ports)
            emulator.clock.advance(30)
        assert [e["id"] for e in events_of(ports)] == [f"evt-{j.job_id}-stuck"]

    def test_request_count_for_active_jobs(self, emulator: CIEmulator, ports: Ports) -> None:
        """N active jobs cost ceil(N_type/100) list pages per type, twice (active and history), and no describe."""
        emulator.book.preload(450, seed=3, duration=(500, 600))
        sweep(ports)
        result = sweep(ports)
        per_type = [sum(1 for j in emulator.book.all() if j.type == t) for t in ("Workflow", "Job")]
        pages = sum(-(-n // 100) for n in per_type)
        assert result["ciRequests"] == {"list": 2 * pages, "total": 2 * pages}


class TestResilience:
    def test_deadline_cut_and_resume(self, emulator: CIEmulator, tmp_path: Path) -> None:
        """A sweep cut short persists what it did; the next one finishes; no event is lost or doubled."""
        ports = make_ports(emulator, FileStore(tmp_path))
        made = emulator.book.preload(40, seed=4, duration=(5, 10))
        sweep(ports)
        emulator.clock.advance(60)  # every job has ended
        ticks = iter(range(10_000))
        # A clock that moves 1 s per look: after a few jobs the deadline (with its margin) has passed.
        short = Deadline(at=8.0, clock=lambda: float(next(ticks)))
        cut = Sweeper(ports.settings, ports.ci, ports.records, margin=1.0).run(short)
        assert cut["complete"] is False and 0 < cut["eventsEmitted"] < 40
        rest = sweep(ports)
        assert rest["complete"] is True
        assert cut["eventsEmitted"] + rest["eventsEmitted"] == 40
        assert sorted(e["jobId"] for e in events_of(ports)) == sorted(j.job_id for j in made)

    def test_ci_outage_loses_nothing(self, emulator: CIEmulator, ports: Ports) -> None:
        """During a CI outage the sweep answers ok=false; after it, every ended job is reported."""
        made = emulator.book.preload(10, seed=5, duration=(5, 10))
        sweep(ports)
        emulator.clock.advance(60)
        emulator.faults.error_ratio = 1.0
        down = handle(TIMER, CONTEXT, ports=ports)
        assert down["ok"] is False and "InternalError" in down["errors"][0]
        emulator.faults.error_ratio = 0.0
        assert sweep(ports)["eventsEmitted"] == 10
        assert len(events_of(ports)) == len(made)

    def test_corrupt_record_rebuilt(self, emulator: CIEmulator, ports: Ports) -> None:
        """A damaged job record is rebuilt from CI, and the job's end is still reported."""
        j = job(emulator, running=5)
        sweep(ports)
        ports.records.store.put(ports.records.job_key(j.job_id), b"{not json")
        emulator.clock.advance(30)
        sweep(ports)
        assert ports.records.job(j.job_id)["state"] == "Success"  # type: ignore[index]
        assert [e["type"] for e in events_of(ports)] == ["ci.batchjob.succeeded"]


@pytest.mark.parametrize("backend", ["file", "s3-serialised"])
def test_concurrent_sweeps_exactly_once(
    emulator: CIEmulator, tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    """Four sweeps at a time, round after round, over one store: each ended job has exactly one event.

    On S3 this holds here only because the moto fixture answers one request at a time: moto checks If-None-Match and
    stores in two steps, so two racing creates could both win on it. What it shows is jobwatch's side (one
    conditional create per event, 412/409 read as "exists"); atomicity is the service's (COS, S3), see
    RELIABILITY.md, and test_s3_conditional.py tests the client's handling of each answer directly."""
    store: ObjectStore = FileStore(tmp_path) if backend == "file" else request.getfixturevalue("s3_store")
    ports_list = [make_ports(emulator, store, JOBWATCH_NOTIFY_ON="all") for _ in range(4)]
    # moto answers one request at a time (~8 ms each), so the S3 round uses fewer jobs.
    made = emulator.book.preload(60 if backend == "file" else 24, seed=6, duration=(5, 40))
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def run(p: Ports) -> None:
        r = handle(TIMER, CONTEXT, ports=p)
        with lock:
            results.append(r)

    for _round in range(8):
        concurrently(run, ports_list)
        emulator.clock.advance(7)
    assert all(r["ok"] for r in results)
    events = events_of(ports_list[0])
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) == sum(r["eventsEmitted"] for r in results)
    terminal = [e["jobId"] for e in events if e["type"] != "ci.batchjob.state_changed"]
    assert sorted(terminal) == sorted(j.job_id for j in made)


class TestHandlerEvents:
    @pytest.mark.parametrize("name", ["timer.json", "timer-lowercase.json", "invoke-sweep.json"])
    def test_sweep_triggers(self, emulator: CIEmulator, ports: Ports, name: str) -> None:
        """Timer events (any casing of Type) and {"action": "sweep"} run a sweep."""
        emulator.book.preload(3, seed=7)
        result = handle(load_event(name), load_event("context.json"), ports=ports)
        assert result["ok"] and result["jobsSeen"] == 3 and json.dumps(result)

    @pytest.mark.parametrize("name", ["http-functionurl-healthz.json", "http-apigateway-healthz.json"])
    def test_http_healthz(self, ports: Ports, name: str) -> None:
        """Both HTTP event shapes reach the API; /healthz answers 200 in the integration format."""
        result = handle(load_event(name), {}, ports=ports)
        assert result["statusCode"] == 200 and json.loads(result["body"]) == {"ok": True}
        assert result["isBase64Encoded"] is False

    @pytest.mark.parametrize(
        "event",
        [
            {"httpMethod": "GET"},
            {"httpMethod": "GET", "path": 5},
            {"httpMethod": 1, "path": "/"},
            {"httpMethod": "GET", "path": "/", "headers": "x"},
        ],
    )
    def test_malformed_http_is_400(self, ports: Ports, event: dict[str, Any]) -> None:
        """An HTTP event with a missing or malformed part gets a 400 JSON error."""
        result = handle(event, {}, ports=ports)
        assert result["statusCode"] == 400 and json.loads(result["body"])["error"]["code"] == "InvalidArgument"

    def test_describe(self, emulator: CIEmulator, ports: Ports) -> None:
        """{"action": "describe"} answers live status and non-existent IDs."""
        j = job(emulator)
        result = handle({"action": "describe", "jobIds": [j.job_id, "b" + "f" * 32]}, {}, ports=ports)
        assert result["ok"] and result["jobs"][0]["jobId"] == j.job_id and result["nonExistJobIds"] == ["b" + "f" * 32]

    @pytest.mark.parametrize(
        "event",
        [
            {"action": "describe"},
            {"action": "describe", "jobIds": []},
            {"action": "describe", "jobIds": ["../x"]},
            {"action": "describe", "jobIds": ["b1"] * 101},
            {"action": "watch"},
            {"action": "watch", "jobId": "b1", "callbackUrl": " "},
            {"action": "watch", "jobId": "b1", "callbackUrl": "ftp://x"},
            {"action": "watch", "jobId": "b1", "metadata": "x"},
            {"action": "watch", "jobId": "b1", "chainFunction": "bad name"},
            {"action": "unwatch", "jobId": 5},
            {"action": "watch", "jobId": "b1", "extra": 1},
        ],
    )
    def test_bad_invokes(self, ports: Ports, event: dict[str, Any]) -> None:
        """Bad direct invokes answer ok=false with InvalidArgument and store nothing."""
        result = handle(event, {}, ports=ports)
        assert result["ok"] is False and result["error"]["code"] in ("InvalidArgument", "RefusedURL")
        assert list(ports.records.store.list("watches/")) == []

    def test_watch_unwatch(self, emulator: CIEmulator, tmp_path: Path) -> None:
        """watch stores the registration (idempotently); unwatch removes it."""
        ports = make_ports(emulator, FileStore(tmp_path), JOBWATCH_WEBHOOK_SECRET=SECRET)
        ports.guard = AddressGuard(resolver=lambda host, port: ["93.184.216.34"])  # a public address, never dialled
        event = load_event("invoke-watch.json")
        first = handle(event, {}, ports=ports)
        again = handle(event, {}, ports=ports)
        assert first["created"] is True and again["created"] is False
        assert ports.records.watch(event["jobId"])["metadata"] == {"team": "media", "ticket": "MEDIA-42"}  # type: ignore[index]
        assert handle(load_event("invoke-unwatch.json"), {}, ports=ports)["ok"]
        assert ports.records.watch(event["jobId"]) is None

    @pytest.mark.parametrize("event", [{}, {"foo": 1}, [], "timer", None, {"Type": 5}, {"action": "explode"}])
    def test_unknown_events(self, ports: Ports, event: Any) -> None:
        """Anything else is answered ok=false, naming what was expected."""
        result = handle(event, {}, ports=ports)
        assert result["ok"] is False and result["error"]["code"] in ("InvalidEvent", "InvalidAction")

    def test_unexpected_error_is_contained(self, ports: Ports, capsys: pytest.CaptureFixture[str]) -> None:
        """A bug inside becomes an InternalError result naming the request id, and a logged traceback."""

        def boom(*a: Any, **k: Any) -> None:
            raise RuntimeError("secret-internal-detail")

        ports.records.latest_summary = boom  # type: ignore[method-assign]
        result = handle(TIMER, {"request_id": "req-42"}, ports=ports)
        assert result["ok"] is False and result["error"]["code"] == "InternalError"
        assert "req-42" in result["error"]["message"] and "secret-internal-detail" not in json.dumps(result)

    def test_bad_configuration_named(self) -> None:
        """A bad variable answers ok=false naming it, instead of crashing the import or the call."""
        result = handle(TIMER, {}, environ={"JOBWATCH_NOTIFY_ON": "sometimes"})
        assert result["ok"] is False and "JOBWATCH_NOTIFY_ON" in result["error"]["message"]

    def test_main_handler_entry(self, emulator: CIEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """index.main_handler reads the environment and runs a sweep with a callable remaining-time context."""
        import index

        for key, value in {
            "JOBWATCH_CI_ENDPOINT": emulator.url,
            "JOBWATCH_CI_BUCKET": "demo-1250000000",
            "TENCENTCLOUD_SECRETID": CREDENTIALS.secret_id,
            "TENCENTCLOUD_SECRETKEY": CREDENTIALS.secret_key,
            "JOBWATCH_STORE": f"file:{tmp_path}",
        }.items():
            monkeypatch.setenv(key, value)
        emulator.book.preload(2, seed=8)
        result = index.main_handler(TIMER, {"request_id": "r", "get_remaining_time_in_millis": lambda: 20_000})
        assert result["ok"] and result["jobsSeen"] == 2 and (tmp_path / "sweeps" / "latest.json").exists()


def test_no_secret_reaches_logs_or_answers(
    emulator: CIEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With DEBUG logs, sweeps, a failing CI call, API requests and deliveries print and return no secret."""
    secrets = {"secret_key": CREDENTIALS.secret_key, "token": "session-token-123456", "api": "api-token-abcdef",
               "webhook": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}  # fmt: skip
    env = {"JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
           "TENCENTCLOUD_SECRETID": CREDENTIALS.secret_id, "TENCENTCLOUD_SECRETKEY": secrets["secret_key"],
           "TENCENTCLOUD_SESSIONTOKEN": secrets["token"], "JOBWATCH_API_TOKEN": secrets["api"],
           "JOBWATCH_WEBHOOK_SECRET": secrets["webhook"], "JOBWATCH_WEBHOOK_URL": "http://127.0.0.1:9/hook?key=receiver-token-xyz",
           "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.0/8", "JOBWATCH_STORE": f"file:{tmp_path}", "JOBWATCH_LOG_LEVEL": "DEBUG"}  # fmt: skip
    emulator.book.preload(3, seed=21, duration=(1, 2))
    answers = [handle(TIMER, CONTEXT, environ=env)]
    emulator.clock.advance(30)
    answers.append(handle(TIMER, CONTEXT, environ=env))  # events, a failing delivery (nothing on port 9)
    emulator.options.secret_key = "rotated"  # CI now refuses our signature: the error is logged and answered
    answers.append(handle(TIMER, CONTEXT, environ=env))
    answers.append(handle({"httpMethod": "GET", "path": "/jobs", "headers": {"authorization": f"Bearer {secrets['api']}"}},
                          CONTEXT, environ=env))  # fmt: skip
    printed = capsys.readouterr().out + json.dumps(answers)
    assert "InvalidAuthorization" in printed and "delivery to http://127.0.0.1:9/… (wh-" in printed
    for name, value in {**secrets, "receiver": "receiver-token-xyz"}.items():
        assert value not in printed, name


def test_dated_summaries_stay_small(emulator: CIEmulator, ports: Ports) -> None:
    """Only sweeps/latest.json carries the per-job state; the dated summaries do not grow with active jobs."""
    emulator.book.preload(200, seed=22, duration=(500, 600))
    sweep(ports)
    store = ports.records.store
    (dated,) = [k for k in store.list("sweeps/") if k != "sweeps/latest.json"]
    latest = json.loads(store.get("sweeps/latest.json") or b"")
    assert len(latest["known"]) == 200 and "known" not in json.loads(store.get(dated) or b"")
    assert len(store.get(dated) or b"") < 2000


class OrderedClient(CIClient):
    """The real client, noting when each request starts and ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeline: list[tuple[str, str]] = []  # (op, "start" | "end"), in order

    def _send_once(self, op: str, *args: Any) -> bytes:
        self.timeline.append((op, "start"))
        try:
            return super()._send_once(op, *args)
        finally:
            self.timeline.append((op, "end"))


def test_jobs_that_left_are_described_while_listing_goes_on(emulator: CIEmulator, tmp_path: Path) -> None:
    """Known jobs a finished listing window no longer shows are described before the last window is listed."""
    made = emulator.book.preload(600, seed=4, spread=6 * 3600, duration=(10**6, 2 * 10**6))
    settings = Settings.from_env(
        {"JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "b-1250000000", "JOBWATCH_TRACK_OBJECTS": "false"}
    )
    client = OrderedClient(emulator.url, CREDENTIALS, max_workers=2)  # two at a time: the windows take rounds
    records = Records(FileStore(tmp_path))
    clock = lambda: datetime.fromtimestamp(emulator.clock(), timezone.utc)  # noqa: E731
    Sweeper(settings, client, records, now=clock).run(Deadline.after(60))
    for job in made[:60]:
        job.running_for = 1.0  # ended long ago
    emulator.clock.advance(60)
    client.timeline.clear()
    summary = Sweeper(settings, client, records, now=clock).run(Deadline.after(60))
    assert summary["complete"] and summary["transitions"] == 60
    starts = [op for op, at in client.timeline if at == "start"]
    last_list = len(starts) - 1 - starts[::-1].index("list")
    assert "describe" in starts[:last_list], starts
    assert {records.job(job.job_id)["state"] for job in made[:60]} <= {"Success", "Failed", "Cancel"}
