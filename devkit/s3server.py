"""moto's S3 in server mode on 127.0.0.1: a real HTTP S3 endpoint for the tests and the demo (a store, or the
watched buckets whose retry lists the CI emulator reads).

Requests are handled one at a time (connections stay concurrent), so a conditional PUT is atomic as on real S3 and
COS: moto checks If-None-Match and stores in two steps, which could let two racing creates both win.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from devkit.localserver import LocalServer


class S3Server(LocalServer):
    """``start()``, ``url``, ``stop()``; or ``with S3Server() as s3: s3.url``."""

    _thread_name = "moto-s3"

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def one_at_a_time(environ: Any, start_response: Any) -> Any:
            with lock:
                return list(app(environ, start_response))

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request would bury a demo's output
        self._server = make_server("127.0.0.1", 0, one_at_a_time, True, request_handler=MotoRequestHandler)


def client(endpoint: str) -> Any:
    """A boto3 S3 client for the local server (any keys do)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
                        aws_secret_access_key="local", config=Config(s3={"addressing_style": "path"}))  # noqa: S106  # fmt: skip
