"""A local HTTP front for ``main_handler`` (like ``sam local start-api``): real HTTP on 127.0.0.1 in, Function
URL events to the function, its integration responses back out as HTTP.

    .venv/bin/python -m devkit.apiserver                  # uses the JOBWATCH_* environment as deployed
    .venv/bin/python -m devkit.apiserver --with-emulator  # also starts the CI emulator, a webhook receiver
                                                          # and a timer that sweeps every few seconds
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MAX_BODY = 1024 * 1024


def to_event(
    method: str, target: str, headers: dict[str, str], body: bytes, client: str, shape: str = "functionurl"
) -> dict[str, Any]:
    """A Function URL event, as SCF builds one (lower-case headers, query as a map, text or base64 body), or with
    ``shape="apigateway"`` an API Gateway integration event (requestContext, queryStringParameters)."""
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    event: dict[str, Any] = {
        "httpMethod": method,
        "path": parts.path or "/",
        "headers": {**{k.lower(): v for k, v in headers.items()}, "x-scf-remote-addr": client},
        "queryString": query,
    }
    try:
        event["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    if shape == "apigateway":
        event.setdefault("isBase64Encoded", False)
        event.update(requestContext={"path": event["path"], "httpMethod": method, "sourceIp": client,
                                     "stage": "release"}, queryStringParameters=query)  # fmt: skip
    return event


def make_handler(invoke: Any, shape: str = "functionurl") -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            # the path only: a query may carry a token (CI callbacks), and no log line shows one
            path = urlsplit(self.path).path
            sys.stderr.write(f"api: {self.command} {path} -> {args[1] if len(args) > 1 else ''}\n")

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.send_error(413)
                return
            body = self.rfile.read(length) if length else b""
            event = to_event(self.command, self.path, dict(self.headers), body, self.client_address[0], shape)
            context = {"request_id": str(uuid.uuid4()), "time_limit_in_ms": 30_000}
            result = invoke(event, context)
            if not isinstance(result, dict) or "statusCode" not in result:  # a plain JSON answer: SCF sends 200
                result = {
                    "statusCode": 200,
                    "headers": {"Content-Type": "application/json"},
                    "body": json.dumps(result),
                }
            payload = result.get("body") or ""
            data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
            self.send_response(int(result["statusCode"]))
            for name, value in (result.get("headers") or {}).items():
                for item in value if isinstance(value, list) else [value]:
                    self.send_header(name, str(item))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.apiserver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--port", type=int, default=9300)
    parser.add_argument("--with-emulator", action="store_true", help="start the CI emulator, a receiver and a timer")
    parser.add_argument("--jobs", type=int, default=10, help="with --with-emulator: jobs to preload")
    parser.add_argument("--every", type=float, default=5.0, help="with --with-emulator: seconds between sweeps")
    parser.add_argument(
        "--duration",
        type=float,
        nargs=2,
        default=(30.0, 90.0),
        metavar=("MIN", "MAX"),
        help="with --with-emulator: how long the emulated jobs run",
    )
    args = parser.parse_args(argv)
    stop = threading.Event()
    if args.with_emulator:
        from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator
        from devkit.receiver import WebhookReceiver, new_secret

        emulator = CIEmulator(port=9100).start()
        emulator.book.preload(args.jobs, seed=5, duration=tuple(args.duration))
        secret = new_secret()
        receiver = WebhookReceiver(secret, port=9200).start()
        os.environ.update({
            "JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
            "TENCENTCLOUD_SECRETID": TEST_SECRET_ID, "TENCENTCLOUD_SECRETKEY": TEST_SECRET_KEY,
            "JOBWATCH_STORE": os.environ.get("JOBWATCH_STORE", "file:.jobwatch"),
            "JOBWATCH_API_TOKEN": os.environ.get("JOBWATCH_API_TOKEN", "local-token"),
            "JOBWATCH_CALLBACK_TOKEN": os.environ.get("JOBWATCH_CALLBACK_TOKEN", "local-callback-token"),
            "JOBWATCH_WEBHOOK_SECRET": secret, "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.1/32",
        })  # fmt: skip
        low, high = args.duration
        print(f"CI emulator on {emulator.url} with {args.jobs} jobs ({low:.0f}-{high:.0f} s each)")
        print(f"webhook receiver on {receiver.url}; JOBWATCH_WEBHOOK_SECRET={secret}")
        print(
            f"API token: {os.environ['JOBWATCH_API_TOKEN']}  (callback token for /ci-callback?token=: "
            f"{os.environ['JOBWATCH_CALLBACK_TOKEN']})"
        )

    import index

    if args.with_emulator:

        def timer() -> None:
            while not stop.wait(args.every):
                index.main_handler(
                    {"Type": "Timer", "TriggerName": "local", "Message": ""}, {"time_limit_in_ms": 30_000}
                )
                if receiver.by_type:
                    print(f"receiver: {dict(receiver.by_type)} duplicates={receiver.duplicates}", flush=True)

        threading.Thread(target=timer, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(index.main_handler))
    server.daemon_threads = True
    print(
        f"jobwatch API on http://127.0.0.1:{args.port}; status page: http://127.0.0.1:{args.port}/ui  (Ctrl-C stops)",
        flush=True,
    )
    try:
        server.serve_forever(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
