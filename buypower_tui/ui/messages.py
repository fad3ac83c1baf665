"""Messages the App's workers post. Not bubbling: the App forwards them to the screens."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from buypower_tui.core.lookup import LookupReport


@dataclass
class LookupProgress(Message, bubble=False):
    batch_id: int
    done: int
    total: int
    row_id: int


@dataclass
class LookupFinished(Message, bubble=False):
    batch_id: int
    report: LookupReport | None  # None: it stopped on an error (shown in a modal)
