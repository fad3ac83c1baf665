"""A fake BuyPower on 127.0.0.1 that speaks the contract of buypower-api.md §2-§6 and §11.

It is a real HTTP server (stdlib ThreadingHTTPServer), so the client under test meets real
sockets, real timeouts and real dropped connections, not a transport mock. The request
logic lives on SandboxServer and returns a Reply; the handler (wire.py) only moves bytes,
which keeps every answer signed, JSON (but the one plain-text 429 of §13) and counted the
same way, errors included.
"""

from __future__ import annotations

import dataclasses
import hmac
import math
import random
import socket
import threading
from contextlib import suppress
from typing import Any

from buypower_tui.core.sandbox import fixtures as fx
from buypower_tui.core.sandbox import validation as rq
from buypower_tui.core.sandbox.fixtures import RUNTIME_FIELDS, SandboxConfig
from buypower_tui.core.sandbox.ledger import R_SUCCESS, R_THROTTLED, R_TOO_SOON, REQUERY_ANSWERS, num
from buypower_tui.core.sandbox.ledger_file import open_ledger
from buypower_tui.core.sandbox.validation import Invalid
from buypower_tui.core.sandbox.wire import HTTPServer, Reply, error, signature

__all__ = ["Reply", "SandboxServer", "error", "signature"]


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
        self._httpd: HTTPServer | None = None
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
        httpd = HTTPServer(("127.0.0.1", self._port), self)  # listening when this returns
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
        if verdict == R_THROTTLED:  # §13: a proxy's 429, plain text, with only Retry-After to go by
            wait = max(1, math.ceil(self._config.requery_cooldown_s))
            return Reply(429, "Too Many Requests", headers=(("Retry-After", str(wait)),))
        if verdict == R_TOO_SOON:
            wait = max(1, math.ceil(detail))
            status, code, message = 429, 429, f"Requery too early. Please retry after {wait} seconds."
        else:
            status, code, message = REQUERY_ANSWERS[verdict]
        reply = Reply(status, {"result": {"status": False, "message": message.format(order_id), "responseCode": code}})
        return reply._replace(headers=(("Retry-After", str(wait)),)) if verdict == R_TOO_SOON else reply
