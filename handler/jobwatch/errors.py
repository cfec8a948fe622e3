"""The one exception tree of jobwatch.

Callers decide "retry later" or "give up" from the branch alone::

    JobwatchError
    ├── TransientError              worth retrying: the same call may succeed later
    │   ├── StoreUnavailableError   the store timed out or answered 5xx/throttled
    │   └── CITransientError        CI answered 5xx or 429, or the network failed
    │       ├── CIThrottledError    429 SlowDown (carries retry_after)
    │       ├── CIConnectionError   timeout, reset, refused, dropped connection
    │       └── CIBadResponseError  a truncated or malformed body from CI
    └── PermanentError              the same call will fail again
        ├── ConfigError             a bad environment variable (names it)
        ├── InvalidInputError       a bad job ID, argument or request body
        ├── StoreError              the store refused us (permissions, missing bucket, versioning, corrupt data)
        ├── XMLError                XML we refuse to read
        │   ├── MalformedXMLError   not well-formed (truncated, garbage)
        │   └── UnsafeXMLError      DOCTYPE/entities (XXE, billion laughs) or over the size cap
        └── CIPermanentError        CI answered 4xx (or 501) and will again
            ├── CIAuthError         401/403: signature, credentials, permission
            └── CINotFoundError     404 or ResourceNotFound

Every CI error carries CI's ``Code``, ``Message``, ``RequestId``, ``TraceId`` and the HTTP status; its ``code`` is
CI's own with a ``CI.`` prefix (``CI.InternalError``), so CI's failures never pass for jobwatch's own.
Every error names its ``source``: ``caller`` (bad input), ``ci``, ``store``, ``config``, or ``jobwatch``.
Adapters translate third-party exceptions into this tree with ``raise ... from exc``.
"""

from __future__ import annotations


class JobwatchError(Exception):
    """Root of every error jobwatch raises on purpose."""

    code: str = "InternalError"
    source: str = "jobwatch"  # who failed: caller, ci, store, config or jobwatch

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransientError(JobwatchError):
    """A failure that may go away: retry later (with backoff)."""


class PermanentError(JobwatchError):
    """A failure that will repeat: do not retry."""


class ConfigError(PermanentError):
    """Raised when an environment variable holds a value jobwatch cannot use."""

    code = "InvalidConfiguration"
    source = "config"

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class InvalidInputError(PermanentError):
    """Raised for a bad argument, job ID or request body from our own caller."""

    code = "InvalidArgument"
    source = "caller"


class NotFoundError(InvalidInputError):
    """Raised when a named job, event or document does not exist."""

    code = "NotFound"


class ForbiddenError(InvalidInputError):
    """Raised for an action this deployment does not allow (a setting turns it on)."""

    code = "Forbidden"


class ConflictError(InvalidInputError):
    """Raised for an action the named thing is not in a state for (a batch still running, nothing to retry)."""

    code = "Conflict"


class StoreUnavailableError(TransientError):
    """The store did not answer in time, or answered 5xx or throttled."""

    code = "StoreUnavailable"
    source = "store"


class StoreError(PermanentError):
    """The store refused the request, or holds data we cannot use."""

    code = "StoreError"
    source = "store"


class XMLError(PermanentError):
    """Raised when an XML document is refused."""

    code = "InvalidXML"


class MalformedXMLError(XMLError):
    """Raised when XML is not well-formed (truncated, garbage, wrong root)."""


class UnsafeXMLError(XMLError):
    """Raised for XML with a DOCTYPE or entities, or larger than the size cap."""


class CIError(JobwatchError):
    """Common fields of every error that came from (or on the way to) CI."""

    source = "ci"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        ci_code: str | None = None,
        request_id: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.ci_code = ci_code
        self.request_id = request_id
        self.trace_id = trace_id
        if ci_code:
            self.code = f"CI.{ci_code}"

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.ci_code:
            parts.append(f"code={self.ci_code}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)


class CITransientError(CIError, TransientError):
    """CI failed in a way that may pass: 5xx, throttling, network trouble."""

    code = "CIUnavailable"


class CIThrottledError(CITransientError):
    """CI answered 429 SlowDown; ``retry_after`` is its Retry-After in seconds, if any."""

    code = "SlowDown"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        ci_code: str | None = None,
        request_id: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, ci_code=ci_code, request_id=request_id, trace_id=trace_id)
        self.retry_after = retry_after


class CIConnectionError(CITransientError):
    """The request did not complete: timeout, reset, refused or dropped connection."""

    code = "CIConnectionError"

    def __init__(self, message: str, *, maybe_applied: bool = True) -> None:
        super().__init__(message)
        # False only when the request certainly never reached CI (e.g. connection refused);
        # a create is retried only then, since a retried POST can start a duplicate batch job.
        self.maybe_applied = maybe_applied


class CIBadResponseError(CITransientError):
    """CI's answer could not be read: truncated or malformed body."""

    code = "CIBadResponse"


class CIPermanentError(CIError, PermanentError):
    """CI refused the request and will refuse it again (4xx, 501)."""

    code = "CIRequestFailed"


class CIAuthError(CIPermanentError):
    """CI refused the credentials or signature, or the role lacks permission (401/403)."""

    code = "AccessDenied"


class CINotFoundError(CIPermanentError):
    """CI does not know the resource (404 or ResourceNotFound)."""

    code = "ResourceNotFound"
