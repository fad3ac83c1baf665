"""Messages the App's workers post, each with its batch id. Not bubbling: the App forwards
them to the screens, which only listen (no screen polls for a job's progress or its end)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # annotations only: the client and vending load when a job first needs them
    from buypower_tui.services import LookupReport, Progress


@dataclass
class LookupProgress(Message, bubble=False):
    """A row was looked up (`row_id` changed): the editor shows it on its next frame."""

    batch_id: int
    done: int
    total: int
    row_id: int


@dataclass
class RunProgress(Message, bubble=False):
    """The run of a batch moved: rows were sent or answered, it paused, waits, or finished."""

    batch_id: int
    progress: Progress


@dataclass
class LookupFinished(Message, bubble=False):
    batch_id: int
    report: LookupReport | None  # None: it stopped on an error (shown in a modal)


@dataclass
class RowsChanged(Message, bubble=False):
    """A change through the application layer (an edit, a resolve…) wrote rows of this batch:
    screens that show them read them again (the screen that asked shows its own at once)."""

    batch_id: int


@dataclass
class JobDone(Message, bubble=False):
    """A job of the App ended (or the store changed under the screens): screens that show rows
    read them again. `kind` and `batch_id` are None when it was not one batch's job."""

    kind: str | None = None
    batch_id: int | None = None
