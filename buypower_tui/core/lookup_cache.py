"""Meter lookups cached in memory and in the store, for `lookup_cache_ttl` seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from buypower_tui.core.models import MeterLookup
from buypower_tui.core.outcomes import MeterInfo
from buypower_tui.core.store import Store

Key = tuple[str, str, str]  # meter, disco, vend type


class MeterCache:
    def __init__(self, ttl: float, store: Store | None = None, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.store = store
        self._clock = clock
        self._memory: dict[Key, tuple[float, MeterInfo]] = {}

    def get(self, key: Key) -> MeterInfo | None:
        now = self._clock()
        hit = self._memory.get(key)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        if self.store is None:
            return None
        with self.store.session() as s:
            row = s.get(MeterLookup, key)
        if row is None:
            return None
        fetched = row.fetched_at.timestamp()
        if now - fetched >= self.ttl:
            return None
        info = MeterInfo.model_validate(row.info)
        self._memory[key] = (fetched, info)
        return info

    def put(self, key: Key, info: MeterInfo) -> None:
        now = self._clock()
        self._memory[key] = (now, info)
        if self.store is None:
            return
        with self.store.session() as s:
            s.merge(MeterLookup(meter=key[0], disco=key[1], vend_type=key[2],
                                fetched_at=datetime.fromtimestamp(now, UTC), info=info.model_dump(mode="json")))
            s.commit()
