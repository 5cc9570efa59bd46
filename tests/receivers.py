"""A real HTTP receiver on 127.0.0.1 for webhook and integration tests."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Receiver:
    """Records every request; answers from `replies` (status, headers, body, delay) or 200."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    replies: list[tuple[int, dict[str, str], str, float]] = field(default_factory=list)
    default: tuple[int, str] = (200, "ok")

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.start()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append(
                        Received(self.command, self.path, dict(self.headers), raw)
                    )
                    reply = receiver.replies.pop(0) if receiver.replies else None
                status, headers, body, delay = reply or (
                    receiver.default[0],
                    {},
                    receiver.default[1],
                    0.0,
                )
                time.sleep(delay)
                data = body.encode()
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            do_POST = do_PUT = do_PATCH = do_GET = _handle  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reply(self, status: int, body: str = "", delay: float = 0.0, **headers: str) -> None:
        self.replies.append(
            (status, {k.replace("_", "-"): v for k, v in headers.items()}, body, delay)
        )
