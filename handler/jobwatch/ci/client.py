"""The CI batch-job client (``/inventorytriggerjob``): create, describe, list, cancel; and a batch's objects
(``/workflowexecution`` and ``/jobs``): list its children, and why a workflow execution failed.

One pool of keep-alive connections (urllib3: ``requests`` on top of it cost more CPU per request than parsing the
answer); every request signed afresh; retries with exponential backoff and full jitter
on 5xx, 429 SlowDown, timeouts and resets, honouring Retry-After and never past the caller's deadline. A create
is retried only when it certainly did not reach CI: a retried POST can start a duplicate batch job.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from ..backoff import retry_after_seconds
from ..deadline import Deadline
from ..errors import (
    CIAuthError,
    CIBadResponseError,
    CIConnectionError,
    CIError,
    CINotFoundError,
    CIPermanentError,
    CIThrottledError,
    CITransientError,
    ConfigError,
    InvalidInputError,
    MalformedXMLError,
    UnsafeXMLError,
)
from ..ids import checked_job_id
from . import xmldoc
from .buckets import parse_buckets
from .children import CHILD_STATES, ChildPage, parse_execution_failure, parse_executions, parse_media_jobs
from .models import (
    JOB_TYPES,
    STATES,
    DescribeResult,
    Job,
    JobPage,
    format_ci_time,
    parse_operation,
    parse_page,
)
from .pacing import Pacer
from .signer import Signer, encode
from .windows import WindowDone, windows

if TYPE_CHECKING:
    from ..config import Credentials, Settings

log = logging.getLogger("jobwatch.ci")

PATH = "/inventorytriggerjob"
MAX_DESCRIBE_BATCH = 10
MAX_PAGE_SIZE = 100
MAX_PAGES = 10_000  # a runaway NextToken loop ends here
PARSING = 2  # answers parsed at once
Parsed = tuple[tuple[Job, ...], tuple[str, ...], str, str]  # jobs, NonExistJobIds, NextToken, RequestId
Page = tuple[tuple[Job, ...], tuple[str, ...], str, str, tuple[str, ...]]  # ... and the entries skipped
# Codes a single-ID describe answers for an ID CI does not know (ci-api.md §10 q1: not documented).
UNKNOWN_ID_CODES = frozenset({"ResourceNotFound", "InvalidArgument", "NoSuchJob", "JobNotExist"})
_THROTTLE_CODES = frozenset({"SlowDown", "QueueSaturated"})
T = TypeVar("T")


class CIClient:
    """Talks to one bucket's CI endpoint. Thread-safe; share one per process."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        pool: urllib3.PoolManager | None = None,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        max_attempts: int = 5,
        backoff_base: float = 0.2,
        backoff_cap: float = 8.0,
        describe_batch_size: int = MAX_DESCRIBE_BATCH,
        max_workers: int = 16,
        unknown_id_codes: frozenset[str] = UNKNOWN_ID_CODES,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        host: str | None = None,
    ) -> None:
        if not 1 <= describe_batch_size <= 100:
            raise ValueError("describe_batch_size must be 1..100")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("base_url must be an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self._host = host or parts.netloc  # an endpoint override still carries (and signs) the target's own host
        self._signer = Signer(credentials.secret_id, credentials.secret_key, clock=clock)
        self._token = credentials.token
        self._pool = pool or _pool_for(parts.scheme, max_workers)
        self._timeouts = (connect_timeout, read_timeout)
        self._max_attempts = max(1, max_attempts)
        self._backoff = (backoff_base, backoff_cap)
        self.describe_batch_size = describe_batch_size
        self._max_workers = max(1, max_workers)
        self.pacer = Pacer(self._max_workers)  # requests in flight: halves on 429, grows back
        # Parsing holds the GIL anyway: a few pages at a time parse as fast as all, and keep fewer trees in memory.
        self._parsing = threading.BoundedSemaphore(PARSING)
        self._unknown_id_codes = unknown_id_codes
        self._sleep = sleep
        self._rng = rng
        self._multi_describe: bool | None = None if describe_batch_size > 1 else False
        self._lock = threading.Lock()
        self._workers: ThreadPoolExecutor | None = None
        self.requests_sent: Counter[str] = Counter()
        self.skipped_entries: set[str] = set()  # JobsDetail entries CI sent that could not be used

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> CIClient:
        """A client for the watched bucket, from the function's settings."""
        if settings.credentials is None:
            raise ConfigError("TENCENTCLOUD_SECRETID", "credentials are required for CI calls")
        if settings.ci_endpoint and settings.ci_bucket and settings.ci_region:  # the bucket's own Host, signed
            return cls.for_host(settings, f"{settings.ci_bucket}.ci.{settings.ci_region}.myqcloud.com", **options)
        return cls(settings.ci_base_url(), settings.credentials, **options)

    @classmethod
    def for_host(cls, settings: Settings, host: str, **options: Any) -> CIClient:
        """A client for one CI host (``<bucket>.ci.<region>.myqcloud.com``, or ``ci.<region>.myqcloud.com`` for
        discovery): sent to ``JOBWATCH_CI_ENDPOINT`` when it is set, with that host in ``Host``."""
        if settings.credentials is None:
            raise ConfigError("TENCENTCLOUD_SECRETID", "credentials are required for CI calls")
        return cls(settings.ci_endpoint or f"https://{host}", settings.credentials, host=host, **options)

    # --- operations ---------------------------------------------------------------------------

    def create(
        self,
        *,
        name: str,
        job_type: str,
        input: Mapping[str, Any],
        operation: Mapping[str, Any],
        deadline: Deadline | None = None,
    ) -> Job:
        """Start a batch job; never retried once the request may have reached CI."""
        if job_type not in JOB_TYPES:
            raise InvalidInputError(f"job_type must be one of {', '.join(JOB_TYPES)}")
        if not name or len(name) > 128:
            raise InvalidInputError("name must be 1-128 characters")
        body = xmldoc.build(
            "Request", {"Name": name, "Type": job_type, "Input": dict(input), "Operation": dict(operation)}
        )
        jobs, _, _, _ = self._call("create", "POST", PATH, {}, body, deadline, idempotent=False)
        if not jobs:
            raise CIBadResponseError("create answered without a JobsDetail")
        return jobs[0]

    def describe(
        self,
        job_ids: Iterable[str],
        *,
        deadline: Deadline | None = None,
        on_jobs: Callable[[Sequence[Job]], None] | None = None,
    ) -> DescribeResult:
        """Describe any number of jobs: comma-joined batches, concurrently, one-by-one if CI refuses lists.
        ``on_jobs`` is handed each batch's jobs as soon as they arrive (from the worker threads)."""

        def batch_of(batch: list[str]) -> tuple[list[Job], list[str]]:
            found = self._describe_batch(batch, deadline)
            if on_jobs is not None and found[0]:
                on_jobs(found[0])
            return found

        ids = list(dict.fromkeys(job_ids))
        for job_id in ids:
            checked_job_id(job_id)
        results = []
        pending = ids
        if self._multi_describe is None and len(ids) > 1:
            # Whether CI takes comma-joined IDs is unknown until one try settles it; then go concurrent.
            head, pending = ids[: self.describe_batch_size], ids[self.describe_batch_size :]
            results.append(batch_of(head))
        size = self.describe_batch_size if self._multi_describe is not False else 1
        batches = [pending[i : i + size] for i in range(0, len(pending), size)]
        results += self._map(batch_of, batches)
        jobs: dict[str, Job] = {}
        missing: list[str] = []
        for found, unknown in results:
            jobs.update((job.job_id, job) for job in found)
            missing.extend(unknown)
        ordered = tuple(jobs[i] for i in ids if i in jobs)
        return DescribeResult(ordered, tuple(i for i in dict.fromkeys(missing) if i not in jobs))

    def list_page(
        self,
        *,
        job_type: str,
        states: Sequence[str] = (),
        start_creation_time: datetime | None = None,
        end_creation_time: datetime | None = None,
        workflow_id: str | None = None,
        job_id: str | None = None,
        name: str | None = None,
        order: str = "Desc",
        size: int = MAX_PAGE_SIZE,
        next_token: str = "",
        deadline: Deadline | None = None,
    ) -> JobPage:
        """One page of ``GET /inventorytriggerjob``; ``type`` is always sent (see ci-api.md §2.2)."""
        if job_type not in JOB_TYPES:
            raise InvalidInputError(f"job_type must be one of {', '.join(JOB_TYPES)}")
        _check_listing(states, STATES, order, size)
        params: dict[str, str | None] = {"type": job_type, "size": str(size), "orderByTime": order}
        named = {"workflowId": workflow_id, "jobId": job_id, "name": name}
        params.update((k, v) for k, v in named.items() if v)
        params.update(_window(states, start_creation_time, end_creation_time, next_token))
        jobs, _, token, request_id = self._call("list", "GET", PATH, params, None, deadline)
        return JobPage(jobs, token, request_id)

    def iter_jobs(self, *, job_type: str, **filters: Any) -> Iterator[Job]:
        """Every job of one type matching the filters, following ``NextToken`` to the end."""
        token = ""
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self.list_page(job_type=job_type, next_token=token, **filters)
            yield from page.jobs
            if not page.next_token or not page.jobs:
                return
            if page.next_token in seen:
                raise CIBadResponseError(f"NextToken {page.next_token!r} repeated: CI paging loops")
            seen.add(page.next_token)
            token = page.next_token
        raise CIBadResponseError(f"more than {MAX_PAGES} list pages")

    def list_jobs(
        self,
        *,
        job_types: Sequence[str] = JOB_TYPES,
        edges: Mapping[str, Sequence[datetime]] | None = None,
        on_window: WindowDone | None = None,
        **filters: Any,
    ) -> list[Job]:
        """Every job of every listed type (both by default); no duplicates. ``edges`` (per type, creation times)
        cut each type's listing into windows that are fetched side by side (see ``windows``); ``on_window`` is
        handed each window's jobs as soon as it is complete (from the worker threads)."""
        start, end = filters.pop("start_creation_time", None), filters.pop("end_creation_time", None)
        tasks = [(t, lo, hi) for t in job_types for lo, hi in windows((edges or {}).get(t, ()), start, end)]

        def listing(task: tuple[str, datetime | None, datetime | None]) -> list[Job]:
            kind, lo, hi = task
            jobs = list(self.iter_jobs(job_type=kind, start_creation_time=lo, end_creation_time=hi, **filters))
            if on_window is not None:
                on_window(kind, lo, hi, jobs)
            return jobs

        pages = self._map(listing, tasks)
        merged: dict[str, Job] = {}
        for jobs in pages:
            merged.update((job.job_id, job) for job in jobs)
        return list(merged.values())

    def list_children_page(
        self,
        *,
        batch_id: str,
        workflow_id: str | None = None,
        tag: str | None = None,
        queue_id: str | None = None,
        states: Sequence[str] = (),
        start_creation_time: datetime | None = None,
        end_creation_time: datetime | None = None,
        order: str = "Asc",
        size: int = MAX_PAGE_SIZE,
        next_token: str = "",
        deadline: Deadline | None = None,
    ) -> ChildPage:
        """One page of a batch's objects: its workflow executions of ``workflow_id`` (a Workflow batch), or its
        media jobs of ``tag`` in ``queue_id`` (a Job batch)."""
        checked_job_id(batch_id)
        _check_listing(states, CHILD_STATES, order, size)
        params: dict[str, str | None] = {"size": str(size), "orderByTime": order}
        if workflow_id:
            path, op, parse = "/workflowexecution", "list_executions", parse_executions
            params.update(workflowId=workflow_id, jobId=batch_id)
        elif tag:
            path, op, parse = "/jobs", "list_media_jobs", parse_media_jobs
            params.update(tag=tag, inventoryTriggerJobId=batch_id)
            if queue_id:
                params["queueId"] = queue_id
        else:
            raise InvalidInputError("a batch's objects are listed by workflow_id (Workflow) or tag (Job)")
        params.update(_window(states, start_creation_time, end_creation_time, next_token))
        return self._fetch(op, "GET", path, params, None, deadline, parse)

    def execution_failure(self, run_id: str, *, deadline: Deadline | None = None) -> tuple[str, str, str]:
        """Why a workflow execution failed: its failed task's (code, message, task JobId), from
        ``GET /workflowexecution/<RunId>``."""
        checked_job_id(run_id)
        path = f"/workflowexecution/{run_id}"
        return self._fetch("describe_execution", "GET", path, {}, None, deadline, parse_execution_failure)

    def media_buckets(self, region: str, *, deadline: Deadline | None = None) -> list[tuple[str, str]]:
        """Every bucket ``GET /mediabucket`` lists in ``region`` (a client for ``ci.<region>.myqcloud.com``):
        ``(bucket, region)`` pairs, pages of 100 followed to the total."""
        found: dict[tuple[str, str], None] = {}
        for number in range(1, MAX_PAGES + 1):
            params: dict[str, str | None] = {"regions": region, "pageNumber": str(number), "pageSize": "100"}
            items, total = self._fetch("list_buckets", "GET", "/mediabucket", params, None, deadline, parse_buckets)
            found.update(dict.fromkeys(items))
            if not items or number * 100 >= total:
                return list(found)
        raise CIBadResponseError(f"more than {MAX_PAGES} pages of media buckets")

    def operation_of(self, job_id: str, *, deadline: Deadline | None = None) -> dict[str, Any] | None:
        """A job's ``Operation`` as CI has it, its URLs' secrets kept (a describe's jobs have them redacted), to make
        a batch like it; None when CI does not know the job."""
        checked_job_id(job_id)
        try:
            return self._fetch(
                "describe", "GET", f"{PATH}/{job_id}", {}, None, deadline, lambda raw: parse_operation(raw, job_id)
            )
        except CIPermanentError as exc:
            if self._unknown_id(exc):
                return None
            raise

    def cancel(self, job_id: str, *, deadline: Deadline | None = None) -> None:
        """``PUT /inventorytriggerjob/<id>?cancel``."""
        checked_job_id(job_id)
        self._fetch("cancel", "PUT", f"{PATH}/{job_id}", {"cancel": None}, None, deadline, _no_body)

    # --- internals ----------------------------------------------------------------------------

    def _map(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        """``fn`` over ``items`` on the client's threads; returns (or raises) once every call has ended, so none
        goes on behind the caller's back. The tasks never map again themselves: the pool cannot starve."""
        if len(items) <= 1 or self._max_workers == 1:
            return [fn(item) for item in items]
        with self._lock:
            if self._workers is None:  # kept: a warm instance's sweeps do not start their threads anew
                self._workers = ThreadPoolExecutor(self._max_workers, thread_name_prefix="ci")
            workers = self._workers
        futures = [workers.submit(fn, item) for item in items]
        wait(futures)
        return [future.result() for future in futures]

    def _describe_batch(self, batch: list[str], deadline: Deadline | None) -> tuple[list[Job], list[str]]:
        if len(batch) > 1 and self._multi_describe is not False:
            try:
                jobs, missing, _, _ = self._call("describe", "GET", f"{PATH}/{','.join(batch)}", {}, None, deadline)
            except CIAuthError:
                raise
            except CIPermanentError as exc:  # incl. 404: CI may read "a,b" as one unknown ID
                log.warning("CI refused a multi-ID describe (%s); describing one ID per request", exc.ci_code)
                self._multi_describe = False
            else:
                self._multi_describe = True
                found = [job for job in jobs if job.job_id in batch]
                known = {job.job_id for job in found} | set(missing)
                # IDs CI passed over in silence are asked about one by one.
                rest = [i for i in batch if i not in known]
                for job_id in rest:
                    more, unknown = self._describe_one(job_id, deadline)
                    found.extend(more)
                    missing = (*missing, *unknown)
                return found, [i for i in missing if i in batch]
        out: list[Job] = []
        unknown_ids: list[str] = []
        for job_id in batch:
            found_one, unknown = self._describe_one(job_id, deadline)
            out.extend(found_one)
            unknown_ids.extend(unknown)
        return out, unknown_ids

    def _describe_one(self, job_id: str, deadline: Deadline | None) -> tuple[list[Job], list[str]]:
        try:
            jobs, missing, _, _ = self._call("describe", "GET", f"{PATH}/{job_id}", {}, None, deadline)
        except CIPermanentError as exc:
            if self._unknown_id(exc):
                return [], [job_id]
            raise
        found = [job for job in jobs if job.job_id == job_id]
        if found:
            return found, []
        if job_id in missing:
            return [], [job_id]
        # Neither the job nor NonExistJobIds naming it: a broken answer, not "unknown" (that would lose the job).
        raise CIBadResponseError(f"CI describe answered neither job {job_id} nor that it does not exist")

    def _unknown_id(self, exc: CIPermanentError) -> bool:
        """Whether CI's refusal of a one-job describe means it does not know the job."""
        return isinstance(exc, CINotFoundError) or exc.ci_code in self._unknown_id_codes

    def _call(
        self,
        op: str,
        method: str,
        path: str,
        params: Mapping[str, str | None],
        body: bytes | None,
        deadline: Deadline | None,
        *,
        idempotent: bool = True,
    ) -> Parsed:
        """A batch-job request: jobs, NonExistJobIds, NextToken, RequestId. Entries it had to skip are remembered
        in ``skipped_entries`` (the sweep reports each once)."""
        jobs, missing, token, request_id, skipped = self._fetch(
            op, method, path, params, body, deadline, _parse_page, idempotent=idempotent
        )
        if skipped:
            with self._lock:
                self.skipped_entries.update(skipped)
        return jobs, missing, token, request_id

    def _fetch(
        self,
        op: str,
        method: str,
        path: str,
        params: Mapping[str, str | None],
        body: bytes | None,
        deadline: Deadline | None,
        parse: Callable[[bytes], T],
        *,
        idempotent: bool = True,
    ) -> T:
        """Send with retries, parsing inside the loop: a malformed answer is transient, like a dropped connection."""
        deadline = deadline or Deadline.never()
        query = "&".join(encode(k) if v is None else f"{encode(k)}={encode(v)}" for k, v in params.items())
        url = self.base_url + quote(path, safe="/,") + (f"?{query}" if query else "")
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline.remaining()
            if remaining <= 0:
                raise CIConnectionError(f"no time left for CI {op}", maybe_applied=False)
            try:
                with self.pacer:
                    raw = self._send_once(op, method, path, url, params, body, remaining)
                self.pacer.answered()
                with self._parsing:
                    return parse(raw)
            except CITransientError as exc:
                if isinstance(exc, CIThrottledError):
                    self.pacer.throttled()
                safe = idempotent or (isinstance(exc, CIConnectionError) and not exc.maybe_applied)
                safe = safe or isinstance(exc, CIThrottledError)  # throttled requests were not processed
                if not safe or attempt >= self._max_attempts:
                    raise
                delay = self._delay(attempt, exc)
                if delay >= deadline.remaining():
                    raise
                log.info("CI %s failed (%s); retry %d in %.2fs", op, exc.code, attempt, delay)
                self._sleep(delay)

    def _delay(self, attempt: int, exc: CIError) -> float:
        base, cap = self._backoff
        jitter = self._rng() * min(cap, base * (1 << (attempt - 1)))  # full jitter
        retry_after = exc.retry_after if isinstance(exc, CIThrottledError) else None
        return max(jitter, retry_after or 0.0)

    def _send_once(
        self,
        op: str,
        method: str,
        path: str,
        url: str,
        params: Mapping[str, str | None],
        body: bytes | None,
        remaining: float,
    ) -> bytes:
        headers = {"Host": self._host, "User-Agent": "jobwatch/0.1"}
        if body is not None:
            headers["Content-Type"] = "application/xml"
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324
            headers["Content-Length"] = str(len(body))
        if self._token:
            headers["x-ci-security-token"] = self._token
        headers["Authorization"] = self._signer.authorization(method, path, params, headers)
        until = time.monotonic() + remaining
        timeout = urllib3.Timeout(connect=min(self._timeouts[0], remaining), read=min(self._timeouts[1], remaining))
        with self._lock:
            self.requests_sent[op] += 1
        try:
            response = self._pool.urlopen(
                method, url, body=body, headers=headers, timeout=timeout, redirect=False, preload_content=False
            )
            read = False
            try:
                content = _read_capped(response, until, self._timeouts[1])
                read = True
            finally:
                if not read:  # unread bytes would be taken for the next answer: the connection goes
                    response.close()
                response.release_conn()
        except _Late as exc:
            raise CIConnectionError(f"CI {op}: the answer was still arriving at the deadline") from exc
        except NewConnectionError as exc:  # refused, or the name did not resolve: nothing reached CI
            raise CIConnectionError(f"CI {op}: connection failed", maybe_applied=False) from exc
        except ConnectTimeoutError as exc:
            raise CIConnectionError(f"CI {op}: connect timeout", maybe_applied=False) from exc
        except ReadTimeoutError as exc:
            raise CIConnectionError(f"CI {op}: read timeout") from exc
        except (ProtocolError, SSLError, OSError) as exc:  # reset or cut off: CI may have acted on the request
            raise CIConnectionError(f"CI {op}: connection failed", maybe_applied=True) from exc
        except HTTPError as exc:  # an answer urllib3 could not read (a bad encoding, say)
            raise CIBadResponseError(f"CI {op}: {type(exc).__name__}") from exc
        if 200 <= response.status < 300:
            return content
        raise error_from_response(op, response.status, response.headers, content, response.reason or "")


def _parse_page(raw: bytes) -> Page:
    # An empty answer is a broken one (CIBadResponseError, retried), never "no jobs" or "none of these IDs".
    return parse_page(raw)


def _no_body(raw: bytes) -> None:
    """A cancel answers 200 with no body; whatever it says is not read."""


def _pool_for(scheme: str, max_workers: int) -> urllib3.PoolManager:
    options: dict[str, Any] = {}
    if scheme == "https":
        import certifi  # the CA bundle requests would use

        options["ca_certs"] = certifi.where()
    return urllib3.PoolManager(num_pools=2, maxsize=max(10, max_workers), retries=False, **options)


class _Late(TimeoutError):
    """The answer was still arriving when the caller's deadline came."""


def _read_capped(
    response: urllib3.BaseHTTPResponse, until: float, read_timeout: float, cap: int = xmldoc.MAX_XML_BYTES
) -> bytes:
    """The body, at most ``cap`` bytes, read by ``until`` (a ``time.monotonic()`` instant): a read timeout restarts
    with every byte, so an answer trickled a byte a second would otherwise outlast any deadline."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise UnsafeXMLError(f"CI response of {declared} bytes is over the {cap}-byte limit")
    sock = getattr(getattr(response, "connection", None), "sock", None)
    chunks: list[bytes] = []
    size = 0
    while True:
        left = until - time.monotonic()
        if left <= 0:
            raise _Late
        if sock is not None:  # each read waits at most until the deadline
            sock.settimeout(min(left, read_timeout))
        chunk = response.read1(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > cap:
            raise UnsafeXMLError(f"CI response is over the {cap}-byte limit")
        chunks.append(chunk)


def error_from_response(op: str, status: int, headers: Mapping[str, str], content: bytes, reason: str = "") -> CIError:
    """Translate a non-2xx CI answer into the error tree, with CI's Code, Message, RequestId and TraceId.
    ``headers`` is looked up case-insensitively by the caller's mapping (urllib3's is)."""
    code = message = request_id = trace_id = None
    try:
        root = xmldoc.parse(content)
        if root.tag == "Error":
            code = xmldoc.child_text(root, "Code")
            message = xmldoc.child_text(root, "Message")
            request_id = xmldoc.child_text(root, "RequestId")
            trace_id = xmldoc.child_text(root, "TraceId")
    except (MalformedXMLError, UnsafeXMLError):
        pass  # the status alone decides
    request_id = request_id or headers.get("x-ci-request-id")
    trace_id = trace_id or headers.get("x-ci-trace-id")
    fields: dict[str, Any] = {"status": status, "ci_code": code, "request_id": request_id, "trace_id": trace_id}
    text = f"CI {op} failed: {message or reason or status}"
    if status == 429 or code in _THROTTLE_CODES:
        return CIThrottledError(text, retry_after=retry_after_seconds(headers.get("Retry-After")), **fields)
    if status >= 500 and status != 501:
        return CITransientError(text, **fields)
    if status in (401, 403):
        return CIAuthError(text, **fields)
    if status == 404 or code == "ResourceNotFound":
        return CINotFoundError(text, **fields)
    return CIPermanentError(text, **fields)


def _check_listing(states: Sequence[str], known: Sequence[str], order: str, size: int) -> None:
    for state in states:
        if state not in (*known, "All"):
            raise InvalidInputError(f"unknown state {state!r}")
    if order not in ("Desc", "Asc"):
        raise InvalidInputError("order must be Desc or Asc")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"size must be 1..{MAX_PAGE_SIZE}")


def _window(
    states: Sequence[str], start: datetime | None, end: datetime | None, next_token: str
) -> dict[str, str | None]:
    """The optional list filters, in CI's formats; empty ones left out."""
    optional = {
        "states": ",".join(states),
        "startCreationTime": format_ci_time(start) if start else "",
        "endCreationTime": format_ci_time(end) if end else "",
        "nextToken": next_token,
    }
    return {k: v for k, v in optional.items() if v}
