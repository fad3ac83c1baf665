"""The BuyPower client: one httpx.AsyncClient, typed results, one outcome per answer.

Reads (check meter, requery, balance, disco status) are retried with jittered backoff by
stamina. POST /vend is sent exactly once per `vend()` call: nothing here may resend it,
because a resend after an unknown outcome could pay twice (the engine requeries instead).
Every call shares one rate limiter, one concurrency cap and one circuit breaker, and has an
overall deadline and a cap on the size of its answer: a server that drips or never stops
talking must not hang the app or fill its memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import stamina
from aiolimiter import AsyncLimiter
from pydantic import SecretStr

from buypower_tui.core.breaker import BreakerOpen, CircuitBreaker
from buypower_tui.core.endpoint import plain_http_problem
from buypower_tui.core.lookup_cache import MeterCache
from buypower_tui.core.outcomes import (
    ApiError,
    ConfigurationError,
    MeterInfo,
    Outcome,
    VendResult,
    balance_of,
    describe_error,
    disco_map,
    meter_info,
    raise_if_refused,
    requery_outcome,
    transport_outcome,
    vend_outcome,
)

log = logging.getLogger(__name__)

# The largest answer read (1 MB). BuyPower's answers are one or two KB; anything past this is
# a broken or hostile server, and reading on would only fill memory (an endless body grew a
# client to 2.9 GB in 10 s). A vend answered past the cap is PENDING, a read an ApiError.
MAX_BODY = 1 << 20


class NotSent(Exception):
    """The caller withdrew the request while it queued, or the requests were cut before it
    left: it never left."""


class RequestCut(Exception):
    """The operator cut the request in flight (a second Ctrl+C): its fate is unknown."""


class DeadlineExceeded(httpx.TimeoutException):
    """No whole answer within the request's overall deadline (the server is slow, or drips)."""


class BodyTooLarge(httpx.HTTPError):
    """The answer ran past MAX_BODY: it was not read further."""


# What a read may end with instead of an answer.
NO_ANSWER = (httpx.HTTPError, RequestCut, NotSent)


class _Retry(Exception):
    """A read answered 5xx: worth another try. Internal to the retry loop."""

    def __init__(self, response: Answer) -> None:
        self.response = response


@dataclass(frozen=True)
class Answer:
    """A whole answer, read within the deadline and the size cap (the connection is closed).
    `content` has our key masked: a server that echoes the request (the Authorization header
    in an error message) must not put the key into the store, an export or a screen."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    raw: bytes  # as received, for the signature


@dataclass(frozen=True)
class CallSample:
    at: float  # wall-clock seconds
    path: str
    latency_ms: float
    ok: bool  # the server answered sanely (not a transport error or 5xx)


class _BearerAuth(httpx.Auth):
    """Adds the key at send time, so no local variable of ours holds the header."""

    def __init__(self, key: SecretStr) -> None:
        self._key = key

    def auth_flow(self, request: httpx.Request):
        # The last guard before the key leaves: never over plain HTTP to another machine.
        problem = plain_http_problem(str(request.url.copy_with(query=None)))
        if problem:
            raise ConfigurationError(problem)
        request.headers["Authorization"] = f"Bearer {self._key.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(**********)"


def signature(body: bytes, key: str) -> str:
    """x-buypower-signature as we understand it (a guess, §2): sha512(body + key), hex."""
    return hashlib.sha512(body + key.encode()).hexdigest()


class BuyPowerClient:
    def __init__(
        self,
        base_url: str,
        key: SecretStr,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        concurrency: int = 4,
        rate_limit: float = 5.0,
        breaker: CircuitBreaker | None = None,
        cache: MeterCache | None = None,
        verify_signature: bool = False,
        not_found_window: float = 120.0,
        read_attempts: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        max_body: int = MAX_BODY,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self.breaker = breaker or CircuitBreaker()
        self.cache = cache or MeterCache(ttl=600)
        self.verify_signature = verify_signature
        self.not_found_window = not_found_window
        self.read_attempts = read_attempts
        self._clock = clock
        self.max_body = max_body
        # httpx's timeouts are per operation: a server that drips one byte a second never trips
        # the read timeout, so every request also has an overall deadline. BuyPower may think
        # for up to `read_timeout` before its first byte, after `connect_timeout` for the
        # handshake; then its whole answer (a few KB) arrives at once on any working link. The
        # margin (a quarter of the read timeout, 1 to 10 s) covers writing the request and
        # reading the rest of the answer, so a slow but honest answer is never cut short.
        self.deadline = connect_timeout + read_timeout + min(10.0, max(1.0, read_timeout / 4))
        self._deadlines: set[asyncio.Timeout] = set()  # those of the requests in flight, for cut()
        self._cut = False
        # aiolimiter cannot hand out one request when its capacity is below 1: a rate under
        # 1/s is one request per 1/rate seconds.
        self._limiter = (None if rate_limit <= 0 else AsyncLimiter(rate_limit, 1) if rate_limit >= 1
                         else AsyncLimiter(1, 1 / rate_limit))
        self.concurrency = concurrency
        self._semaphore = asyncio.Semaphore(concurrency)
        self.samples: deque[CallSample] = deque(maxlen=240)  # for the health screen's sparkline
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=_BearerAuth(key),
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=10.0, pool=5.0),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"Accept": "application/json", "User-Agent": "buypower-tui"},
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings, key: SecretStr, store=None, **kwargs: Any) -> BuyPowerClient:
        """Build from buypower_tui.settings.Settings; `store` (a Store) keeps meter lookups."""
        breaker = CircuitBreaker(settings.breaker_threshold, settings.breaker_cooldown,
                                 settings.breaker_half_open_probes)
        return cls(settings.effective_base_url, key, connect_timeout=settings.connect_timeout,
                   read_timeout=settings.read_timeout, concurrency=settings.concurrency,
                   rate_limit=settings.rate_limit, breaker=breaker,
                   cache=MeterCache(settings.lookup_cache_ttl, store),
                   verify_signature=settings.verify_signature,
                   not_found_window=settings.requery_first_wait, **kwargs)

    def __repr__(self) -> str:
        return f"BuyPowerClient({self.base_url!r}, key=**********)"

    async def __aenter__(self) -> BuyPowerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def cut(self) -> None:
        """End every request in flight now, and send nothing more (the operator's second
        Ctrl+C). A cut vend is PENDING, never NOT_SENT: it may have reached BuyPower."""
        self._cut = True
        now = asyncio.get_running_loop().time()
        for deadline in list(self._deadlines):
            deadline.reschedule(now)

    # -- transport ---------------------------------------------------------------------------

    async def _send(self, method: str, path: str, *, probe: bool, go_ahead: Callable[[], bool] | None = None,
                    **kwargs: Any) -> Answer:
        """One request through the concurrency cap, the rate limit and then the breaker.

        The breaker (and `go_ahead`, the caller's last word) are asked last, right before
        sending: a call that queued behind the cap while the breaker opened, or while the
        operator pressed stop, must not go out.
        """
        async with self._semaphore:
            if self._limiter is not None:
                await self._limiter.acquire()
            if go_ahead is not None and not go_ahead():
                raise NotSent("withdrawn before it was sent")
            if self._cut:
                raise NotSent("the requests were cut before this one was sent")
            as_probe = self.breaker.admit(probe)
            started = time.perf_counter()
            try:
                response = await self._exchange(method, path, **kwargs)
            except httpx.HTTPError:  # transport errors, the deadline, bodies that cannot be decoded or are too big
                self._sample(path, started, ok=False)
                self.breaker.record_failure()
                raise
            finally:
                if as_probe:
                    self.breaker.release()
        # 501 is BuyPower's conclusive answer about one meter, not a sign that it is down.
        ok = response.status_code < 500 or response.status_code == 501
        self._sample(path, started, ok=ok)
        (self.breaker.record_success if ok else self.breaker.record_failure)()
        log.debug("%s %s -> %s in %.0f ms", method, path, response.status_code,
                  (time.perf_counter() - started) * 1000)
        return response

    async def _exchange(self, method: str, path: str, **kwargs: Any) -> Answer:
        """Send, and read the answer whole within the deadline and up to `max_body` bytes."""
        deadline: asyncio.Timeout | None = None
        try:
            async with asyncio.timeout(self.deadline) as deadline:
                self._deadlines.add(deadline)
                async with self._http.stream(method, path, **kwargs) as response:
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > self.max_body:
                            log.warning("%s %s: the answer ran past %d bytes (HTTP %s); not read further",
                                        method, path, self.max_body, response.status_code)
                            raise BodyTooLarge(f"the answer ran past {self.max_body} bytes")
                    raw, key = bytes(body), self._key.get_secret_value().encode()
                    return Answer(response.status_code, response.headers, raw.replace(key, b"***") if key else raw,
                                  raw)
        except TimeoutError:
            if deadline is None or not deadline.expired():
                raise
            if self._cut:
                raise RequestCut("cut by the operator before BuyPower answered") from None
            log.warning("%s %s: no whole answer within %.1f s", method, path, self.deadline)
            raise DeadlineExceeded(f"no whole answer within {self.deadline:.1f} s") from None
        finally:
            if deadline is not None:
                self._deadlines.discard(deadline)

    def _sample(self, path: str, started: float, ok: bool) -> None:
        self.samples.append(CallSample(self._clock(), path, (time.perf_counter() - started) * 1000, ok))

    def _signature_ok(self, response: Answer) -> bool:
        if not self.verify_signature:
            return True
        given = response.headers.get("x-buypower-signature", "")
        return hmac.compare_digest(given.lower(), signature(response.raw, self._key.get_secret_value()))

    async def _read(self, path: str, *, probe: bool = False, params: dict[str, str] | None = None) -> Answer:
        """GET, retried with jittered backoff on transport errors (the deadline included) and
        5xx. Returns the last response (a 5xx when retries ran out); raises the last httpx
        error, or RequestCut / NotSent once the operator cut the requests (never retried)."""
        try:
            async for attempt in stamina.retry_context(on=(httpx.HTTPError, _Retry),
                                                       attempts=self.read_attempts, wait_initial=0.2,
                                                       wait_max=2.0, timeout=30.0):
                with attempt:
                    response = await self._send("GET", path, probe=probe, params=params)
                    if response.status_code >= 500:
                        raise _Retry(response)
        except _Retry as exc:
            return exc.response
        return response

    # -- the API ----------------------------------------------------------------------------------

    async def disco_status(self) -> dict[str, bool]:
        try:
            response = await self._read("/discos/status", probe=True)
        except NO_ANSWER as exc:
            raise ApiError(f"BuyPower did not answer /discos/status ({describe_error(exc)})") from None
        raise_if_refused(response.status_code)
        result = disco_map(response.content)
        if response.status_code != 200 or result is None:
            raise ApiError(f"BuyPower answered /discos/status with HTTP {response.status_code}")
        return result

    async def probe(self) -> bool:
        """One half-open probe (a read): True when BuyPower answered."""
        try:
            await self.disco_status()
        except (ApiError, BreakerOpen):
            return False
        return True

    async def check_meter(self, meter: str, disco: str, vend_type: str = "PREPAID", *,
                          use_cache: bool = True) -> MeterInfo:
        key = (meter, disco.upper(), vend_type.upper())
        if use_cache and (cached := self.cache.get(key)) is not None:
            return cached
        params = {"meter": meter, "disco": key[1], "vendType": key[2], "vertical": "ELECTRICITY"}
        try:
            response = await self._read("/check/meter", probe=True, params=params)
        except NO_ANSWER as exc:
            raise ApiError(f"BuyPower did not answer the meter check ({describe_error(exc)})") from None
        info = meter_info(meter, key[1], key[2], response.status_code, response.content)
        if info is None:
            raise ApiError(f"BuyPower answered the meter check with HTTP {response.status_code}")
        self.cache.put(key, info)
        return info

    async def wallet_balance(self) -> Decimal:
        try:
            response = await self._read("/wallet/balance")
        except NO_ANSWER as exc:
            raise ApiError(f"BuyPower did not answer the balance request ({describe_error(exc)})") from None
        raise_if_refused(response.status_code)
        balance = balance_of(response.content) if response.status_code == 200 else None
        if balance is None:
            raise ApiError(f"BuyPower answered the balance request with HTTP {response.status_code}")
        return balance

    async def vend(self, order_id: str, meter: str, disco: str, amount: Decimal, phone: str, *,
                   vend_type: str = "PREPAID", name: str | None = None, email: str | None = None,
                   go_ahead: Callable[[], bool] | None = None) -> VendResult:
        """POST /vend exactly once. Never raises for an answer: every answer is an outcome
        (BreakerOpen, NotSent and ConfigurationError are raised before or instead of one)."""
        body: dict[str, Any] = {
            "orderId": order_id, "meter": meter, "disco": disco.upper(), "vendType": vend_type.upper(),
            "amount": str(amount), "phone": phone, "paymentType": "B2B", "vertical": "ELECTRICITY",
        }
        if name:
            body["name"] = name
        if email:
            body["email"] = email
        try:
            response = await self._send("POST", "/vend", probe=False, go_ahead=go_ahead, params={"strict": "0"},
                                        json=body)
        except (httpx.HTTPError, RequestCut) as exc:  # no usable answer (the deadline, a cut): PENDING, requery
            return transport_outcome(order_id, exc, vend=True)
        result = vend_outcome(order_id, response.status_code, response.content, vend_type,
                              response.headers.get("retry-after"))
        return self._checked(result, response)

    async def requery(self, order_id: str, *, vend_type: str = "PREPAID",
                      sent_at: datetime | None = None) -> VendResult:
        """GET /transaction/{orderId}. `sent_at`: when the vend was last sent; a "not found"
        within `not_found_window` of it, or with no `sent_at`, is still PENDING (the order may
        be on its way)."""
        try:
            response = await self._read(f"/transaction/{order_id}")
        except NO_ANSWER as exc:
            return transport_outcome(order_id, exc, vend=False)
        age = None if sent_at is None else self._clock() - sent_at.timestamp()
        result = requery_outcome(order_id, response.status_code, response.content, vend_type,
                                 window_passed=age is not None and age >= self.not_found_window,
                                 retry_after=response.headers.get("retry-after"))
        return self._checked(result, response)

    def _checked(self, result: VendResult, response: Answer) -> VendResult:
        if result.outcome is Outcome.PENDING or self._signature_ok(response):
            return result
        return result.model_copy(update={
            "outcome": Outcome.PENDING,
            "message": f"{result.message} (x-buypower-signature does not match: not trusted, requery)",
        })
