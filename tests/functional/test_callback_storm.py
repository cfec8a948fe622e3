"""The callback-storm guard holds under concurrency: many CI callbacks arriving together over real HTTP start one
refresh, not one each (a batch over many objects sends one callback per object)."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import ThreadingHTTPServer

from devkit.apiserver import make_handler
from devkit.ciemu import CIEmulator
from devkit.localserver import Serving
from jobwatch.entry import Ports, handle
from tests.functional.apitools import CALLBACK_TOKEN


class Server(ThreadingHTTPServer):
    request_queue_size = 64  # twenty connects at once must all be accepted


def test_concurrent_callbacks_refresh_once(api: Ports, emulator: CIEmulator) -> None:
    """Twenty callbacks at once over real HTTP: exactly one of them runs a sweep; all are accepted (202)."""
    emulator.clock.advance(600)  # the last sweep is long past
    emulator.faults.latency = 0.05  # a sweep takes a while, so the callbacks overlap it
    server = Server(("127.0.0.1", 0), make_handler(lambda e, c: handle(e, c, ports=api)))
    server.daemon_threads = True
    served = Serving(server, poll=0.05).start()
    url = f"{served.url}/ci-callback?token={CALLBACK_TOKEN}"
    answers: list[dict] = []  # type: ignore[type-arg]
    gate = threading.Barrier(20)

    def send(_: int) -> None:
        request = urllib.request.Request(url, data=json.dumps({"EventName": "TaskFinish"}).encode(),
                                         headers={"content-type": "application/json"})  # fmt: skip
        gate.wait()
        with urllib.request.urlopen(request, timeout=60) as answer:
            answers.append({"status": answer.status, **json.loads(answer.read())})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    served.stop()
    assert len(answers) == 20 and {a["status"] for a in answers} == {202}
    ran = [a for a in answers if "jobsSeen" in a["sweep"]]
    assert len(ran) == 1, [a["sweep"] for a in answers]
