"""Messages the App's workers post. Not bubbling: the App forwards them to the screens."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from buypower_tui.services import LookupReport


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


@dataclass
class JobDone(Message, bubble=False):
    """A job of the App ended (or the store changed under the screens): screens that show rows
    read them again. `kind` and `batch_id` are None when it was not one batch's job."""

    kind: str | None = None
    batch_id: int | None = None
