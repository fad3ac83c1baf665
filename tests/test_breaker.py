"""The circuit breaker's transitions, on a fake clock."""

from __future__ import annotations

import pytest

from buypower_tui.core.breaker import BreakerOpen, BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def open_breaker(clock: Clock) -> CircuitBreaker:
    b = CircuitBreaker(threshold=5, cooldown=60, probes=3, clock=clock)
    for _ in range(5):
        b.admit(probe=False)
        b.record_failure()
    return b


def test_opens_after_five_consecutive_failures_only(clock):
    b = CircuitBreaker(threshold=5, cooldown=60, probes=3, clock=clock)
    for _ in range(4):
        b.record_failure()
    b.record_success()  # a sane answer (2xx, 4xx, 202, 409) ends the streak
    for _ in range(4):
        b.record_failure()
    assert b.state is BreakerState.CLOSED and b.snapshot().failures == 4
    b.record_failure()
    snap = b.snapshot()
    assert snap.state is BreakerState.OPEN and snap.failures == 5 and snap.next_probe_at == clock.now + 60


def test_open_fails_fast_with_the_retry_time(clock):
    b = open_breaker(clock)
    with pytest.raises(BreakerOpen) as info:
        b.admit(probe=False)
    assert info.value.retry_at == clock.now + 60
    assert str(info.value).startswith("BuyPower unavailable, retrying at ")
    with pytest.raises(BreakerOpen):
        b.admit(probe=True)  # not even a probe before the cool-down


def test_half_open_admits_at_most_three_probes_and_never_a_vend(clock):
    b = open_breaker(clock)
    clock.now += 60
    assert b.state is BreakerState.HALF_OPEN
    with pytest.raises(BreakerOpen):
        b.admit(probe=False)  # a vend (or any non-probe) is refused while half-open
    for _ in range(3):
        b.admit(probe=True)
    with pytest.raises(BreakerOpen):
        b.admit(probe=True)


def test_a_probe_success_closes_it(clock):
    b = open_breaker(clock)
    clock.now += 61
    b.admit(probe=True)
    b.record_success()
    assert b.snapshot() == type(b.snapshot())(BreakerState.CLOSED, 0, None)
    b.admit(probe=False)


def test_a_probe_failure_opens_it_again_for_a_new_cool_down(clock):
    b = open_breaker(clock)
    clock.now += 60
    b.admit(probe=True)
    b.record_failure()
    assert b.state is BreakerState.OPEN and b.snapshot().next_probe_at == clock.now + 60
    clock.now += 60
    for _ in range(3):  # a fresh half-open period has a fresh probe allowance
        b.admit(probe=True)


def test_a_probe_that_ends_without_a_verdict_frees_its_slot(clock):
    b = open_breaker(clock)
    clock.now += 60
    for _ in range(3):
        assert b.admit(probe=True) is True
    for _ in range(3):
        b.release()  # cancelled, or an error that is neither success nor failure
    assert b.admit(probe=True) is True  # not stuck half-open for good


def test_late_failures_while_open_do_not_push_the_probe_time(clock):
    b = open_breaker(clock)
    at = b.snapshot().next_probe_at
    clock.now += 30
    b.record_failure()  # an answer to a call sent before it opened
    assert b.snapshot().next_probe_at == at
