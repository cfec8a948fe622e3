"""Chained functions: the event body sent to another SCF function by an asynchronous ``Invoke``.

tencentcloud-sdk-python is imported on first use only (cold starts). Credentials are built from
TENCENTCLOUD_SECRETID/SECRETKEY/SESSIONTOKEN ourselves: the SDK's environment provider ignores the token.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from ..config import Credentials, Settings
from ..deadline import Deadline, call_within
from .webhook import AttemptResult

MAX_ASYNC_PAYLOAD = 128 * 1024
INVOKE_TIMEOUT = 20.0  # seconds one Invoke may take in all, like one webhook attempt


def split_function(name: str) -> tuple[str, str]:
    """``namespace/name`` or ``name`` (namespace ``default``)."""
    namespace, _, function = name.rpartition("/")
    return namespace or "default", function


class ChainInvoker:
    """Invokes functions with InvocationType=Event; the SDK client is injected or built lazily."""

    def __init__(
        self,
        credentials: Credentials | None,
        region: str | None,
        *,
        endpoint: str | None = None,
        scheme: str = "https",
        client: Any = None,
    ) -> None:
        self.credentials = credentials
        self.region = region
        self.endpoint = endpoint
        self.scheme = scheme
        self._client = client
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ChainInvoker:
        """The invoker of the function's own region, or of ``JOBWATCH_SCF_ENDPOINT`` when it is set."""
        if settings.scf_endpoint:
            parts = urlsplit(settings.scf_endpoint)
            return cls(settings.credentials, settings.function_region, endpoint=parts.netloc, scheme=parts.scheme)
        return cls(settings.credentials, settings.function_region)

    def _scf(self) -> Any:
        with self._lock:
            if self._client is None:
                from tencentcloud.common.credential import Credential
                from tencentcloud.common.profile.client_profile import ClientProfile
                from tencentcloud.common.profile.http_profile import HttpProfile
                from tencentcloud.scf.v20180416.scf_client import ScfClient

                if self.credentials is None:
                    raise RuntimeError("TENCENTCLOUD_SECRETID/SECRETKEY are needed to invoke functions")
                credential = Credential(self.credentials.secret_id, self.credentials.secret_key, self.credentials.token)
                http = HttpProfile(protocol=self.scheme, endpoint=self.endpoint, reqTimeout=10)
                self._client = ScfClient(credential, self.region or "ap-guangzhou", ClientProfile(httpProfile=http))
            return self._client

    def invoke(self, function: str, body: bytes, deadline: Deadline) -> AttemptResult:
        if len(body) > MAX_ASYNC_PAYLOAD:
            return AttemptResult(False, None, f"payload of {len(body)} bytes is over SCF's 128 KB async limit")
        if deadline.remaining() <= 0.5:
            return AttemptResult(False, None, "no time left in this invocation")
        namespace, name = split_function(function)
        try:
            from tencentcloud.scf.v20180416 import models

            client = self._scf()
            request = models.InvokeRequest()
            request.FunctionName = name
            request.Namespace = namespace
            request.InvocationType = "Event"
            request.ClientContext = body.decode()
            # The SDK's timeout restarts with each byte read: the whole call is bounded by the invocation's deadline.
            call_within(lambda: client.Invoke(request), min(INVOKE_TIMEOUT, deadline.remaining() - 0.25), "invoke")
        except TimeoutError:
            return AttemptResult(False, None, "Invoke failed: no answer before the deadline (it may still run)")
        except Exception as exc:  # the SDK raises its own exception type, plus requests' ones
            code = getattr(exc, "code", None) or type(exc).__name__
            return AttemptResult(False, None, f"Invoke failed: {code}")
        return AttemptResult(True, 200)
