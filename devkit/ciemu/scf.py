"""A local SCF API endpoint for chained invokes: real HTTP on 127.0.0.1 that checks the TC3-HMAC-SHA256 signature of
``Invoke`` as the real API does, answers its JSON shapes and errors, records what was invoked, and injects faults.

Point the function at it with ``JOBWATCH_SCF_ENDPOINT=http://127.0.0.1:<port>`` (as ``JOBWATCH_CI_ENDPOINT`` points
it at the CI emulator).

A function given in ``workers`` (with the environment it runs in) is run for real on an asynchronous invocation, as
SCF runs it: ``main_handler`` in a process of its own (``devkit.scfworker``), at most ``concurrency`` at once (the
rest wait, as SCF holds events over its concurrency), and a run that dies (a crash, a kill) is run again, at most
``retries`` times, as SCF retries an asynchronous invocation that failed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devkit.localserver import LocalServer

from .server import TEST_SECRET_ID, TEST_SECRET_KEY

MAX_ASYNC_EVENT = 128 * 1024
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    """One attempt of an asynchronous invocation in a worker process."""

    request_id: str
    attempt: int
    returncode: int | None = None
    answer: Any = None
    killed: bool = False


@dataclass
class Invocation:
    function: str
    namespace: str
    invocation_type: str
    client_context: str


@dataclass
class SCFEmulator(LocalServer):
    """``start()``, ``url``, ``stop()``; ``functions`` that exist; ``invocations`` made; ``faults`` to inject, one
    per request: an error code (``InternalError``, ``LimitExceeded``, …) or ``slow:<seconds>``."""

    _poll = 0.05

    secret_id: str = TEST_SECRET_ID
    secret_key: str = TEST_SECRET_KEY
    functions: set[str] = field(default_factory=lambda: {"default/next-step"})
    invocations: list[Invocation] = field(default_factory=list)
    faults: deque[str] = field(default_factory=deque)
    auth_failures: int = 0
    workers: dict[str, dict[str, str]] = field(default_factory=dict)  # namespace/name → its environment
    concurrency: int = 4
    retries: int = 2
    retry_delay: float = 0.5  # SCF waits a minute or two; tests cannot
    time_limit_ms: int = 30_000
    kill_after: deque[float] = field(default_factory=deque)  # seconds after which each next run is killed
    runs: list[Run] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, self.concurrency))
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def run_async(self, function: str, event: str) -> None:
        """Run an asynchronous invocation of a worker function: in a thread that waits for a slot."""
        with self._lock:
            self._pending += 1
        threading.Thread(target=self._attempts, args=(function, event), daemon=True).start()

    def wait_idle(self, timeout: float = 120.0) -> bool:
        """Block until every asynchronous invocation has run (True), or ``timeout`` passed (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _attempts(self, function: str, event: str) -> None:
        request_id = str(uuid.uuid4())
        try:
            for attempt in range(1, self.retries + 2):
                run = Run(request_id, attempt)
                with self._slots:
                    self._run_once(function, event, run)
                with self._lock:
                    self.runs.append(run)
                if run.returncode == 0:
                    return
                time.sleep(self.retry_delay)
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _run_once(self, function: str, event: str, run: Run) -> None:
        namespace, name = function.split("/", 1)
        env = {**self.workers[function], "SCF_FUNCTIONNAME": name, "SCF_NAMESPACE": namespace,
               "SCF_WORKER_REQUEST_ID": run.request_id, "SCF_WORKER_TIME_LIMIT_MS": str(self.time_limit_ms),
               "PYTHONPATH": f"{ROOT / 'handler'}{os.pathsep}{ROOT}"}  # fmt: skip
        with self._lock:
            kill_after = self.kill_after.popleft() if self.kill_after else None
        process = subprocess.Popen([sys.executable, "-m", "devkit.scfworker"], cwd=ROOT, env=env, text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        try:
            out, _ = process.communicate(
                event, timeout=kill_after if kill_after is not None else self.time_limit_ms / 1000 + 30
            )
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.communicate()
            run.killed = True
            out = ""
        run.returncode = process.returncode
        if out.strip():
            try:
                run.answer = json.loads(out.strip().splitlines()[-1]).get("answer")
            except ValueError:
                run.answer = out[-500:]

    def answer(self, headers: dict[str, str], body: bytes, host: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one API request."""
        request_id = str(uuid.uuid4())

        def error(code: str, message: str) -> tuple[int, dict[str, Any]]:
            return 200, {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}}

        problem = verify_tc3(self.secret_id, self.secret_key, headers, body, host, time.time())
        if problem:
            with self._lock:
                self.auth_failures += 1
            return error(*problem)
        with self._lock:
            fault = self.faults.popleft() if self.faults else None
        if fault and fault.startswith("slow:"):
            time.sleep(float(fault[5:]))
            fault = None
        if fault:
            return error(fault, f"injected {fault}")
        if headers.get("x-tc-action") != "Invoke":
            return error("InvalidAction", "only Invoke is emulated")
        try:
            request = json.loads(body)
        except ValueError:
            return error("InvalidParameter", "the body is not JSON")
        namespace = request.get("Namespace") or "default"
        name = request.get("FunctionName") or ""
        context = request.get("ClientContext") or ""
        if f"{namespace}/{name}" not in self.functions and f"{namespace}/{name}" not in self.workers:
            return error("ResourceNotFound.Function", f"function {namespace}/{name} does not exist")
        if request.get("InvocationType") == "Event" and len(context.encode()) > MAX_ASYNC_EVENT:
            return error("InvalidParameterValue.ClientContext", "an async event is at most 128 KB")
        with self._lock:
            self.invocations.append(Invocation(name, namespace, str(request.get("InvocationType")), context))
        if f"{namespace}/{name}" in self.workers and request.get("InvocationType") == "Event":
            self.run_async(f"{namespace}/{name}", context)
        result = {"FunctionRequestId": str(uuid.uuid4()), "InvokeResult": 0, "RetMsg": "", "Duration": 0, "MemUsage": 0}
        return 200, {"Response": {"Result": result, "RequestId": request_id}}


def verify_tc3(
    secret_id: str, secret_key: str, headers: dict[str, str], body: bytes, host: str, now: float
) -> tuple[str, str] | None:
    """Check a TC3-HMAC-SHA256 signed request; None when it is good, else (error code, message) as SCF answers."""
    auth = headers.get("authorization", "")
    if not auth.startswith("TC3-HMAC-SHA256 "):
        return "AuthFailure.SignatureFailure", "the Authorization header is not TC3-HMAC-SHA256"
    parts = dict(p.strip().split("=", 1) for p in auth[len("TC3-HMAC-SHA256 ") :].split(",") if "=" in p)
    credential = parts.get("Credential", "").split("/")
    if len(credential) != 4 or credential[3] != "tc3_request":
        return "AuthFailure.SignatureFailure", "the Credential is malformed"
    key_id, day, service, _ = credential
    if key_id != secret_id:
        return "AuthFailure.SecretIdNotFound", "the SecretId does not exist"
    try:
        timestamp = int(headers.get("x-tc-timestamp", ""))
    except ValueError:
        return "AuthFailure.SignatureFailure", "X-TC-Timestamp is missing"
    if abs(now - timestamp) > 300:
        return "AuthFailure.SignatureExpire", "the signature has expired"
    if datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d") != day:
        return "AuthFailure.SignatureFailure", "the Credential's date is not the timestamp's"
    signed = parts.get("SignedHeaders", "")
    values = {**headers, "host": host}
    canonical_headers = "".join(f"{name}:{values.get(name, '').strip().lower()}\n" for name in signed.split(";"))
    canonical = "\n".join(["POST", "/", "", canonical_headers, signed, hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{service}/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()])

    def mac(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode(), hashlib.sha256).digest()

    signing = mac(mac(mac(("TC3" + secret_key).encode(), day), service), "tc3_request")
    expected = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts.get("Signature", "")):
        return "AuthFailure.SignatureFailure", "the signature does not match"
    return None


def _handler_for(emulator: SCFEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = emulator.answer(headers, body, headers.get("host", ""))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
