"""A BuyPower that misbehaves: a stdlib HTTP server on 127.0.0.1, in a thread of the test.

Each request gets what the test set for it: DRIP (one byte every `interval` seconds, forever:
httpx's per-read timeout never trips), ENDLESS (a body that never ends, as fast as it goes,
up to SAFETY_LIMIT so a client without a cap cannot take the machine down), fixed bytes
(HTTP 200), or, by default, the answer of the real sandbox (`upstream`), passed through
`tamper` when the test wants BuyPower to say something odd.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

DRIP, ENDLESS = "drip", "endless"
SAFETY_LIMIT = 64 << 20

Behaviour = str | bytes | None  # DRIP, ENDLESS, a 200 body, or None: relay to the sandbox


class HostileServer:
    def __init__(self, upstream: str | None = None, *, vend: Behaviour = None, reads: Behaviour = None,
                 tamper: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None, interval: float = 0.2) -> None:
        self.upstream = urlsplit(upstream) if upstream else None
        self.vend, self.reads, self.tamper, self.interval = vend, reads, tamper, interval
        self.sent = 0  # bytes of ENDLESS bodies written
        self.hits: list[str] = []  # "POST /v2/vend", ... in order of arrival
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v2"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(server.reads)

            def do_POST(self) -> None:
                self._answer(server.vend if urlsplit(self.path).path.endswith("/vend") else server.reads)

            def _answer(self, behaviour: Behaviour) -> None:
                server.hits.append(f"{self.command} {urlsplit(self.path).path}")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    if behaviour == DRIP:
                        self._drip()
                    elif behaviour == ENDLESS:
                        self._endless()
                    elif isinstance(behaviour, bytes):
                        self._send(200, {"Content-Type": "application/json"}, behaviour)
                    else:
                        self._relay(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up: what a capped client does

            def _drip(self) -> None:
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"status\": true, \"message\": \""
                i = 0
                while not server._stop.is_set():
                    self.wfile.write(head[i:i + 1] if i < len(head) else b"x")
                    self.wfile.flush()
                    i += 1
                    time.sleep(server.interval)

            def _endless(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                chunk = b'{"status": true, "message": "' + b"x" * (64 * 1024)
                while not server._stop.is_set() and server.sent < SAFETY_LIMIT:
                    self.wfile.write(chunk)
                    server.sent += len(chunk)
                    chunk = b"x" * (64 * 1024)

            def _relay(self, body: bytes) -> None:
                up = server.upstream
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = conn.getresponse()
                content = answer.read()
                conn.close()
                if server.tamper is not None:
                    with contextlib.suppress(ValueError):  # not JSON: passed on as it is
                        content = json.dumps(server.tamper(urlsplit(self.path).path, json.loads(content))).encode()
                kept = {k: v for k, v in answer.getheaders() if k.lower() in ("content-type", "retry-after")}
                self._send(answer.status, kept, content)

            def _send(self, status: int, headers: dict[str, str], content: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        return Handler
