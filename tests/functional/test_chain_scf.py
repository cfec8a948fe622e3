"""Chained invokes are tested like CI calls: against a local SCF endpoint (devkit.ciemu.scf) that checks the
TC3-HMAC-SHA256 signature of Invoke as the real API does, answers its JSON shapes and errors, and injects faults;
JOBWATCH_SCF_ENDPOINT points the function at it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator
from devkit.ciemu.scf import SCFEmulator
from jobwatch.config import Settings
from jobwatch.entry import handle
from jobwatch.service import Ports
from tests.stored import stored_ids


@pytest.fixture
def scf() -> Iterator[SCFEmulator]:
    with SCFEmulator() as emulator:
        yield emulator


def ports_for(emulator: CIEmulator, scf: SCFEmulator, tmp_path: Path, **env: str) -> Ports:
    settings = Settings.from_env({
        "JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000", "JOBWATCH_CI_REGION": "ap-guangzhou",
        "TENCENTCLOUD_SECRETID": TEST_SECRET_ID, "TENCENTCLOUD_SECRETKEY": TEST_SECRET_KEY,
        "JOBWATCH_STORE": f"file:{tmp_path / 'store'}", "JOBWATCH_CHAIN_FUNCTION": "next-step",
        "JOBWATCH_SCF_ENDPOINT": scf.url, "JOBWATCH_TRACK_OBJECTS": "false", **env,
    })  # fmt: skip
    return Ports.from_settings(settings)


def finish_one(emulator: CIEmulator, ports: Ports) -> str:
    (job,) = emulator.book.preload(1, seed=95, duration=(1, 2))
    job.final = "Success"
    handle({"action": "sweep"}, {}, ports=ports)
    emulator.clock.advance(30)
    handle({"action": "sweep"}, {}, ports=ports)
    return job.job_id


def events(ports: Ports) -> list[dict]:  # type: ignore[type-arg]
    return [ports.records.event(i) for i in stored_ids(ports.records, "events")]  # type: ignore[misc]


def test_signed_invoke_reaches_the_function(emulator: CIEmulator, scf: SCFEmulator, tmp_path: Path) -> None:
    """The finished job's event is invoked asynchronously (InvocationType Event), signed, with the body as context."""
    ports = ports_for(emulator, scf, tmp_path)
    job_id = finish_one(emulator, ports)
    (invocation,) = scf.invocations
    assert (invocation.function, invocation.namespace, invocation.invocation_type) == ("next-step", "default", "Event")
    body = json.loads(invocation.client_context)
    assert body["type"] == "ci.batchjob.succeeded" and body["data"]["jobId"] == job_id
    (event,) = events(ports)
    assert event["status"] == "delivered" and scf.auth_failures == 0


def test_wrong_key_is_refused_and_recorded(emulator: CIEmulator, scf: SCFEmulator, tmp_path: Path) -> None:
    """A wrong secret key fails the signature check: a failed attempt naming SCF's code, nothing invoked."""
    scf.secret_key = "another-key"
    ports = ports_for(emulator, scf, tmp_path)
    finish_one(emulator, ports)
    (event,) = events(ports)
    assert scf.invocations == [] and scf.auth_failures >= 1
    assert event["status"] == "pending" and "AuthFailure.SignatureFailure" in event["attempts"][0]["error"]


@pytest.mark.parametrize("fault", ["InternalError", "LimitExceeded", "ResourceUnavailable"])
def test_scf_faults_are_failed_attempts(emulator: CIEmulator, scf: SCFEmulator, tmp_path: Path, fault: str) -> None:
    """SCF's own errors are failed attempts, kept for a retry, with the code in the attempt."""
    scf.faults.append(fault)
    ports = ports_for(emulator, scf, tmp_path)
    finish_one(emulator, ports)
    (event,) = events(ports)
    assert event["status"] == "pending" and fault in event["attempts"][0]["error"] and scf.invocations == []


def test_unknown_function_is_a_failed_attempt(emulator: CIEmulator, scf: SCFEmulator, tmp_path: Path) -> None:
    """Chaining to a function that does not exist fails the attempt with ResourceNotFound.Function."""
    ports = ports_for(emulator, scf, tmp_path, JOBWATCH_CHAIN_FUNCTION="other/missing")
    finish_one(emulator, ports)
    (event,) = events(ports)
    assert "ResourceNotFound.Function" in event["attempts"][0]["error"]


def test_bad_scf_endpoint_is_named() -> None:
    """JOBWATCH_SCF_ENDPOINT must be an http(s) URL."""
    from jobwatch.errors import ConfigError

    with pytest.raises(ConfigError, match="JOBWATCH_SCF_ENDPOINT"):
        Settings.from_env({"JOBWATCH_SCF_ENDPOINT": "scf.local"})


def test_slow_invoke_keeps_the_deadline(emulator: CIEmulator, scf: SCFEmulator, tmp_path: Path) -> None:
    """An Invoke whose answer takes longer than the invocation has left is given up at its deadline, as a failed
    attempt kept for a retry."""
    from jobwatch.deadline import Deadline
    from jobwatch.notify.chain import ChainInvoker

    ports = ports_for(emulator, scf, tmp_path)
    invoker = ChainInvoker.from_settings(ports.settings)
    scf.faults.append("slow:8")
    started = time.monotonic()
    result = invoker.invoke("next-step", b"{}", Deadline.after(2.0))
    assert time.monotonic() - started < 2.5
    assert not result.ok and "deadline" in (result.error or "")
