"""A fake BuyPower on 127.0.0.1 that speaks the contract of buypower-api.md §2-§6 and §11.

It is a real HTTP server (stdlib ThreadingHTTPServer), so the client under test meets real
sockets, real timeouts and real dropped connections, not a transport mock. The request
logic lives on SandboxServer and returns a Reply; the handler only moves bytes, which keeps
every answer signed, JSON and counted the same way, errors included.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import math
import random
import socket
import socketserver
import threading
import time
from contextlib import suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from buypower_tui.core.sandbox import fixtures as fx
from buypower_tui.core.sandbox import validation as rq
from buypower_tui.core.sandbox.fixtures import RUNTIME_FIELDS, SandboxConfig
from buypower_tui.core.sandbox.ledger import R_SUCCESS, R_TOO_SOON, REQUERY_ANSWERS, num
from buypower_tui.core.sandbox.ledger_file import open_ledger
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


class SandboxServer:
    """The fake BuyPower: start() serves it on a daemon thread, stop() shuts it down.

    The ledger outlives stop(), and start() after stop() binds the same port again, so a
    test can take BuyPower away and bring it back with its memory intact. With
    config.ledger the ledger lives in that file and outlives the process too; close()
    (or leaving the `with` block) releases the file.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self._config = config or SandboxConfig()
        self.key, self.key_generated = self._config.resolve_key()
        self.ledger = open_ledger(self._config)  # LedgerFileError (a ValueError) names a bad file
        self.stopping = threading.Event()
        self._port = self._config.port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._config_lock = threading.Lock()
        self._seed_streams()

    def _seed_streams(self) -> None:
        # Separate streams, so turning a fault on does not change which tokens are issued.
        # A ledger that already holds orders (a restart) gets fresh streams, not the first
        # tokens again, and still the same ones for the same seed and ledger.
        seed, kept = self._config.seed, self.ledger.order_count()
        suffix = f":{kept}" if kept else ""
        stream = ((lambda name: random.Random(f"{seed}:{name}{suffix}")) if seed is not None
                  else (lambda _: random.Random()))
        self.tokens, self.faults, self.jitter, self.ids = (stream(n) for n in ("tokens", "faults", "jitter", "ids"))

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        self.stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", self._port), self)  # listening when this returns
        self._port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                        name=f"buypower-sandbox:{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.stopping.set()  # wakes held answers and latency sleeps
        closer = threading.Thread(target=httpd.shutdown, daemon=True)
        closer.start()
        while closer.is_alive():  # a connection wakes serve_forever now rather than at its next poll
            with suppress(OSError), socket.create_connection(("127.0.0.1", self._port), timeout=0.5):
                pass
            closer.join(0.01)
        httpd.server_close()
        httpd.close_connections()  # keep-alive connections must not outlive the server
        if self._thread is not None:
            self._thread.join(5)

    def close(self) -> None:
        """stop(), then release the ledger file (the ledger stays readable in memory)."""
        self.stop()
        self.ledger.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        return f"{self.base}/v2"

    # -- settings ----------------------------------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        return self._config

    def update_config(self, **changes: Any) -> SandboxConfig:
        """Change fault settings while serving (ValueError names what is wrong)."""
        unknown = set(changes) - RUNTIME_FIELDS
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} at run time; "
                             f"settable: {', '.join(sorted(RUNTIME_FIELDS))}")
        with self._config_lock:
            self._config = dataclasses.replace(self._config, **changes)
            if "wallet" in changes:
                self.ledger.set_wallet(self._config.wallet)
        return self._config

    def reset(self) -> None:
        """Forget every order and counter (in the ledger file too), refill the wallet, restart
        the random streams."""
        with self.ledger.lock:
            self.ledger.reset(self._config.wallet)
            self._seed_streams()

    def authorised(self, header: str | None) -> bool:
        scheme, _, value = (header or "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.key.encode())

    def latency_s(self) -> float:
        cfg = self._config
        if not (cfg.latency_ms or cfg.jitter_ms):
            return 0.0
        return max(0.0, cfg.latency_ms + self.jitter.uniform(-cfg.jitter_ms, cfg.jitter_ms)) / 1000

    # -- endpoints (each returns a Reply) ----------------------------------------------------

    def discos_status(self) -> Reply:
        return Reply(200, {code: code not in self._config.down for code in fx.STATUS_KEYS})

    def wallet_balance(self) -> Reply:
        return Reply(200, {"balance": num(self.ledger.wallet)})

    def check_meter(self, params: dict[str, Any]) -> Reply:
        try:
            meter, disco = rq.text(params, "meter"), rq.choice(params, "disco", fx.DISCOS)
            vend_type = rq.choice(params, "vendType", fx.VEND_TYPES)
            rq.choice(params, "vertical", ("ELECTRICITY",), required=False)
            flag = (rq.text(params, "orderId", required=False) or "false").lower()
            if flag not in ("true", "false"):
                raise Invalid('"orderId" must be a boolean')
        except Invalid as exc:
            return error(400, str(exc))
        if disco in self._config.down:
            return error(503, fx.UNAVAILABLE)
        c = fx.lookup(meter, disco, vend_type, self._config.seed)
        if c is None:
            return error(400, fx.NOT_FOUND, error=True)
        body = {"error": False, "discoCode": disco, "vendType": vend_type, "meterNo": meter,
                "minVendAmount": num(c.min_vend), "maxVendAmount": num(c.max_vend), "responseCode": 100,
                "outstanding": num(self.ledger.outstanding(c)), "debtRepayment": num(c.debt_repayment),
                "name": c.name, "address": c.address, "tariff": num(c.rate), "tariffDesc": c.tariff_desc,
                "tariffClass": c.tariff_class}
        if flag == "true":  # a flag, not an id: BuyPower makes one up (§4.2)
            with self.ledger.lock:
                body["orderId"] = f"{self.ids.getrandbits(128):032x}"
        return Reply(200, body)

    def vend(self, fields: dict[str, Any]) -> Reply:
        order_id = fields.get("orderId")
        if isinstance(order_id, int) and not isinstance(order_id, bool):
            order_id = str(order_id)
        if order_id is None or (isinstance(order_id, str) and not order_id.strip()):
            return error(400, 'Invalid Order ID. "orderId" is required')
        if not isinstance(order_id, str) or len(order_id.strip()) > 100:
            return error(400, 'Invalid Order ID. "orderId" must be a string of at most 100 characters')
        cfg = self._config
        try:
            order = self.ledger.vend(order_id.strip(), fields, cfg, self.tokens, self.faults)
        except Invalid as exc:
            return error(exc.status, str(exc), **({"error": True} if exc.status >= 500 else {}))
        if order.answer == "202":
            return Reply(202, {"status": False, "error": True, "responseCode": 202,
                               "message": f"Transaction is still in progress. Please requery in {cfg.delay[0]} seconds",
                               "delay": list(cfg.delay)})
        if order.answer in ("500", "502", "503"):
            return error(int(order.answer), fx.FAULTS[int(order.answer)], error=True)
        if order.answer == "drop":
            return Reply(0, None, action="drop")
        data = order.vend_data(with_token=order.answer != "200-no-token")
        ok = Reply(200, {"status": True, "message": "Successful transaction", "responseCode": 200, "data": data})
        return ok._replace(action="hold", hold=cfg.hold_s) if order.answer == "hold" else ok

    def requery(self, order_id: str) -> Reply:
        verdict, detail = self.ledger.requery(order_id, self._config.requery_cooldown_s)
        if verdict == R_SUCCESS:
            return Reply(200, {"result": {"status": True, "message": "Successful transaction", "responseCode": 200,
                                          "data": detail.requery_data()}})
        if verdict == R_TOO_SOON:
            wait = max(1, math.ceil(detail))
            status, code, message = 429, 429, f"Requery too early. Please retry after {wait} seconds."
        else:
            status, code, message = REQUERY_ANSWERS[verdict]
        reply = Reply(status, {"result": {"status": False, "message": message.format(order_id), "responseCode": code}})
        return reply._replace(headers=(("Retry-After", str(wait)),)) if verdict == R_TOO_SOON else reply


def error(status: int, message: str, **extra: Any) -> Reply:
    return Reply(status, {"status": False, **extra, "message": message, "responseCode": status})


_UNAUTHORIZED = error(401, "Unauthorized")
_ROUTES = {"discos/status": ("GET", "discos_status"), "check/meter": ("GET", "check_meter"),
           "vend": ("POST", "vend"), "wallet/balance": ("GET", "wallet_balance")}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a held answer must not block stop()
    allow_reuse_address = True  # a restarted sandbox gets its port back at once

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as BuyPower's own front end
    server_version = "BuyPowerSandbox/1.0"
    timeout = 120  # an idle keep-alive connection frees its thread eventually
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server: _HTTPServer

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

    def _route(self, sandbox: SandboxServer) -> Reply:
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

    def _admin(self, sandbox: SandboxServer, route: str, body: bytes) -> Reply:
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
        payload = json.dumps(reply.body, separators=(",", ":"), ensure_ascii=False).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
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
