"""Circuit breaker for calls to BuyPower.

In-house (about 80 lines) because no maintained library caps the calls admitted while
half-open and restricts them to reads: here only probe calls (disco status, check meter)
pass while half-open, at most `probes` of them, so a vend is never the experiment. The
breaker stops new sends; it never decides a row's fate. The clock is injected for tests.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from buypower_tui.core.times import clock_time


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class BreakerOpen(Exception):
    """Fail fast: BuyPower looked down; nothing was sent."""

    def __init__(self, retry_at: float) -> None:
        self.retry_at = retry_at  # wall-clock time of the next probe
        super().__init__(f"BuyPower unavailable, retrying at {clock_time(retry_at)}")


@dataclass(frozen=True)
class BreakerSnapshot:
    state: BreakerState
    failures: int
    next_probe_at: float | None  # wall-clock seconds, None unless open


class CircuitBreaker:
    def __init__(self, threshold: int = 5, cooldown: float = 60.0, probes: int = 3,
                 clock: Callable[[], float] = time.time) -> None:
        self.threshold, self.cooldown, self.probes = threshold, cooldown, probes
        self._clock = clock
        self._lock = threading.Lock()  # the engine and the health screen read it from other threads
        self._failures = 0
        self._opened_at: float | None = None
        self._probes_in_flight = 0

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() < self._opened_at + self.cooldown:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def snapshot(self) -> BreakerSnapshot:
        with self._lock:
            state = self._state()
            at = self._opened_at + self.cooldown if self._opened_at is not None else None
            return BreakerSnapshot(state, self._failures, at)

    def admit(self, probe: bool) -> bool:
        """Raise BreakerOpen unless this call may go out now. True when it goes out as one of
        the half-open probes: the caller must then `release()` it however the call ends."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return False
            retry_at = self._opened_at + self.cooldown  # type: ignore[operator]
            if state is BreakerState.OPEN or not probe or self._probes_in_flight >= self.probes:
                # while probes are out, the next chance is a second away, not "now"
                raise BreakerOpen(retry_at if state is BreakerState.OPEN else self._clock() + 1)
            self._probes_in_flight += 1
            return True

    def release(self) -> None:
        """A probe ended (answered, failed, or cancelled): its slot is free again."""
        with self._lock:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)

    def record_success(self) -> None:
        """Any sane answer (2xx, 4xx, 202, 409, 501) closes the breaker and ends a failure streak."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probes_in_flight = 0

    def record_failure(self) -> None:
        """A transport error or a 5xx. While open, late answers of calls sent before it opened
        are counted but do not push the next probe further away."""
        with self._lock:
            self._failures += 1
            state = self._state()
            if state is BreakerState.HALF_OPEN or (state is BreakerState.CLOSED and self._failures >= self.threshold):
                self._opened_at = self._clock()
                self._probes_in_flight = 0
