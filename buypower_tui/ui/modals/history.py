"""A row's history: every event, oldest first, with who, when (local time and its UTC offset) and why
(who last: "approved; by bola@ws2" names who approved its payment)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from buypower_tui.core.times import local_second

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.core.models import Event


def history_table(events: list[Event]) -> Table:
    table = Table(box=None, padding=(0, 1), show_header=True, header_style="bold")
    for name in ("When", "From", "To", "HTTP"):
        table.add_column(name, no_wrap=True)
    table.add_column("What", ratio=1, min_width=24)
    for e in events:
        what = "; ".join(x for x in (e.note, e.provider_message, e.provider_code and f"code {e.provider_code}",
                                     (e.details or {}).get("order_id") and f"orderId {e.details['order_id']}",
                                     e.operator and f"by {e.operator}")  # who: the approver of an "approved"
                         if x)
        table.add_row(Text(local_second(e.at)), Text(e.old_state or ""), Text(e.new_state or ""),
                      Text(str(e.http_status or "")), Text(what), )
    return table


class HistoryModal(ModalScreen[None]):
    TITLE = "Row history"
    HELP_TEXT = ("Every change of this row, oldest first, with the operator's notes and who made it (\"approved; by "
                 "…\" names who approved its payment). Esc closes.")
    BINDINGS = [Binding("escape,h,q", "dismiss", "Close", id="history.close")]

    def __init__(self, title: str, events: list[Event]) -> None:
        super().__init__()
        self.title_text, self.events = title, events

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="help"):
            yield Label(self.title_text, id="dialog-title", markup=False)
            with VerticalScroll():
                yield Static(history_table(self.events) if self.events else "No events.")
