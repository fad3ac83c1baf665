"""BuyPower's latency as the dashboard shows it: min / median / p95 over a bounded history.
No database here: the TUI loads it before its first frame."""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LATENCY_SAMPLES = 240  # as many as the client keeps (client.samples): 20 minutes of checks every 5 s


@dataclass(frozen=True, slots=True)
class LatencyStats:
    count: int
    low: float  # ms
    median: float
    p95: float  # nearest rank: 95 % of the calls took this long or less
    high: float
    first_at: float  # wall-clock seconds of the oldest sample
    last_at: float

    @property
    def span_s(self) -> float:
        return max(0.0, self.last_at - self.first_at)


def latency_stats(samples: Sequence[tuple[float, float]]) -> LatencyStats | None:
    """`samples`: (wall-clock seconds, ms) in the order taken; None when there is none."""
    if not samples:
        return None
    values = sorted(ms for _at, ms in samples)
    times = [at for at, _ms in samples]
    return LatencyStats(len(values), values[0], statistics.median(values),
                        values[max(0, math.ceil(0.95 * len(values)) - 1)], values[-1], min(times), max(times))


class LatencyHistory:
    """The last `size` latencies the dashboard measured itself (one per health check): a
    bounded history, so a dashboard left open for days holds no more than this."""

    def __init__(self, size: int = LATENCY_SAMPLES) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=size)

    def add(self, at: float, ms: float) -> None:
        self._samples.append((at, ms))

    def extend(self, samples: Iterable[tuple[float, float]]) -> None:
        self._samples.extend(samples)

    def samples(self) -> list[tuple[float, float]]:
        return list(self._samples)

    def __len__(self) -> int:
        return len(self._samples)


def span_text(seconds: float) -> str:
    """"45 s", "12 min", "3 h 20 min": how long a history covers."""
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"
