"""The sandbox's memory: every order it received, the wallet, and request counters.

One re-entrant lock guards all of it, so a vend's duplicate check, wallet debit and record
are a single step even when the same orderId arrives on two connections at once. That is
what lets a test prove exactly-once by reading the ledger instead of trusting the client.
ledger_file.FileLedger keeps the same in a SQLite file, for a sandbox that must survive restarts.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from buypower_tui.core.sandbox import fixtures as fx
from buypower_tui.core.sandbox import validation as rq
from buypower_tui.core.sandbox.fixtures import FAILED, PENDING, SUCCESS, Customer, Price, SandboxConfig
from buypower_tui.core.sandbox.validation import Invalid

WAT = timezone(timedelta(hours=1), "WAT")  # vendTime has no zone: WAT on /vend, UTC on /transaction (§13)

REQUEST_KINDS = ("discos_status", "check_meter", "vend", "requery", "wallet_balance", "other", "unauthorized")
# Requery verdicts (what GET /transaction/{orderId} should answer).
R_SUCCESS, R_PENDING, R_FAILED, R_REFUNDED = "success", "pending", "failed", "refunded"
R_NOT_INITIATED, R_UNKNOWN, R_TOO_SOON = "not-initiated", "unknown", "too-soon"
R_THROTTLED = "throttled"  # a 429 in plain text (§13), not BuyPower's JSON envelope
# The answers to a requery that is not a success (§4.5): HTTP status, result.responseCode, message.
REQUERY_ANSWERS = {R_PENDING: (400, 201, "Transaction is still processing. Kindly retry in 2 minutes."),
                   R_FAILED: (400, 202, "Transaction failed."),
                   R_REFUNDED: (400, 202, "Transaction failed. Refund already processed."),
                   R_NOT_INITIATED: (400, 203, "Transaction not initiated."),
                   R_UNKNOWN: (404, 20, "No transaction found with reference: {}")}


def num(value: Decimal) -> int | float:
    """A JSON number the way /vend sends it: 1000, 930.23."""
    return int(value) if value == value.to_integral_value() else float(value)


def money(value: Decimal) -> str:
    """A string with 2 decimals the way /transaction sends it: "930.23"."""
    return f"{value:.2f}"


@dataclass(slots=True)
class Order:
    """One vend the sandbox performed (or accepted as pending)."""

    order_id: str
    customer: Customer
    phone: str
    price: Price
    token: str | None  # 20 digits, no dashes; None for POSTPAID
    status: str  # SUCCESS | PENDING | FAILED
    final: str  # where a PENDING order ends: SUCCESS or FAILED
    pending_left: int  # pending answers still to give before `final`
    answer: str  # what the vend request got: 200, 200-no-token, 202, 500, 502, 503, drop, hold
    id: int
    receipt_no: str
    vend_ref: str
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    touched: float = field(default_factory=time.monotonic)  # vend, then each answered requery
    refunded: bool = False
    # Tokens besides the credit token, as {"type": "KCT1", "content": 20 digits}, in the order
    # BuyPower lists them (after the credit token).
    extra_parcels: list[dict[str, str]] = field(default_factory=list)
    throttled: bool = False  # a pending-plain-429 order got its plain-text 429

    @property
    def amount(self) -> Decimal:
        return self.price.total

    @property
    def vend_time(self) -> str:
        """/vend's vendTime: WAT, without a zone."""
        return self.created.astimezone(WAT).strftime("%Y-%m-%d %H:%M:%S")

    @property
    def vend_time_utc(self) -> str:
        """/transaction's vendTime for the same order: UTC, without a zone either (§13)."""
        return self.created.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    def parcels(self, token: str | None, shown: Any) -> list[dict[str, str]]:
        """The credit token first, then its companions, each content passed through `shown`."""
        if not token:
            return []
        return [{"type": "TOKEN", "content": shown(token)}] + [
            {"type": p["type"], "content": shown(p["content"])} for p in self.extra_parcels]

    def vend_data(self, *, with_token: bool = True) -> dict[str, Any]:
        """`data` of a 200 from /vend (§4.3): numbers; token grouped, parcels ungrouped."""
        token = self.token if with_token else None
        p, c = self.price, self.customer
        return {
            "id": self.id, "amountGenerated": num(p.generated), "tariff": None, "debtAmount": num(p.debt),
            "debtRemaining": num(p.debt_remaining), "disco": c.disco, "freeUnits": 0,
            "orderId": self.order_id, "receiptNo": self.receipt_no, "tax": num(p.tax),
            "vendTime": self.vend_time, "token": fx.grouped(token) if token else None,
            "totalAmountPaid": num(p.total), "units": num(p.units) if p.units is not None else None,
            "vendAmount": 0, "vendRef": self.vend_ref, "responseCode": 100,
            "responseMessage": "Payment successful", "address": c.address, "name": c.name,
            "phoneNo": self.phone, "charges": 0, "tariffClass": c.tariff_class, "tariffIndex": None,
            "parcels": self.parcels(token, str), "demandCategory": "NMD", "assetProvider": c.disco,
        }

    def requery_data(self) -> dict[str, Any]:
        """`result.data` of a successful requery (§4.5): amounts as 2-decimal strings, tokens grouped,
        vendTime in UTC."""
        p, c = self.price, self.customer
        token = fx.grouped(self.token) if self.token else None
        return {
            "id": self.id, "amountGenerated": money(p.generated), "tariff": None, "disco": c.disco,
            "debtAmount": money(p.debt), "debtRemaining": money(p.debt_remaining),
            "orderId": self.order_id, "receiptNo": self.receipt_no, "tax": money(p.tax),
            "vendTime": self.vend_time_utc, "token": token, "totalAmountPaid": num(p.total),
            "units": str(p.units) if p.units is not None else None, "vendAmount": money(p.total),
            "vendRef": self.vend_ref, "responseCode": 100, "responseMessage": "Payment successful",
            "address": c.address, "name": c.name, "phoneNo": self.phone, "charges": "0.00",
            "tariffIndex": None, "parcels": self.parcels(self.token, fx.grouped),
            "demandCategory": "NMD", "assetProvider": c.disco,
        }

    def row(self, posts: int) -> dict[str, Any]:
        return {"orderId": self.order_id, "meter": self.customer.meter, "disco": self.customer.disco,
                "vendType": self.customer.vend_type, "amount": money(self.amount), "status": self.status,
                "token": self.token if self.status == SUCCESS else None,
                "time": self.created.isoformat(timespec="milliseconds"), "posts": posts,
                "answer": self.answer, "refunded": self.refunded}


class Ledger:
    """Orders, rejected orderIds, POST counts per orderId, the wallet and request counters."""

    def __init__(self, wallet: Decimal) -> None:
        self.lock = threading.RLock()
        self._orders: dict[str, Order] = {}
        self._rejected: dict[str, tuple[int, str]] = {}
        self._posts: Counter[str] = Counter()
        self._requests: Counter[str] = Counter()
        self._debts: dict[str, Decimal] = {}
        self._wallet = Decimal(wallet)

    def reset(self, wallet: Decimal) -> None:
        with self.lock:
            self._orders.clear()
            self._rejected.clear()
            self._posts.clear()
            self._requests.clear()
            self._debts.clear()
            self._wallet = Decimal(wallet)

    def close(self) -> None:
        """Nothing to release in memory (FileLedger closes its file)."""

    # -- reads ------------------------------------------------------------------------------

    def order_count(self) -> int:
        with self.lock:
            return len(self._orders)

    @property
    def wallet(self) -> Decimal:
        with self.lock:
            return self._wallet

    def order(self, order_id: str) -> Order | None:
        with self.lock:
            return self._orders.get(order_id)

    def posts(self, order_id: str) -> int:
        """How many POST /vend requests carried this orderId (answered or not)."""
        with self.lock:
            return self._posts[order_id]

    def requests(self) -> dict[str, int]:
        with self.lock:
            return dict(self._requests)

    def vends(self) -> list[dict[str, Any]]:
        with self.lock:
            return [o.row(self._posts[o.order_id]) for o in self._orders.values()]

    def snapshot(self) -> dict[str, Any]:
        """What GET /__sandbox/ledger returns."""
        with self.lock:
            return {
                "vends": self.vends(),
                "rejected": [{"orderId": k, "httpStatus": s, "message": m, "posts": self._posts[k]}
                             for k, (s, m) in self._rejected.items()],
                "posts": dict(self._posts),
                "wallet": money(self._wallet),
                "requests": dict.fromkeys(REQUEST_KINDS, 0) | dict(self._requests),
            }

    def outstanding(self, customer: Customer) -> Decimal:
        """The customer's debt now: vends to a POSTPAID account with debt pay it down."""
        with self.lock:
            return self._debts.get(customer.meter, customer.outstanding)

    # -- writes -----------------------------------------------------------------------------

    def set_wallet(self, balance: Decimal) -> None:
        with self.lock:
            self._wallet = Decimal(balance)

    def count(self, kind: str) -> None:
        with self.lock:
            self._requests[kind] += 1

    def vend(self, order_id: str, fields: dict[str, Any], cfg: SandboxConfig,
             tokens: random.Random, faults: random.Random) -> Order:
        """Count the POST, then validate, plan the answer, debit and record, as one step.

        Raises Invalid(status): 409 for an orderId already vended; a 400/422/501 refusal is
        remembered (its requery says "not initiated") but does not spend the orderId: the
        client may send it again, e.g. after topping up the wallet. A 503 for a disco that
        is down and a 5xx fault "before vending" leave nothing behind (requery: 404).
        """
        with self.lock:
            self._posts[order_id] += 1
            if order_id in self._orders:
                raise Invalid("Request already received", 409)
            self._rejected.pop(order_id, None)
            try:
                order = self._accept(order_id, fields, cfg, tokens, faults)
            except Invalid as exc:
                if exc.status in (400, 422, 501):
                    self._rejected[order_id] = (exc.status, str(exc))
                raise
            self._wallet -= order.amount
            if order.price.debt:
                self._debts[order.customer.meter] = order.price.debt_remaining
            self._orders[order_id] = order
            return order

    def _accept(self, order_id: str, fields: dict[str, Any], cfg: SandboxConfig,
                tokens: random.Random, faults: random.Random) -> Order:
        meter, disco = rq.text(fields, "meter"), rq.choice(fields, "disco", fx.DISCOS)
        vend_type, amount = rq.choice(fields, "vendType", fx.VEND_TYPES), rq.amount_of(fields)
        phone = rq.phone_of(fields)
        rq.choice(fields, "paymentType", ("ONLINE", "USSD", "B2B"), required=False)
        rq.choice(fields, "vertical", ("ELECTRICITY",), required=False)
        rq.text(fields, "email", required=False)
        rq.text(fields, "name", required=False)
        if disco in cfg.down:
            raise Invalid(fx.UNAVAILABLE, 503)
        c = fx.lookup(meter, disco, vend_type, cfg.seed)
        if c is None:
            raise Invalid(fx.NOT_FOUND)
        if c.behaviour == fx.MAINTENANCE:
            raise Invalid(fx.MAINTENANCE_TEXT, 501)
        if amount < c.min_vend:
            raise Invalid("You are paying below the minimum vend amount")
        if amount > c.max_vend:
            raise Invalid("You are paying above the maximum vend amount")
        amount = amount.quantize(fx.CENT)
        if amount > self._wallet:
            raise Invalid("insufficient wallet balance.", 422)
        answer, final = fx.SCRIPTS[c.behaviour] if not c.faultable else _roll(cfg, faults)
        token = f"{tokens.randrange(10**20):020d}" if vend_type == "PREPAID" else None
        order = Order(order_id, c, phone, fx.price(amount, c, self.outstanding(c)), token,
                      PENDING if answer == "202" else SUCCESS, final, cfg.pending_requeries, answer,
                      tokens.randrange(10**8, 10**9), str(tokens.randrange(10**7, 10**8)),
                      str(tokens.randrange(10**19, 10**20)))
        # drawn last, and only for these meters: every other order gets the tokens it always got
        order.extra_parcels = [{"type": kind, "content": f"{tokens.randrange(10**20):020d}"}
                               for kind in c.extra_parcels]
        return order

    def requery(self, order_id: str, cooldown_s: float, now: float | None = None) -> tuple[str, Any]:
        """Advance an order by one requery and say what to answer.

        Returns (verdict, order) or (R_TOO_SOON, seconds to wait). A pending-plain-429 order's
        first requery is (R_THROTTLED, order), whatever the cool-down. A requery within the
        cool-down of the vend or of the last answered requery is refused and does not
        restart the clock; a pending order moves on only on answered requeries, so
        `pending_requeries` counts what the client actually saw. The refund of a failed
        vend happens on the requery that first reports the failure.
        """
        now = time.monotonic() if now is None else now
        with self.lock:
            order = self._orders.get(order_id)
            if order is None:
                return (R_NOT_INITIATED if order_id in self._rejected else R_UNKNOWN), None
            if order.customer.behaviour == fx.PENDING_PLAIN_429 and not order.throttled:
                order.throttled = True  # once, whatever the cool-down: the clock does not restart
                return R_THROTTLED, order
            wait = order.touched + cooldown_s - now
            if cooldown_s > 0 and wait > 0:
                return R_TOO_SOON, wait
            order.touched = now
            if order.status == PENDING:
                if order.pending_left > 0:
                    order.pending_left -= 1
                    return R_PENDING, order
                order.status = order.final
                if order.status == FAILED:
                    self._wallet += order.amount  # only scripted meters fail, none of them owes a debt
                    order.refunded = True
                    return R_FAILED, order
            if order.status == FAILED:
                return R_REFUNDED, order
            return R_SUCCESS, order


def _roll(cfg: SandboxConfig, faults: random.Random) -> tuple[str, str]:
    """(answer, final status) from one roll of the fault dice, in the order fail, timeout, drop, pending."""
    roll, edge, answer = faults.random(), 0.0, "200"
    for rate, kind in ((cfg.fail_rate, "fail"), (cfg.timeout_rate, "hold"), (cfg.drop_rate, "drop"),
                       (cfg.pending_rate, "202")):
        edge += rate
        if roll < edge:
            answer = kind
            break
    if answer == "fail":
        code = faults.choice((500, 502, 503))
        if faults.random() < 0.5:
            raise Invalid(fx.FAULTS[code], code)  # failed before vending: nothing recorded
        answer = str(code)
    return answer, SUCCESS
