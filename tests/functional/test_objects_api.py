"""A job's story and its objects through the HTTP API (both event shapes) and the direct invoke."""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.ciemu import CIEmulator
from jobwatch.entry import Ports, handle
from jobwatch.report import md5_hex, read_rows
from tests.functional.apitools import SHAPES, build_ports, call


@pytest.fixture
def finished(emulator: CIEmulator, tmp_path: Path) -> tuple[Ports, str, str]:
    """A finished Job batch of 45 objects, some failed, and a running one."""
    (done,) = emulator.book.preload(1, seed=31, job_type="Job", duration=(10, 10), objects=45,
                                    object_failure_ratio=0.3, object_duration=(2, 5))  # fmt: skip
    (running,) = emulator.book.preload(1, seed=32, job_type="Workflow", duration=(500, 500), objects=200)
    ports = build_ports(emulator, tmp_path / "store")
    handle({"action": "sweep"}, {}, ports=ports)
    for _ in range(4):
        emulator.clock.advance(10)
        handle({"action": "sweep"}, {}, ports=ports)
    return ports, done.job_id, running.job_id


@pytest.mark.parametrize("shape", SHAPES)
def test_record_tells_the_whole_story(finished: tuple[Ports, str, str], shape: str) -> None:
    """GET /jobs/{id}/record: the record with object counts and history, its events, and the report manifest."""
    ports, done, _ = finished
    status, body, _ = call(ports, "GET", f"/jobs/{done}/record", shape=shape)
    assert status == 200 and "raw" not in body["record"]
    assert body["record"]["objects"]["total"] == 45 and [h["state"] for h in body["record"]["history"]][-1] == "Success"
    assert [e["type"] for e in body["events"]] == ["ci.batchjob.failed"]
    assert body["report"]["objects"]["total"] == 45


@pytest.mark.parametrize("shape", SHAPES)
def test_objects_paginate_and_filter(finished: tuple[Ports, str, str], shape: str) -> None:
    """GET /jobs/{id}/objects walks every object once by cursor; state=failed lists exactly the failures."""
    ports, done, _ = finished
    seen, cursor = [], ""
    while True:
        query = {"limit": "7", **({"cursor": cursor} if cursor else {})}
        status, page, _ = call(ports, "GET", f"/jobs/{done}/objects", query=query, shape=shape)
        assert status == 200
        seen += page["objects"]
        if not page["nextCursor"]:
            break
        cursor = page["nextCursor"]
    assert len(seen) == len({o["childId"] for o in seen}) == 45
    _, failed, _ = call(ports, "GET", f"/jobs/{done}/objects", query={"state": "failed", "limit": "100"}, shape=shape)
    assert failed["objects"] and all(o["state"] == "Failed" and o["code"] and o["message"] for o in failed["objects"])
    assert len(failed["objects"]) == sum(o["state"] == "Failed" for o in seen)


def test_objects_of_a_running_batch(finished: tuple[Ports, str, str]) -> None:
    """A running batch lists what is tracked so far, the active objects included; no report yet (404)."""
    ports, _, running = finished
    status, page, _ = call(ports, "GET", f"/jobs/{running}/objects", query={"state": "active", "limit": "100"})
    assert status == 200 and page["objects"] and {o["state"] for o in page["objects"]} <= {"Submitted", "Running"}
    status, body, _ = call(ports, "GET", f"/jobs/{running}/report")
    assert status == 404 and body["error"]["code"] == "NotFound"


@pytest.mark.parametrize("shape", SHAPES)
def test_report_and_part(finished: tuple[Ports, str, str], shape: str) -> None:
    """GET /jobs/{id}/report gives the manifest; /report/{part} the CSV whose md5 the manifest names."""
    ports, done, _ = finished
    status, manifest, _ = call(ports, "GET", f"/jobs/{done}/report", shape=shape)
    assert status == 200 and manifest["format"] == "jobwatch-objects-csv/2"
    (part,) = manifest["parts"]
    name = part["key"].rsplit("/", 1)[1]
    event = {"httpMethod": "GET", "path": f"/jobs/{done}/report/{name}",
             "headers": {"authorization": "Bearer change-me"}, "queryString": {}}  # fmt: skip
    result = handle(event, {}, ports=ports)
    assert result["statusCode"] == 200 and result["headers"]["Content-Type"].startswith("text/csv")
    data = result["body"].encode()
    assert md5_hex(data) == part["md5"] and len(read_rows(data)) == part["rows"] == 45


@pytest.mark.parametrize(
    ("path", "status"),
    [("/jobs/b1/record", 404), ("/jobs/b1/objects", 404), ("/jobs/b1/report", 404),
     ("/jobs/b1/report/objects-00001.csv", 404), ("/jobs/b1/report/..%2Fmanifest.json", 400),
     ("/jobs/b1/report/objects-1.csv", 400), ("/jobs/b..1/record", 400)],
)  # fmt: skip
def test_unknown_and_bad_reads(finished: tuple[Ports, str, str], path: str, status: int) -> None:
    """Unknown jobs and parts are 404; malformed names are 400; never a 5xx."""
    ports, _, _ = finished
    assert call(ports, "GET", path)[0] == status


def test_bad_object_queries(finished: tuple[Ports, str, str]) -> None:
    """A bad state, limit or cursor is a 400."""
    ports, done, _ = finished
    for query in (
        {"state": "Done"},
        {"limit": "0"},
        {"cursor": "!!"},
        {"cursor": "bzoxMjM0NTY3ODkwMQ=="},
        {"cursor": "eDox"},
    ):
        assert call(ports, "GET", f"/jobs/{done}/objects", query=query)[0] == 400


def test_direct_invoke_reads(finished: tuple[Ports, str, str]) -> None:
    """The direct invoke has the same reads: record, objects, report and one part."""
    ports, done, _ = finished
    record = handle({"action": "record", "jobId": done}, {}, ports=ports)
    assert record["ok"] and record["record"]["objects"]["total"] == 45
    objects = handle({"action": "objects", "jobId": done, "state": "failed"}, {}, ports=ports)
    assert objects["ok"] and all(o["state"] == "Failed" for o in objects["objects"])
    report = handle({"action": "report", "jobId": done}, {}, ports=ports)
    name = report["report"]["parts"][0]["key"].rsplit("/", 1)[1]
    part = handle({"action": "report", "jobId": done, "part": name}, {}, ports=ports)
    assert part["ok"] and part["csv"].startswith("object,state,code,message,childId,output")
    bad = handle({"action": "objects", "jobId": done, "limit": "ten"}, {}, ports=ports)
    assert bad["ok"] is False and bad["error"]["code"] == "InvalidArgument"


def test_objects_pages_read_what_they_return(
    emulator: CIEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paging through a batch whose report has many small parts: each page reads at most 3 stored documents and
    1 MiB, and all the pages together read each part about once (a cursor, not an offset from part 1)."""
    from devkit.counting import CountingStore
    from jobwatch import report

    monkeypatch.setattr(report, "MAX_PART_BYTES", 2048)  # parts of about ten rows
    (done,) = emulator.book.preload(1, seed=33, job_type="Job", duration=(10, 10), objects=300,
                                    object_failure_ratio=0.1, object_duration=(2, 5))  # fmt: skip
    ports = build_ports(emulator, tmp_path / "store")
    for _ in range(6):
        handle({"action": "sweep"}, {}, ports=ports)
        emulator.clock.advance(10)
    manifest = ports.records.manifest(done.job_id)
    assert manifest is not None and len(manifest["parts"]) > 20
    counting = CountingStore(ports.records.store)
    ports.records.store = counting  # type: ignore[assignment]
    seen, cursor, pages, reads = 0, "", 0, 0
    while True:
        counting.calls.clear()
        counting.bytes_read = 0
        query = {"limit": "25", **({"cursor": cursor} if cursor else {})}
        status, page, _ = call(ports, "GET", f"/jobs/{done.job_id}/objects", query=query)
        assert status == 200 and counting.calls["get"] <= 3 and counting.bytes_read <= 1024 * 1024
        seen, pages, reads = seen + len(page["objects"]), pages + 1, reads + counting.calls["get"]
        if not page["nextCursor"]:
            break
        cursor = page["nextCursor"]
    # one read of the track a page, and each part read by the page that starts in it and perhaps the one before
    assert seen == 300 and reads <= pages + 2 * len(manifest["parts"])
