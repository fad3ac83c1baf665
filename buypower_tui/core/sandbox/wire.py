"""The sandbox on the wire: the HTTP server and the handler that moves bytes.

The handler routes each request to a SandboxServer method (server.py) that returns a Reply,
and writes it signed, with Content-Length, JSON or (the one plain-text 429 of §13) text.
Drops and held answers are carried out here, so the request logic never touches a socket.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import socketserver
import threading
import time
from contextlib import suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from buypower_tui.core.sandbox import validation as rq
from buypower_tui.core.sandbox.ledger import num
from buypower_tui.core.sandbox.validation import Invalid

log = logging.getLogger("buypower_tui.sandbox")

MAX_BODY = 64 * 1024  # a vend body is a few hundred bytes
_DRAIN = 1 << 20  # read (and drop) at most this much of a too-large body before answering


def signature(body: bytes, key: str) -> str:
    """x-buypower-signature: lowercase hex sha512 of the raw body bytes then the key (§2, a guess)."""
    return hashlib.sha512(body + key.encode()).hexdigest()


class Reply(NamedTuple):
    status: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()
    action: str = "answer"  # answer | drop (close without answering) | hold (answer after `hold` s)
    hold: float = 0.0


def error(status: int, message: str, **extra: Any) -> Reply:
    return Reply(status, {"status": False, **extra, "message": message, "responseCode": status})


_UNAUTHORIZED = error(401, "Unauthorized")
_ROUTES = {"discos/status": ("GET", "discos_status"), "check/meter": ("GET", "check_meter"),
           "vend": ("POST", "vend"), "wallet/balance": ("GET", "wallet_balance")}


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a held answer must not block stop()
    allow_reuse_address = True  # a restarted sandbox gets its port back at once

    def __init__(self, address: tuple[str, int], sandbox: Any) -> None:
        self.sandbox = sandbox
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

    def server_bind(self) -> None:  # HTTPServer's version does a reverse DNS lookup: skip it
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as BuyPower's own front end
    server_version = "BuyPowerSandbox/1.0"
    timeout = 120  # an idle keep-alive connection frees its thread eventually
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server: HTTPServer

    def parse_request(self) -> bool:
        self.arrived = time.monotonic()
        return super().parse_request()

    def do_GET(self) -> None:
        sandbox = self.server.sandbox
        try:
            reply = self._route(sandbox)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return
        except Exception:  # a bug of ours must still answer like BuyPower, not kill the thread
            log.exception("sandbox: unexpected error on %s %s", self.command, self.path)
            reply = error(500, "An unexpected error occurred. Please requery to get status.", error=True)
        if self.path.startswith("/v2"):
            # Latency counts from arrival, so an answer leaves latency_ms after its request
            # came in, not latency_ms plus our own work (the benchmark's bound assumes that).
            wait = self.arrived + sandbox.latency_s() - time.monotonic()
            if wait > 0 and sandbox.stopping.wait(wait):
                reply = reply._replace(action="drop")
        if reply.action == "hold" and not sandbox.stopping.wait(reply.hold):
            reply = reply._replace(action="answer")
        if reply.action != "answer" or sandbox.stopping.is_set():
            self.close_connection = True  # drop: the socket closes with nothing written
            return
        self._send(reply)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _route(self, sandbox: Any) -> Reply:
        body = self._read_body()
        if body is None:
            return error(400, "Invalid request body: too large or unreadable")
        path = urlsplit(self.path).path
        if path.startswith("/__sandbox/"):
            return self._admin(sandbox, path[len("/__sandbox/"):].rstrip("/"), body)
        if path != "/v2" and not path.startswith("/v2/"):
            return error(404, "Not found")
        route = path[len("/v2/"):].rstrip("/")
        method, name = _ROUTES.get(route, ("GET", "requery") if route.startswith("transaction/") else ("", "other"))
        sandbox.ledger.count(name)
        if not sandbox.authorised(self.headers.get("Authorization")):
            sandbox.ledger.count("unauthorized")
            return _UNAUTHORIZED
        if not method or (name == "requery" and route.count("/") != 1):
            return error(404, "Not found")
        if self.command != method:
            return error(405, "Method not allowed")._replace(headers=(("Allow", method),))
        if name == "requery":
            return sandbox.requery(unquote(route[len("transaction/"):]))
        if name == "check_meter":
            return sandbox.check_meter(self._query())
        if name == "vend":
            try:
                return sandbox.vend(rq.parse_fields(self.headers.get("Content-Type", ""), body))
            except Invalid as exc:
                return error(400, str(exc))
        return getattr(sandbox, name)()

    def _admin(self, sandbox: Any, route: str, body: bytes) -> Reply:
        if self.client_address[0] not in ("127.0.0.1", "::1"):
            return error(403, "The sandbox ledger answers on loopback only")
        if route == "ledger" and self.command == "GET":
            return Reply(200, sandbox.ledger.snapshot())
        if route == "reset" and self.command == "POST":
            sandbox.reset()
            return Reply(200, {"status": True, "message": "Sandbox reset", "wallet": num(sandbox.ledger.wallet)})
        if route == "config" and self.command == "GET":
            return Reply(200, sandbox.config.public())
        if route == "config" and self.command == "POST":
            try:
                return Reply(200, sandbox.update_config(**rq.parse_fields("application/json", body)).public())
            except (TypeError, ValueError) as exc:
                return error(400, str(exc))
        return error(404, "Not found: use GET /__sandbox/ledger, POST /__sandbox/reset, GET|POST /__sandbox/config")

    def _query(self) -> dict[str, str]:
        try:
            pairs = parse_qs(urlsplit(self.path).query, keep_blank_values=True, max_num_fields=50)
        except ValueError:
            return {}
        return {rq.canonical(k): v[0] for k, v in pairs.items()}

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # chunked bodies are not supported: ask for Content-Length
            return None
        raw = self.headers.get("Content-Length")
        if not raw:
            return b""
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            left = min(max(length, 0), _DRAIN)  # so the client reads our 400, not a reset
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
            return None
        return self.rfile.read(length)

    def _send(self, reply: Reply) -> None:
        text = isinstance(reply.body, str)  # a plain-text answer (a 429 from a proxy), else JSON
        payload = reply.body.encode() if text else json.dumps(reply.body, separators=(",", ":"),
                                                               ensure_ascii=False).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/plain; charset=utf-8" if text else "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-buypower-signature", signature(payload, self.server.sandbox.key))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests (bad request line, unsupported method) still get signed JSON."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # an unparseable request line: still send headers
            self.request_version = "HTTP/1.1"
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self._send(error(code, message or phrase))

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)
