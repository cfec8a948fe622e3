"""A local webhook receiver that verifies every delivery with the standardwebhooks library.

Counts deliveries per event type, and duplicates (a webhook-id seen twice, which must never happen once a
delivery was answered 2xx). ``faults`` misbehave one request each, in order: ``"hang:<seconds>"`` (no answer for
that long), ``"trickle"`` (headers a byte at a time), ``"reset"`` (the connection dropped unanswered), or a status
(``"302"``, ``"400"``, ``"410"``, ``"429"``, ``"500"``); a faulted request is not counted as received. Used by
``make demo``, the fault matrix and ``make soak``; runs alone with ``python -m devkit.receiver``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import struct
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from devkit.localserver import LocalServer


def new_secret() -> str:
    """A fresh ``whsec_`` secret (24 random bytes)."""
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


class WebhookReceiver(LocalServer):
    """``start()``, ``url``, ``stop()``; ``by_type``, ``duplicates``, ``rejected`` count what arrived."""

    _path = "/hook"

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.secret = secret
        self.webhook = Webhook(secret)
        self.by_type: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()
        self.rejected = 0
        self.faults: deque[str] = deque()
        self.delay = 0.0  # seconds every verified delivery waits before its answer (slow receivers, crash tests)
        self.injected: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.seen.values() if n > 1)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    fault = receiver.faults.popleft() if receiver.faults else None
                    if fault:
                        receiver.injected[fault.partition(":")[0]] += 1
                if fault:
                    self.misbehave(fault)
                    return
                try:
                    payload = receiver.webhook.verify(body, dict(self.headers))
                except WebhookVerificationError:
                    with receiver.lock:
                        receiver.rejected += 1
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.seen[self.headers["webhook-id"]] += 1
                    receiver.by_type[payload.get("type", "?")] += 1
                self.send_response(204)
                self.end_headers()

            def misbehave(self, fault: str) -> None:
                self.close_connection = True
                if fault.startswith("hang:"):
                    time.sleep(float(fault[5:]))
                elif fault == "trickle":
                    try:
                        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Slow: " + b"." * 200:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.05)
                    except OSError:
                        pass  # the sender gave up, as it should
                elif fault == "reset":
                    # RST instead of FIN: the sender sees a connection reset, not a clean close
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                else:
                    self.send_response(int(fault))
                    if fault.startswith("3"):
                        self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                    if fault == "429":
                        self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()

        return Handler


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.receiver", description=__doc__)
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--secret", default=os.environ.get("JOBWATCH_WEBHOOK_SECRET") or new_secret())
    args = parser.parse_args()
    receiver = WebhookReceiver(args.secret, port=args.port).start()
    print(f"webhook receiver on {receiver.url}\n  JOBWATCH_WEBHOOK_SECRET={args.secret}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    print(json.dumps({"byType": receiver.by_type, "duplicates": receiver.duplicates, "rejected": receiver.rejected}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
