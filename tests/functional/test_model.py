"""A model-based test (hypothesis stateful): random batch lifecycles of both types with objects, random CI faults,
overlapping sweeps and CI callbacks. After every step: no terminal event for a job CI still runs or whose objects
still run, never two terminal events for one job, every stored document parses. At the end, clean sweeps: every
ended job has exactly one terminal event, delivered to a healthy receiver."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from devkit.ciemu import CIEmulator, EmulatedJob
from devkit.ciemu import objects as emu_objects
from devkit.receiver import WebhookReceiver, new_secret
from jobwatch.ci import CIClient
from jobwatch.config import Settings
from jobwatch.entry import Ports, handle
from jobwatch.events import TERMINAL_TYPES
from jobwatch.notify.guard import AddressGuard
from jobwatch.notify.outbox import Dispatcher
from jobwatch.notify.webhook import WebhookSender
from jobwatch.records import Records
from jobwatch.store import FileStore
from tests.functional.conftest import CREDENTIALS
from tests.stored import stored_ids

TERMINAL = frozenset(TERMINAL_TYPES.values())  # the three terminal event types
TIMER = {"Type": "Timer", "TriggerName": "model"}
CONTEXT = {"time_limit_in_ms": 30_000}


class Lifecycles(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = TemporaryDirectory()
        self.emulator = CIEmulator().start()
        secret = new_secret()
        self.receiver = WebhookReceiver(secret).start()
        config = Settings.from_env({
            "JOBWATCH_CI_ENDPOINT": self.emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
            "JOBWATCH_WEBHOOK_URL": self.receiver.url, "JOBWATCH_WEBHOOK_SECRET": secret,
            "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.1/32", "JOBWATCH_CALLBACK_TOKEN": "cb-token",
            "JOBWATCH_API_TOKEN": "api-token",
        })  # fmt: skip
        clock = lambda: datetime.fromtimestamp(self.emulator.clock(), timezone.utc)  # noqa: E731
        records = Records(FileStore(Path(self.tmp.name)))
        guard = AddressGuard(config.callback_allow_nets)
        client = CIClient(self.emulator.url, CREDENTIALS, sleep=lambda s: None)
        notifier = Dispatcher(
            records, config.webhook_secrets, webhooks=WebhookSender(guard), now=clock, rng=lambda: 0.5
        )
        self.ports = Ports(config, records, lambda: client, notifier=notifier, clock=clock, guard=guard)
        self.jobs: list[EmulatedJob] = []
        self.serial = 0
        self.baseline_at: float | None = None

    def teardown(self) -> None:
        try:
            self.emulator.faults.script.clear()
            for _ in range(12):  # clean sweeps: every job ends, every event is delivered
                self.emulator.clock.advance(400)
                handle(TIMER, CONTEXT, ports=self.ports)
                self.note_baseline()
            events = self.events()
            terminal = Counter(e["jobId"] for e in events if e["type"] in TERMINAL)
            assert self.baseline_at is not None
            owed = {j.job_id for j in self.jobs if self.owed(j, self.baseline_at)}
            assert set(terminal) >= owed and all(n == 1 for n in terminal.values()), (owed - set(terminal), terminal)
            assert all(e["status"] == "delivered" for e in events), [e["status"] for e in events]
            assert all(self.receiver.seen[e["id"]] >= 1 for e in events)
        finally:
            self.receiver.stop()
            self.emulator.stop()
            self.tmp.cleanup()

    @staticmethod
    def owed(job: EmulatedJob, baseline_at: float) -> bool:
        """The emulator's truth, not jobwatch's records: a job is owed a terminal event when it was created after the
        first complete sweep, or was still active then (that sweep reports no history: jobs over by then are not)."""
        return job.created_at >= baseline_at or job.state_at(baseline_at)[0] not in ("Success", "Failed", "Cancel")

    def note_baseline(self) -> None:
        """The emulated time of the first complete sweep (the clock stands still while a rule sweeps)."""
        if self.baseline_at is None and (self.ports.records.latest_summary() or {}).get("baselined"):
            self.baseline_at = self.emulator.clock()

    def events(self) -> list[dict[str, Any]]:
        return [e for e in (self.ports.records.event(i) for i in stored_ids(self.ports.records, "events")) if e]

    @rule(kind=st.sampled_from(["Workflow", "Job"]), running=st.integers(1, 120), objects=st.integers(0, 6),
          fails=st.booleans())  # fmt: skip
    def add_batch(self, kind: str, running: int, objects: int, fails: bool) -> None:
        self.serial += 1
        job = EmulatedJob(f"b{self.serial:032x}", kind, f"m-{self.serial}", self.emulator.clock(), {"Prefix": "in/"},
                          {"WorkflowIds": "w1"} if kind == "Workflow" else {"Tag": "Transcode", "QueueId": "q1"},
                          running_for=running, objects=objects, object_failure_ratio=0.5 if fails else 0.0,
                          object_duration=(1, 60), final="Failed" if fails and objects == 0 else "Success")  # fmt: skip
        self.jobs.append(self.emulator.book.add(job))

    @rule(seconds=st.integers(1, 200))
    def advance(self, seconds: int) -> None:
        self.emulator.clock.advance(seconds)

    @rule()
    def sweep(self) -> None:
        assert "sweepId" in handle(TIMER, CONTEXT, ports=self.ports)

    @rule()
    def overlapping_sweeps(self) -> None:
        threads = [threading.Thread(target=handle, args=(TIMER, CONTEXT), kwargs={"ports": self.ports}) for _ in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    @rule()
    def ci_callback(self) -> None:
        event = {"httpMethod": "POST", "path": "/ci-callback", "headers": {"content-type": "application/json"},
                 "queryString": {"token": "cb-token"}, "body": json.dumps({"EventName": "TaskFinish"})}  # fmt: skip
        assert handle(event, CONTEXT, ports=self.ports)["statusCode"] == 202

    @rule(fault=st.sampled_from(["500", "503", "429", "malformed", "truncated", "drop"]), count=st.integers(1, 8))
    def ci_faults(self, fault: str, count: int) -> None:
        self.emulator.faults.script.extend([fault] * count)

    @invariant()
    def no_early_or_double_terminal_event(self) -> None:
        now = self.emulator.clock()
        terminal = Counter(e["jobId"] for e in self.events() if e["type"] in TERMINAL)
        assert all(n == 1 for n in terminal.values()), terminal
        for job in self.jobs:
            if job.job_id in terminal:
                assert job.state_at(now)[0] in ("Success", "Failed", "Cancel"), job.job_id
                streams = range(len(emu_objects.streams(job)))
                states = [c.state for s in streams for c in emu_objects.children(job, s, now, None, None, False, None)]
                assert not any(s in ("Submitted", "Running") for s in states), (job.job_id, states)

    @invariant()
    def baseline_noted(self) -> None:
        self.note_baseline()

    @invariant()
    def stored_documents_parse(self) -> None:
        for path in Path(self.tmp.name).rglob("*.json"):
            json.loads(path.read_text())


TestLifecycles = Lifecycles.TestCase
TestLifecycles.settings = settings(max_examples=25, stateful_step_count=16, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
