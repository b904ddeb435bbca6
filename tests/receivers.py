"""A real HTTP receiver on 127.0.0.1 that records what is posted to it.

Its port is bound before it listens, so a test can start with the receiver
"down" (connections refused) and bring it up on the same URL later.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Received", "Receiver"]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers ``status`` (and ``location`` for a redirect)."""

    status: int = 200
    location: str = ""
    delay: float = 0.0  # seconds each answer takes, to make deliverers overlap
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(), False)
        self._server.daemon_threads = True
        self._server.server_bind()  # the port is ours, but nothing listens yet
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self._server.server_activate()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def accepted(self) -> list[Received]:
        with self._lock:
            return [request for request in self.requests if 200 <= request.status < 300]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def _record(self, request: Received) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.status
                receiver._record(Received(self.path, dict(self.headers.items()), body, status))
                answer = b"ok" if status < 300 else b"receiver says no"
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler
