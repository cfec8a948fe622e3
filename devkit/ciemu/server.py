"""A local CI emulator for ``/inventorytriggerjob``: real HTTP on 127.0.0.1, real signature checks.

Behaviour the real service leaves undocumented (ci-api.md §10) is an ``EmulatorOptions`` field, so tests can
pin the client against each plausible answer. Faults (latency, 5xx, 429 SlowDown, malformed or truncated bodies,
dropped connections) come from ``Faults``: scripted one per request, or drawn by ratio from a seeded RNG.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import sys
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

from lxml import etree

from devkit.localserver import LocalServer
from jobwatch.ci import signer, xmldoc
from jobwatch.errors import XMLError

from . import objects
from .jobs import CST, EmuClock, EmulatedJob, JobBook, ci_time, new_job_id

PATH = "/inventorytriggerjob"
STATES = ("Submitted", "Running", "Success", "Failed", "Pause", "Cancel")
TEST_SECRET_ID = "AKIDjobwatchEMULATOR000000000000"
TEST_SECRET_KEY = "emulator-secret-key-0000000000000"


@dataclass
class EmulatorOptions:
    """Answers to CI's open questions (ci-api.md §10); defaults follow the docs' own patterns."""

    secret_id: str = TEST_SECRET_ID
    secret_key: str = TEST_SECRET_KEY
    token: str | None = None  # when set, x-ci-security-token must carry it
    multi_describe: bool = True  # q1: comma-joined IDs on describe (False: 400 InvalidArgument)
    max_describe_ids: int = 10
    unknown_id: str = "nonexist"  # q1: single unknown ID → "nonexist" (200) | "not-found" | "invalid" (400)
    list_without_type: str = "both"  # q3: "both" | "workflow"
    last_page_token: str = "empty"  # q4: "empty" element | "absent"
    accept_cos_token_header: bool = True  # q5: x-cos-security-token as well
    cancel_requires_query: bool = True  # GO omits ?cancel; False tolerates that
    cancel_finished: str = "error"  # q2: "error" (400 InvalidArgument) | "noop" (200)
    # Objects of a batch (the per-object APIs leave these open):
    batch_end: str = "dispatched"  # a batch with objects ends once they are "dispatched" (CI may) or "done"
    execution_time_tag: str = "CreateTime"  # the docs' example says CreateTime; the Go SDK reads CreationTime
    execution_details_have_tasks: bool = True  # False: a failed execution's detail carries no Tasks
    child_without_state: set[str] = field(default_factory=set)  # these children's entries come without a State
    child_faults: list[str] = field(default_factory=list)  # faults for object listings only, one per request
    # An Input.UrlFile is read through this S3 endpoint (path-style; a local S3 server in tests and the demo): one
    # object per listed URL. Without it, a batch from a UrlFile is refused as CI refuses a list it cannot read.
    cos_endpoint: str | None = None
    job_without_state: set[str] = field(default_factory=set)  # these batch jobs' entries come without a State
    # these batch jobs' CreationTime in another form: "ms" (with milliseconds), "naive" (no offset), "empty"
    creation_time_form: dict[str, str] = field(default_factory=dict)


@dataclass
class Faults:
    """Fault injection. ``by_op`` entries (for one operation: ``describe``, ``list``…) are used first, then ``script``
    entries, one per request: ``"500"``, ``"503"``, ``"429"``, ``"malformed"``, ``"truncated"``, ``"drop"``,
    ``"slow:<seconds>"``, and answers that lie: ``"empty"`` (200 with no body), ``"rootless"`` (200 with another root
    element), ``"trickle:<seconds>"`` (the answer one byte every so many seconds)."""

    latency: float = 0.0
    error_ratio: float = 0.0
    throttle_ratio: float = 0.0
    malformed_ratio: float = 0.0
    truncated_ratio: float = 0.0
    drop_ratio: float = 0.0
    retry_after: int | None = 1
    seed: int = 7
    script: deque[str] = field(default_factory=deque)
    by_op: dict[str, deque[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def next(self, op: str = "") -> str | None:
        with self._lock:
            if self.by_op.get(op):
                return self.by_op[op].popleft()
            if self.script:
                return self.script.popleft()
            roll = self._rng.random()
        for name, ratio in (
            ("500", self.error_ratio),
            ("429", self.throttle_ratio),
            ("malformed", self.malformed_ratio),
            ("truncated", self.truncated_ratio),
            ("drop", self.drop_ratio),
        ):
            if roll < ratio:
                return name
            roll -= ratio
        return None


class CIError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (deadline, dropped fault) is normal here; anything else is printed.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class CIEmulator(LocalServer):
    """The emulator: ``start()``, ``url``, ``stop()``; or use it as a context manager.

    Buckets: with none added, every request is the one bucket's (``book``), whatever its ``Host``. ``add_bucket``
    gives a bucket in a region a book of its own, served to requests whose ``Host`` is that bucket's CI host, as CI's
    front end tells buckets apart; once any is added, a host naming no added bucket is refused as CI refuses a
    bucket it does not serve, and ``GET /mediabucket`` on ``ci.<region>.myqcloud.com`` lists the added ones."""

    _poll = 0.05
    _thread_name = "ci-emulator"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        options: EmulatorOptions | None = None,
        faults: Faults | None = None,
        clock: EmuClock | None = None,
    ) -> None:
        self.options = options or EmulatorOptions()
        self.faults = faults or Faults()
        self._book = JobBook(clock or EmuClock(), batch_end=self.options.batch_end)
        self.buckets: dict[str, tuple[str, str, JobBook]] = {}  # CI host → (bucket, region, its jobs)
        self.bucket_faults: dict[str, str] = {}  # bucket → "503", "429" or "AccessDenied" on every request to it
        self._request = threading.local()  # the book of the request this thread answers
        self.served: Counter[str] = Counter()  # requests answered per operation
        self.served_hosts: Counter[str] = Counter()  # requests answered per Host
        self.injected: Counter[str] = Counter()  # faults injected per kind
        self.auth_failures: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        # Each job's JobsDetail as last written, with what it was written from: a benchmark's emulator shares the
        # machine with the client it serves, and building every detail afresh cost more CPU than the client spent.
        self._written: dict[str, tuple[tuple[Any, ...], bytes]] = {}
        self._server = _QuietServer((host, port), _handler_for(self))

    @property
    def clock(self) -> EmuClock:
        return self._book.clock

    @property
    def book(self) -> JobBook:
        """The jobs of the bucket the current request names (outside a request: the one-bucket book)."""
        return getattr(self._request, "book", None) or self._book

    def add_bucket(self, bucket: str, region: str) -> JobBook:
        """A bucket with jobs of its own, served to requests for ``<bucket>.ci.<region>.myqcloud.com``."""
        book = JobBook(self.clock, batch_end=self.options.batch_end)
        self.buckets[f"{bucket}.ci.{region}.myqcloud.com"] = (bucket, region, book)
        return book

    def route(self, host: str, op: str) -> JobBook | None:
        """The book a request's ``Host`` names (None for a region host's bucket listing); refuses what CI would."""
        name = host.lower().rsplit(":", 1)[0] if not host.startswith("[") else host.lower()
        name = name.replace(".cos.", ".ci.", 1)  # the official SDK, pointed at an address, sends the COS host
        if op == "list_buckets":  # the region's host (or, from the SDK pointed at an address, that address)
            if name in self.buckets:
                raise CIError(400, "InvalidHost", "GET /mediabucket goes to ci.<region>.myqcloud.com")
            return None
        if name in self.buckets:
            bucket = self.buckets[name][0]
            fault = self.bucket_faults.get(bucket)
            if fault:
                self.count(self.injected, f"bucket:{fault}")
                raise {
                    "503": CIError(503, "ServiceUnavailable", "injected outage of this bucket"),
                    "429": CIError(429, "SlowDown", "injected throttling of this bucket"),
                    "AccessDenied": CIError(403, "AccessDenied", "the key may not act on this bucket"),
                }[fault]
            return self.buckets[name][2]
        if self.buckets:
            raise CIError(400, "MediaBucketUnBinded", "the bucket is not bound to CI media processing")
        return self._book

    def list_buckets(self, query: dict[str, str]) -> bytes:
        """``GET /mediabucket``: the added buckets of the ``regions`` asked for, paged."""
        regions = {r for r in (query.get("regions") or "").split(",") if r}
        number, size = (
            _int(query.get("pageNumber") or "1", "pageNumber"),
            _int(query.get("pageSize") or "10", "pageSize"),
        )
        if not 1 <= size <= 100 or number < 1:
            raise CIError(400, "InvalidArgument", "pageSize must be 1-100 and pageNumber at least 1")
        found = sorted((b, r) for b, r, _ in self.buckets.values() if not regions or r in regions or "All" in regions)
        root = etree.Element("Response")
        etree.SubElement(root, "RequestId").text = request_id()
        for tag, value in (("TotalCount", len(found)), ("PageNumber", number), ("PageSize", size)):
            etree.SubElement(root, tag).text = str(value)
        for bucket, region in found[(number - 1) * size : number * size]:
            item = etree.SubElement(root, "MediaBucketList")
            for tag, value in (("BucketId", bucket), ("Name", bucket), ("Region", region),
                               ("CreateTime", "2024-01-01T00:00:00+0800")):  # fmt: skip
                etree.SubElement(item, tag).text = value
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def count(self, counter: Counter[str], key: str) -> None:
        with self._count_lock:
            counter[key] += 1

    # --- operations -------------------------------------------------------------------------

    def create(self, body: bytes) -> bytes:
        try:
            root = xmldoc.parse(body)
        except XMLError as exc:
            raise CIError(400, "InvalidContent", f"request body is not valid XML: {exc.message}") from None
        if root.tag != "Request":
            raise CIError(400, "InvalidContent", "the root element must be Request")
        request = xmldoc.to_value(root)
        assert isinstance(request, dict)
        name = request.get("Name")
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            raise CIError(400, "InvalidArgument", "Name is required, at most 128 characters")
        kind = request.get("Type") or "Workflow"
        if kind not in ("Workflow", "Job"):
            raise CIError(400, "InvalidArgument", "Type must be Workflow or Job")
        source = request.get("Input")
        if not isinstance(source, dict) or not any(source.get(k) for k in ("Manifest", "UrlFile", "Prefix", "Object")):
            raise CIError(400, "InvalidArgument", "Input needs one of Manifest, UrlFile, Prefix, Object")
        operation = request.get("Operation")
        if not isinstance(operation, dict):
            raise CIError(400, "InvalidArgument", "Operation is required")
        if kind == "Workflow" and not operation.get("WorkflowIds"):
            raise CIError(400, "InvalidArgument", "Operation.WorkflowIds is required")
        if kind == "Job" and not (operation.get("Tag") and operation.get("JobParam")):
            raise CIError(400, "InvalidArgument", "Operation.Tag and Operation.JobParam are required")
        if kind == "Job":
            operation.setdefault("JobLevel", "0")
        job = EmulatedJob(
            new_job_id(), kind, name, self.clock(), source, operation, submitted_for=1.0, running_for=10.0
        )
        if source.get("UrlFile"):
            job.keys = self._url_file(str(source["UrlFile"]))
            job.objects = len(job.keys)
            job.running_for = max(10.0, len(job.keys) * 0.5)
        return self._response([self.book.add(job)])

    def _url_file(self, url: str) -> list[str]:
        """The object keys a UrlFile lists (``https://<bucket>.cos.<region>.myqcloud.com/<key>`` lines), read through
        ``cos_endpoint``'s S3 API."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if self.options.cos_endpoint is None or ".cos." not in host:
            raise CIError(400, "ResourceDownloadFailed", "the UrlFile could not be read")
        import boto3
        from botocore.config import Config

        client = boto3.client("s3", endpoint_url=self.options.cos_endpoint, region_name="ap-guangzhou",
                              aws_access_key_id="emulator", aws_secret_access_key="emulator",  # noqa: S106 (moto's)
                              config=Config(s3={"addressing_style": "path"}))  # fmt: skip
        try:
            body = client.get_object(Bucket=host.split(".cos.")[0], Key=unquote(parts.path.lstrip("/")))["Body"].read()
        except Exception:
            raise CIError(400, "ResourceDownloadFailed", "the UrlFile could not be read") from None
        keys = []
        for line in body.decode("utf-8").splitlines():
            if line.strip():
                keys.append(unquote(urlsplit(line.strip()).path.lstrip("/")))
        if not keys:
            raise CIError(400, "InvalidArgument", "the UrlFile lists no object")
        return keys

    def describe(self, ids_segment: str) -> bytes:
        ids = [i for i in ids_segment.split(",") if i]
        if not ids:
            raise CIError(400, "InvalidArgument", "JobId is required")
        if len(ids) > 1 and not self.options.multi_describe:
            raise CIError(400, "InvalidArgument", "only one JobId is supported")
        if len(ids) > self.options.max_describe_ids:
            raise CIError(400, "InvalidArgument", f"at most {self.options.max_describe_ids} JobIds")
        found = [job for job in (self.book.get(i) for i in ids) if job is not None]
        missing = [i for i in ids if self.book.get(i) is None]
        if len(ids) == 1 and missing and self.options.unknown_id != "nonexist":
            code = "ResourceNotFound" if self.options.unknown_id == "not-found" else "InvalidArgument"
            raise CIError(400, code, f"job {ids[0]} does not exist")
        return self._response(found, missing=missing)

    def list(self, query: dict[str, str]) -> bytes:
        kind = query.get("type", "")
        if kind and kind not in ("Workflow", "Job"):
            raise CIError(400, "InvalidArgument", "type must be Workflow or Job")
        if not kind and self.options.list_without_type == "workflow":
            kind = "Workflow"
        states, size, order = _listing(query)
        offset = _int(query.get("nextToken") or "0", "nextToken")
        since = _time(query.get("startCreationTime"), "startCreationTime")
        until = _time(query.get("endCreationTime"), "endCreationTime")
        now = self.clock()
        picked = []
        for job in self.book.all():  # cheap filters first: a window of a big book skips most jobs unread
            if kind and job.type != kind:
                continue
            if (since is not None and int(job.created_at) < since) or (
                until is not None and int(job.created_at) > until
            ):
                continue
            if states and "All" not in states and job.state_at(now)[0] not in states:
                continue
            if query.get("jobId") and job.job_id != query["jobId"]:
                continue
            if query.get("name") and job.name != query["name"]:
                continue
            if query.get("workflowId") and job.operation.get("WorkflowIds") != query["workflowId"]:
                continue
            picked.append(job)
        picked.sort(key=lambda j: (j.created_at, j.job_id), reverse=order == "Desc")
        page = picked[offset : offset + size]
        more = offset + size < len(picked)
        return self._response(page, next_token=str(offset + size) if more else "")

    def list_children(self, op: str, query: dict[str, str]) -> bytes:
        """``GET /workflowexecution`` (a Workflow batch's executions of one workflow) or ``GET /jobs`` (a Job
        batch's media jobs of one tag and queue), with CI's filters and paging; children are made on the fly."""
        if op == "list_media_jobs" and not query.get("tag"):
            raise CIError(400, "InvalidArgument", "tag is required")
        if op == "list_executions" and not query.get("workflowId"):
            raise CIError(400, "InvalidArgument", "workflowId is required")
        states, size, order = _listing(query)
        start = _int(query["nextToken"], "nextToken") if query.get("nextToken") else None
        since = _time(query.get("startCreationTime"), "startCreationTime")
        until = _time(query.get("endCreationTime"), "endCreationTime")
        batch_id = query.get("jobId") if op == "list_executions" else query.get("inventoryTriggerJobId")
        job = self.book.get(batch_id or "")
        stream: int | None = None
        if job is not None and op == "list_executions" and job.type == "Workflow":
            names = objects.streams(job)
            stream = names.index(query["workflowId"]) if query["workflowId"] in names else None
        elif job is not None and op == "list_media_jobs" and job.type == "Job":
            same_tag = job.operation.get("Tag") == query["tag"]
            same_queue = not query.get("queueId") or job.operation.get("QueueId") == query["queueId"]
            stream = 0 if same_tag and same_queue else None
        found: list[objects.EmulatedChild] = []
        next_token = ""
        if job is not None and stream is not None:
            now = self.clock()
            wanted = frozenset() if not states or "All" in states else frozenset(states)
            walk = objects.children(job, stream, now, since, until, order == "Desc", start, wanted)
            for child in walk:
                if len(found) == size:
                    next_token = str(child.index)
                    break
                found.append(child)
        root = etree.Element("Response")
        etree.SubElement(root, "RequestId").text = request_id()
        for child in found:
            root.append(self._execution(job, child) if op == "list_executions" else self._media_job(job, child))  # type: ignore[arg-type]
        if next_token or self.options.last_page_token == "empty":
            etree.SubElement(root, "NextToken").text = next_token
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def describe_execution(self, run_id: str) -> bytes:
        """``GET /workflowexecution/<RunId>``: the execution, with its tasks (a failed one says why)."""
        where = objects.locate(run_id)
        job = next((j for j in self.book.all() if where and objects.batch_key(j) == where[0]), None)
        child = objects.child_at(job, where[1], where[2], self.clock()) if job and where else None
        if job is None or child is None or job.type != "Workflow":
            raise CIError(404, "ResourceNotFound", f"workflow execution {run_id} does not exist")
        execution = etree.Element("WorkflowExecution")
        xmldoc.fill(execution, {
            "RunId": child.child_id, "WorkflowId": objects.streams(job)[child.stream], "Name": job.name,
            "CreateTime": _iso_cst(child.created_at), "Object": child.object, "State": child.state,
        })  # fmt: skip
        if self.options.execution_details_have_tasks:
            task = etree.SubElement(execution, "Tasks")
            xmldoc.fill(task, {
                "Type": "Transcode", "State": child.state, "JobId": "j" + child.child_id[1:],
                "CreateTime": _iso_cst(child.started_at), "EndTime": ci_time(child.ended_at) if child.state in
                ("Success", "Failed", "Cancel") else "-", "Code": child.code or "Success", "Message": child.message,
            })  # fmt: skip
        root = etree.Element("Response")
        etree.SubElement(root, "RequestId").text = request_id()
        root.append(execution)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def _execution(self, job: EmulatedJob, child: objects.EmulatedChild) -> etree._Element:
        element = etree.Element("WorkflowExecutionList")
        xmldoc.fill(element, {
            "RunId": child.child_id, "WorkflowId": objects.streams(job)[child.stream], "Object": child.object,
            self.options.execution_time_tag: _iso_cst(child.created_at), "State": child.state,
        })  # fmt: skip
        if child.child_id in self.options.child_without_state:
            element.remove(element.find("State"))  # type: ignore[arg-type]
        return element

    def _media_job(self, job: EmulatedJob, child: objects.EmulatedChild) -> etree._Element:
        done = child.state in ("Success", "Failed", "Cancel")
        output = dict(job.operation.get("Output") or {})
        operation: dict[str, Any] = {"Tag": job.operation.get("Tag"), "Output": {**output, "Object": child.output or
                                     str(output.get("Object", ""))}, "JobLevel": "0"}  # fmt: skip
        if child.state == "Success":
            operation["MediaResult"] = {"OutputFile": {"Bucket": output.get("Bucket", ""), "ObjectName": child.output}}
        element = etree.Element("JobsDetail")
        xmldoc.fill(element, {
            "Code": child.code if child.state in ("Failed", "Cancel") else "Success", "Message": child.message,
            "JobId": child.child_id, "Tag": job.operation.get("Tag"), "State": child.state,
            "CreationTime": ci_time(child.created_at), "StartTime": ci_time(child.started_at)
            if child.state != "Submitted" else "-", "EndTime": ci_time(child.ended_at) if done else "-",
            "QueueId": job.operation.get("QueueId", ""), "Input": {"Object": child.object}, "Operation": operation,
        })  # fmt: skip
        return element

    def cancel(self, job_id: str) -> None:
        outcome = self.book.cancel(job_id)
        if outcome == "unknown":
            raise CIError(400, "InvalidArgument", f"job {job_id} does not exist")
        if outcome == "finished" and self.options.cancel_finished == "error":
            raise CIError(400, "InvalidArgument", f"job {job_id} has already finished")

    # --- rendering --------------------------------------------------------------------------

    def _response(
        self, jobs: list[EmulatedJob], *, missing: list[str] | None = None, next_token: str | None = None
    ) -> bytes:
        root = etree.Element("Response")
        etree.SubElement(root, "RequestId").text = request_id()
        for job_id in missing or []:
            etree.SubElement(root, "NonExistJobIds").text = job_id
        if next_token is not None and (next_token or self.options.last_page_token == "empty"):
            etree.SubElement(root, "NextToken").text = next_token
        head, _, tail = etree.tostring(root, xml_declaration=True, encoding="UTF-8").partition(b"</RequestId>")
        now = self.clock()
        return b"".join([head, b"</RequestId>", *(self._detail_xml(job, now) for job in jobs), tail])

    def _detail_xml(self, job: EmulatedJob, now: float) -> bytes:
        """The job's JobsDetail, written again only when something it shows changed."""
        shown = (job.state_at(now), job.job_id in self.options.job_without_state, job.type, job.name, job.failure,
                 repr(job.input), repr(job.operation), self.options.creation_time_form.get(job.job_id))  # fmt: skip
        written = self._written.get(job.job_id)
        if written is None or written[0] != shown:
            written = shown, etree.tostring(self._detail(job, now))
            self._written[job.job_id] = written
        return written[1]

    def _detail(self, job: EmulatedJob, now: float) -> etree._Element:
        state, started, ended = job.state_at(now)
        failed = state == "Failed"
        detail = {
            "Code": job.failure[0] if failed else "Success",
            "Message": job.failure[1] if failed else "",
            "Type": job.type,
            "Name": job.name,
            "JobId": job.job_id,
            "State": state,
            "CreationTime": _created(job.created_at, self.options.creation_time_form.get(job.job_id)),
            "StartTime": ci_time(started),
            "EndTime": ci_time(ended),
            "Input": job.input,
            "Operation": job.operation,
        }
        if job.job_id in self.options.job_without_state:
            del detail["State"]
        element = etree.Element("JobsDetail")
        xmldoc.fill(element, detail)
        return element


def _created(epoch: float, form: str | None) -> str:
    """CI's CreationTime, or one of the other forms a CI answer has been seen to take."""
    text = ci_time(epoch)
    if form == "ms":
        return f"{text[:19]}.{int(epoch * 1000) % 1000:03d}{text[19:]}"
    if form == "naive":
        return text[:19]
    return "" if form == "empty" else text


def _iso_cst(epoch: float) -> str:
    """The docs' example form of execution times: ``2022-08-09T14:54:17+08:00`` (offset with a colon)."""
    return datetime.fromtimestamp(int(epoch), tz=CST).isoformat()


def request_id() -> str:
    return base64.b64encode(uuid.uuid4().bytes[:18]).decode()


def error_body(code: str, message: str, req_id: str, trace_id: str, resource: str = "") -> bytes:
    """CI's error shape; the official SDK reads Code, Message, Resource, RequestId and TraceId (and needs all)."""
    return (
        "<?xml version='1.0' encoding='utf-8' ?>\n"
        f"<Error><Code>{code}</Code><Message>{_escape(message)}</Message>"
        f"<Resource>{_escape(resource or '/')}</Resource>"
        f"<RequestId>{req_id}</RequestId><TraceId>{trace_id}</TraceId></Error>"
    ).encode()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _listing(query: dict[str, str]) -> tuple[list[str], int, str]:
    """The filters every CI list shares: states, size (1..100, default 10), orderByTime (default Desc)."""
    states = [s for s in query.get("states", "").split(",") if s]
    if any(s not in (*STATES, "All") for s in states):
        raise CIError(400, "InvalidArgument", "states holds an unknown state")
    size = _int(query.get("size") or "10", "size")
    if not 1 <= size <= 100:
        raise CIError(400, "InvalidArgument", "size must be 1..100")
    order = query.get("orderByTime") or "Desc"
    if order not in ("Desc", "Asc"):
        raise CIError(400, "InvalidArgument", "orderByTime must be Desc or Asc")
    return states, size, order


def _int(value: str, name: str) -> int:
    if not value.isdigit():
        raise CIError(400, "InvalidArgument", f"{name} must be a whole number")
    return int(value)


def _time(value: str | None, name: str) -> int | None:
    if not value:
        return None
    try:
        return int(datetime.strptime(value.replace(" ", "T", 1), "%Y-%m-%dT%H:%M:%S%z").timestamp())
    except ValueError:
        raise CIError(400, "InvalidArgument", f"{name} must look like 2022-06-27T15:23:10+0800") from None


def verify_signature(
    options: EmulatorOptions, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], now: float
) -> None:
    """Check the q-sign Authorization like CI: rebuilt from the keys it lists; raise ``CIError`` on failure."""
    auth = headers.get("authorization", "")
    if not auth:
        raise CIError(401, "MissingAuthorization", "the Authorization header is missing")
    fields = dict(part.split("=", 1) for part in auth.split("&") if "=" in part)
    needed = ("q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time", "q-header-list", "q-url-param-list")
    if fields.get("q-sign-algorithm") != "sha1" or any(k not in fields for k in needed) or "q-signature" not in fields:
        raise CIError(401, "InvalidAuthorization", "the Authorization header is malformed")
    if fields["q-ak"] != options.secret_id:
        raise CIError(401, "SecretidNotExist", "the SecretId does not exist")
    try:
        start, end = (int(x) for x in fields["q-key-time"].split(";"))
    except ValueError:
        raise CIError(401, "InvalidAuthorization", "q-key-time is malformed") from None
    if not start <= now <= end:
        raise CIError(401, "SignatureExpired", "the signature has expired or is not yet valid")
    if options.token is not None:
        token = headers.get("x-ci-security-token")
        if token is None and options.accept_cos_token_header:
            token = headers.get("x-cos-security-token")
        if token is None or not hmac.compare_digest(token, options.token):
            raise CIError(401, "InvalidAuthorization", "the security token is missing or wrong")
    header_keys = [k for k in fields["q-header-list"].split(";") if k]
    param_keys = [k for k in fields["q-url-param-list"].split(";") if k]
    encoded_query = {signer.encode(k).lower(): v for k, v in query}
    encoded_headers = {signer.encode(k).lower(): v for k, v in headers.items()}
    if any(k not in encoded_headers for k in header_keys) or any(k not in encoded_query for k in param_keys):
        raise CIError(401, "InvalidAuthorization", "a signed header or parameter is missing from the request")
    params = [(k, signer.encode(encoded_query[k])) for k in sorted(param_keys)]
    signed_headers = [(k, signer.encode(encoded_headers[k])) for k in sorted(header_keys)]
    canonical = signer.http_string(method, path, params, signed_headers)
    expected = signer.signature(options.secret_key, fields["q-key-time"], canonical)
    if not hmac.compare_digest(expected, fields["q-signature"]):
        raise CIError(401, "InvalidAuthorization", "the signature does not match")


def _handler_for(emulator: CIEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall

        def version_string(self) -> str:
            return "tencent-ci"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and demos read counters
            pass

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def do_PUT(self) -> None:
            self._handle()

        def do_DELETE(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            query = [
                (unquote_plus(k), unquote_plus(v))
                for k, _, v in (item.partition("=") for item in parts.query.split("&") if item)
            ]
            op = _operation(self.command, path, query)
            fault = emulator.faults.next(op)
            if op in ("list_executions", "list_media_jobs") and emulator.options.child_faults:
                fault = emulator.options.child_faults.pop(0)
            delay = emulator.faults.latency
            if fault and fault.startswith("slow:"):
                emulator.count(emulator.injected, "slow")
                delay, fault = float(fault[5:]), None
            if delay:
                time.sleep(delay)
            if fault == "drop":
                emulator.count(emulator.injected, "drop")
                self.close_connection = True
                return
            req_id = request_id()
            emulator._request.book = None
            try:
                if fault in ("500", "503", "429"):
                    emulator.count(emulator.injected, fault)
                    raise {
                        "500": CIError(500, "InternalError", "injected internal error"),
                        "503": CIError(503, "ServiceUnavailable", "injected outage"),
                        "429": CIError(429, "SlowDown", "injected throttling"),
                    }[fault]
                headers = {k.lower(): v for k, v in self.headers.items()}
                emulator._request.book = emulator.route(headers.get("host", ""), op)
                emulator.count(emulator.served_hosts, headers.get("host", ""))
                try:
                    # Signatures are checked against the wall clock; EmuClock only moves the jobs' schedules.
                    verify_signature(emulator.options, self.command, path, query, headers, time.time())
                except CIError as exc:
                    emulator.count(emulator.auth_failures, exc.code)
                    raise
                payload = self._dispatch(op, path, dict(query), body, headers)
            except CIError as exc:
                trace_id = uuid.uuid4().hex
                emulator.count(emulator.served, op)  # counted before answering, so a client never sees it lag
                resource = f"{self.headers.get('Host', '')}{path}"
                body = error_body(exc.code, exc.message, req_id, trace_id, resource)
                self._send(exc.status, body, req_id, trace_id, exc)
                return
            emulator.count(emulator.served, op)
            if fault == "malformed":
                emulator.count(emulator.injected, fault)
                payload = b"<Response><RequestId>x</RequestId><JobsDetail><JobId>b1</Jo"
            if fault == "empty":
                emulator.count(emulator.injected, fault)
                payload = b""
            if fault == "rootless":
                emulator.count(emulator.injected, fault)
                payload = b"<?xml version='1.0'?><Result><RequestId>x</RequestId></Result>"
            if fault and fault.startswith("trickle:"):
                emulator.count(emulator.injected, "trickle")
                self._trickle(payload, float(fault[8:]))
                return
            if fault == "truncated":
                emulator.count(emulator.injected, fault)
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload[: max(1, len(payload) // 2)])
                self.wfile.flush()
                self.close_connection = True
                return
            self._send(200, payload, req_id)

        def _dispatch(self, op: str, path: str, query: dict[str, str], body: bytes, headers: dict[str, str]) -> bytes:
            if op == "list_buckets":
                return emulator.list_buckets(query)
            if op == "create":
                md5 = headers.get("content-md5")
                if md5 and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():  # noqa: S324
                    raise CIError(400, "InvalidContent", "Content-MD5 does not match the body")
                return emulator.create(body)
            if op == "list":
                return emulator.list(query)
            if op == "describe":
                return emulator.describe(path[len(PATH) + 1 :])
            if op in ("list_executions", "list_media_jobs"):
                return emulator.list_children(op, query)
            if op == "describe_execution":
                return emulator.describe_execution(path[len("/workflowexecution/") :])
            if op == "cancel":
                if "cancel" not in query and emulator.options.cancel_requires_query:
                    raise CIError(400, "InvalidArgument", "PUT needs ?cancel")
                emulator.cancel(path[len(PATH) + 1 :])
                return b""
            raise CIError(404, "InvalidUrl", "no such API")

        def _trickle(self, payload: bytes, interval: float) -> None:
            """A whole 200 answer, one byte every ``interval`` seconds (until the client hangs up)."""
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.flush()
            try:
                for i in range(len(payload)):
                    self.wfile.write(payload[i : i + 1])
                    self.wfile.flush()
                    time.sleep(interval)
            except OSError:
                pass  # the client gave up, as it should
            self.close_connection = True

        def _send(
            self, status: int, body: bytes, req_id: str, trace_id: str = "", error: CIError | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-ci-request-id", req_id)
            if error is not None:
                self.send_header("x-ci-trace-id", trace_id)
                if status == 429 and emulator.faults.retry_after is not None:
                    self.send_header("Retry-After", str(emulator.faults.retry_after))
            self.end_headers()
            if body:
                self.wfile.write(body)

    return Handler


def _operation(method: str, path: str, query: list[tuple[str, str]]) -> str:
    if path == PATH:
        return {"POST": "create", "GET": "list"}.get(method, "unknown")
    if path.startswith(PATH + "/") and "/" not in path[len(PATH) + 1 :]:
        return {"GET": "describe", "PUT": "cancel"}.get(method, "unknown")
    if method == "GET" and path == "/workflowexecution":
        return "list_executions"
    if method == "GET" and path.startswith("/workflowexecution/") and "/" not in path[len("/workflowexecution/") :]:
        return "describe_execution"
    if method == "GET" and path == "/jobs":
        return "list_media_jobs"
    if method == "GET" and path == "/mediabucket":
        return "list_buckets"
    return "unknown"
