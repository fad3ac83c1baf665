"""Rows after the money moved: state, token, units, receipt and the provider's word. Shared
by the run view, the failed/pending view and the results; read from the store as they come
into view (PagedTable), so a 100,000-row batch costs what is on screen.

The token column shows the credit token; "+KCT" says the customer must type two key-change
tokens before it, "+bonus" that a bonus token follows (the row detail and `c` give them all)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.text import Text

from buypower_tui.core.outcomes import format_token
from buypower_tui.core.row_view import is_operator_failed
from buypower_tui.core.rules import escape_hidden, naira
from buypower_tui.core.tokens import extra_tokens, has_key_change
from buypower_tui.core.values import RowState, from_kobo
from buypower_tui.ui.widgets.paged_table import PagedTable

S = RowState
STATE_STYLE = {S.SUCCESS: "bold green", S.FAILED: "bold red", S.LOOKUP_FAILED: "red", S.PENDING: "yellow",
               S.NEEDS_REVIEW: "bold magenta", S.SENDING: "cyan", S.NOT_SENT: "yellow", S.APPROVED: "",
               S.INVALID: "red", S.CLOSED: "dim"}
# (label, width[, least]): meter, amount, token, units and receipt are read whole (the screen's
# edge never cuts one silently: PagedTable); the provider's text may be cut, as text is.
COLUMNS = {
    "row": ("Row", 5), "state": ("State", 13), "meter": ("Meter", 13), "amount": ("Amount", 12),
    "token": ("Token", 31), "units": ("Units", 8), "receipt": ("Receipt", 14), "next": ("Next requery", 12),
    "message": ("Provider / reason", 40, 20),
}


def _when(at: Any) -> str:
    if at is None:
        return ""
    seconds = (at - datetime.now(UTC)).total_seconds()
    return "now" if seconds <= 0 else f"in {seconds / 60:.0f} min" if seconds > 90 else f"in {seconds:.0f} s"


def token_cell(row: dict[str, Any]) -> Text:
    """The credit token, and a marker when the customer needs more than it."""
    if not row["token"]:
        return Text("")
    extra = extra_tokens(row)
    bonus = any(t.kind == "BONUS" for t in extra)
    marker = "+KCT" if has_key_change(extra) else "+bonus" if bonus else f"+{len(extra)}" if extra else ""
    return Text.assemble((format_token(row["token"]), "bold"), (f" {marker}" if marker else "", "bold yellow"))


def cell(row: dict[str, Any], column: str) -> Text:
    state = row["state"]
    if column == "row":
        return Text(str(row["row_number"]), style="dim")
    if column == "state":  # FAILED (OP): the operator's word, still requeried until BuyPower answers
        return Text(state + (" (OP)" if is_operator_failed(row) else ""), style=STATE_STYLE.get(state, ""))
    if column == "meter":
        return Text(row["meter"] or escape_hidden(row["meter_raw"] or ""))
    if column == "amount":
        amount = from_kobo(row["amount_kobo"])
        return Text("" if amount is None else naira(amount), justify="right")
    if column == "token":
        return token_cell(row)
    if column == "units":
        return Text("" if row["units"] is None else str(row["units"]), justify="right")
    if column == "receipt":
        return Text(escape_hidden(row["receipt_no"] or ""))
    if column == "next":
        return Text(_when(row["next_requery_at"]) if state == S.PENDING or is_operator_failed(row) else "")
    message = row["provider_message"] or "; ".join(e["message"] for e in row["errors"] or ())
    if state == S.CLOSED:  # the operator's note, as the editor's status says it
        message = f"closed: {message}"
    elif state == S.PENDING:  # BuyPower's words for a 202 ("Successful transaction") read as paid
        message = f"unsettled; BuyPower: {message}" if message else "unsettled"
    return Text(escape_hidden(message), no_wrap=True, overflow="ellipsis")  # BuyPower's text, shown safely


class RowTable(PagedTable):
    """`fetch(ids)`: those rows from the store (the screen's batch)."""

    def __init__(self, columns: tuple[str, ...], fetch: Callable[[list[int]], list[dict[str, Any]]],
                 **kwargs: Any) -> None:
        super().__init__([(key, *COLUMNS[key]) for key in columns], fetch,
                         lambda row: [cell(row, key) for key in columns], fixed=1, **kwargs)
