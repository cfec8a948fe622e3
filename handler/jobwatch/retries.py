"""Retrying a finished batch's failed objects (``POST /jobs/{jobId}/retry``, the ``retry`` action).

The failed objects come from the batch's completion report, read part by part (memory stays flat however many there
are). Their URLs, ``https://<bucket>.cos.<region>.myqcloud.com/<key>`` with the report's percent-encoded key, one a
line, go to ``jobwatch/retries/<jobId>/<n>.txt`` in the watched bucket (through the S3 API); a batch job with the
original's ``Type`` and ``Operation`` (as CI has it: the record's copy is redacted) and an ``Input`` of only that
``UrlFile`` is created, named ``<name>-retry-<n>``. More than ``LIST_ROWS`` objects make several lists and batches
(``<n>-2.txt``, ``<name>-retry-<n>-2``, …). The new batches are recorded (``retryOf``) and watched with the
original's watch, the original's record lists its retries, and one ``ci.batchjob.retried`` event is created. The
same request again (the same codes) answers what it created the first time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol

from . import events as ev
from . import history
from .ci.models import TERMINAL_STATES, Job
from .config import Settings
from .deadline import Deadline
from .errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from .records import Records
from .report import read_rows
from .targets import Target

LIST_ROWS = 100_000  # URLs a list holds (about 10 MB): more make several lists and batches
DRY_ROWS = 10
MAX_CODES = 20


class Creator(Protocol):
    def create(
        self, *, name: str, job_type: str, input: dict[str, Any], operation: dict[str, Any],
        deadline: Deadline | None = None,
    ) -> Job: ...  # fmt: skip

    def operation_of(self, job_id: str, *, deadline: Deadline | None = None) -> dict[str, Any] | None: ...


class ListWriter(Protocol):
    def put(self, key: str, data: bytes, content_type: str = ...) -> None: ...


def checked_request(body: object) -> tuple[list[str], bool]:
    """``{"codes"?: [...], "dryRun"?: bool}`` → (the codes, sorted; whether it is a dry run)."""
    if body is None:
        body = {}
    if not isinstance(body, dict) or set(body) - {"codes", "dryRun", "jobId", "action"}:
        raise InvalidInputError('a retry takes {"codes": [failure codes]} and {"dryRun": true}, both optional')
    codes = body.get("codes") or []
    if (
        not isinstance(codes, list)
        or len(codes) > MAX_CODES
        or not all(isinstance(c, str) and 0 < len(c) <= 128 for c in codes)
    ):
        raise InvalidInputError(f"codes is a list of at most {MAX_CODES} failure codes")
    dry = body.get("dryRun", False)
    if not isinstance(dry, bool):
        raise InvalidInputError("dryRun is true or false")
    return sorted(set(codes)), dry


class Retrier:
    """One retry request against one job."""

    def __init__(self, settings: Settings, records: Records, creator: Creator,
                 writer_for: Callable[[Target], ListWriter], now: Callable[[], datetime],
                 create_event: Callable[..., list[dict[str, Any]]]) -> None:  # fmt: skip
        self.settings, self.records, self.ci, self.writer_for, self.now = (
            settings, records, creator, writer_for, now)  # fmt: skip
        self.create_event = create_event  # a sweep's: the event, its deliveries and outbox marker, created once
        self.written: list[dict[str, Any]] = []  # records this request wrote, for the indexes
        self.events: list[dict[str, Any]] = []

    def retry(self, job_id: str, codes: list[str], dry: bool, deadline: Deadline) -> tuple[int, dict[str, Any]]:
        """(HTTP status, answer)."""
        if not self.settings.retry:
            raise ForbiddenError("retries are off: set JOBWATCH_RETRY=true (and grant what it needs, see README)")
        record = self.records.job(job_id)
        if record is None:
            raise NotFoundError(f"job {job_id} is not known")
        manifest = self.records.manifest(job_id)
        if record.get("state") not in TERMINAL_STATES or manifest is None:
            raise ConflictError(f"job {job_id} is not finished yet: its failed objects are retried once it is")
        if dry:  # one pass over the report: the count, and the first rows on the way
            first: list[dict[str, str]] = []
            count = 0
            for row in self._failed(manifest, codes):
                count += 1
                if len(first) < DRY_ROWS:
                    first.append(row)
            return 200, {"dryRun": True, "objects": count, "rows": first}
        for done in record.get("retries") or []:
            if done.get("codes") == codes and done.get("jobIds"):
                return 200, _answer(done)
        name = f"retry-{job_id}"
        round_no = len(record.get("retries") or []) + 1
        if not self.records.lease(name, round_no, self.now(), deadline):
            raise ConflictError(f"a retry of job {job_id} is being made: ask again in a moment")
        try:
            return self._make(record, manifest, codes, round_no, deadline)
        finally:
            self.records.delete_claim(name, round_no)

    def _failed(self, manifest: dict[str, Any], codes: list[str]) -> Iterator[dict[str, str]]:
        """The report's failed rows (of those codes), part by part."""
        for part in manifest.get("parts") or []:
            data = self.records.store.get(str(part["key"]))
            if data is None:
                raise NotFoundError(f"report part {part['key']} is missing from the store")
            for row in read_rows(data):
                if row.get("state") == "Failed" and (not codes or row.get("code") in codes):
                    yield row

    def _make(self, record: dict[str, Any], manifest: dict[str, Any], codes: list[str], n: int,
              deadline: Deadline) -> tuple[int, dict[str, Any]]:  # fmt: skip
        job_id = str(record["jobId"])
        target = self._target(record)
        writer = self.writer_for(target)
        host = f"https://{target.bucket}.cos.{target.region}.myqcloud.com/"
        lists: list[tuple[str, int]] = []
        chunk: list[str] = []

        def flush() -> None:
            key = f"jobwatch/retries/{job_id}/{n}{'' if not lists else f'-{len(lists) + 1}'}.txt"
            writer.put(key, ("\n".join(chunk) + "\n").encode(), content_type="text/plain; charset=utf-8")
            lists.append((key, len(chunk)))
            chunk.clear()

        for row in self._failed(manifest, codes):
            chunk.append(host + row["object"])  # the report's key is percent-encoded already, "/" kept
            if len(chunk) >= LIST_ROWS:
                flush()
        if chunk:
            flush()
        if not lists:
            raise ConflictError(f"job {job_id} has no failed objects{' with those codes' if codes else ''} to retry")
        operation = self._operation(record, deadline)
        created: list[str] = []
        for number, (key, _) in enumerate(lists, 1):
            name = f"{record.get('name') or job_id}-retry-{n}" + (f"-{number}" if number > 1 else "")
            job = self.ci.create(name=name[:128], job_type=str(record.get("type")), input={"UrlFile": host + key},
                                      operation=operation, deadline=deadline)  # fmt: skip
            created.append(job.job_id)
            self._follow(job, record, target)
        done = {"n": n, "codes": codes, "jobIds": created, "lists": [k for k, _ in lists],
                "objects": sum(c for _, c in lists), "at": self.now().isoformat()}  # fmt: skip
        current = self.records.job(job_id) or record
        current["retries"] = [*(current.get("retries") or []), done]
        self.records.put_job(current)
        self.written.append(current)
        self._event(current, done)
        return 201, _answer(done)

    def _operation(self, record: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
        """The original's Operation as CI still has it: the record's copy lost its URLs' secrets (a callback's
        token) to redaction. A job CI no longer knows is retried with the record's copy."""
        live = self.ci.operation_of(str(record["jobId"]), deadline=deadline)
        return live if live is not None else dict(record.get("operation") or {})

    def _target(self, record: dict[str, Any]) -> Target:
        if record.get("bucket") and record.get("region"):
            return Target(str(record["bucket"]), str(record["region"]))
        if self.settings.ci_bucket and self.settings.ci_region:
            return Target(self.settings.ci_bucket, self.settings.ci_region)
        raise ConflictError("the job's bucket and region are not known: set JOBWATCH_CI_REGION")

    def _follow(self, job: Job, original: dict[str, Any], target: Target) -> None:
        """The new batch's record (linked to the original) and the original's watch, for it too."""
        now = self.now()
        seen = history.observe(None, job, now, {"bucket": target.bucket, "region": target.region})
        linked = {**seen.record, "retryOf": original["jobId"]}
        self.records.put_job(linked)
        self.written.append(linked)
        watch = self.records.any_watch(original["jobId"])
        if watch is not None:
            fields = {k: watch.get(k) for k in ("callbackUrl", "chainFunction", "metadata", "bucket", "region")}
            self.records.put_watch({"jobId": job.job_id, **{k: v for k, v in fields.items() if v is not None},
                                    "createdAt": now.isoformat()})  # fmt: skip

    def _event(self, record: dict[str, Any], done: dict[str, Any]) -> None:
        extra = {"retryJobId": done["jobIds"][0], "retryJobIds": done["jobIds"], "objects": done["objects"],
                 "codes": done["codes"]}  # fmt: skip
        watch = self.records.any_watch(record["jobId"])
        self.events += self.create_event(ev.RETRIED, record, record.get("state"), int(done["n"]), watch, self.now(),
                                         extra=extra)  # fmt: skip


def _answer(done: dict[str, Any]) -> dict[str, Any]:
    return {"jobId": done["jobIds"][0], "jobIds": done["jobIds"], "objects": done["objects"], "list": done["lists"][0],
            "lists": done["lists"], "codes": done["codes"]}  # fmt: skip
