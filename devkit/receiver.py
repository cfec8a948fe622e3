"""A local webhook receiver that verifies every delivery with the standardwebhooks library.

Counts deliveries per event type, and duplicates (a webhook-id seen twice, which must never happen once a
delivery was answered 2xx). Used by ``make demo``; runs alone with ``python -m devkit.receiver``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


def new_secret() -> str:
    """A fresh ``whsec_`` secret (24 random bytes)."""
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


class WebhookReceiver:
    """``start()``, ``url``, ``stop()``; ``by_type``, ``duplicates``, ``rejected`` count what arrived."""

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.webhook = Webhook(secret)
        self.by_type: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()
        self.rejected = 0
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hook"

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.seen.values() if n > 1)

    def start(self) -> WebhookReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = receiver.webhook.verify(body, dict(self.headers))
                except WebhookVerificationError:
                    with receiver.lock:
                        receiver.rejected += 1
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.seen[self.headers["webhook-id"]] += 1
                    receiver.by_type[payload.get("type", "?")] += 1
                self.send_response(204)
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
