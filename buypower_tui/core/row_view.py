"""How a row reads to an operator, from its plain values: its status line, the values the
grid shows, what the sheet said, whether the operator failed it by hand. No store here: the
screens use it without loading SQLAlchemy."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from buypower_tui.core.names import is_name_warning
from buypower_tui.core.rules import FIELDS, duplicate_warning, escape_hidden, naira
from buypower_tui.core.values import RowState, from_kobo

if TYPE_CHECKING:
    from buypower_tui.core.models import Recipient

S = RowState
EDITABLE = (S.IMPORTED, S.VALID, S.INVALID, S.VERIFIED, S.LOOKUP_FAILED)
# The views of a batch's rows (editing.view_ids says each in SQL, as row_status means it).
FILTERS = ("all", "invalid", "warnings", "duplicates", "name differs", *(f"state:{s}" for s in RowState))

# The provider_code of a row the operator marked FAILED by hand. That is the operator's
# judgement, not BuyPower's: the order may still succeed, so such a row is requeried under
# its orderId until BuyPower answers conclusively, counts as money that may move, and is
# never retried before then. (Rows resolved before this marker existed carry only the note.)
OPERATOR = "OPERATOR"
_OLD_OPERATOR_NOTE = "resolved by the operator"


def is_operator_failed(row: Any) -> bool:
    """`row`: a Recipient, a RowView or a grid row (a dict)."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    return get("state") == S.FAILED and (get("provider_code") == OPERATOR
                                         or (get("provider_message") or "").startswith(_OLD_OPERATOR_NOTE))


CLOSABLE = (S.FAILED, S.LOOKUP_FAILED, S.INVALID)


def close_problem(row: Any) -> str | None:
    """Why the operator may not close this row, if not (`row`: a Recipient, a RowView or a grid
    row). Only a row that can take no money is closed: one that failed its checks, and a FAILED
    row only once BuyPower itself said its order failed."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    number, state, order = get("row_number"), get("state"), get("order_id")
    if state == S.CLOSED:
        return f"row {number} is already CLOSED"
    if state in (S.PENDING, S.SENDING, S.NEEDS_REVIEW):
        return (f"row {number} is {state}: its order {order} may still take money. It is requeried until "
                "BuyPower answers (or resolved by hand), and can be closed once BuyPower says it failed")
    if state not in CLOSABLE:
        return f"row {number} is {state}; only FAILED, LOOKUP_FAILED and INVALID rows are closed"
    if state == S.FAILED and (is_operator_failed(row) or get("next_requery_at") is not None):
        return (f"row {number} was marked failed by OPERATOR, and BuyPower has not said that its order {order} "
                "failed: it may still be paid. It is requeried until BuyPower answers (`buypower-tui requery`, "
                "or q in the failed/pending view), and can be closed only then")
    if state != S.FAILED and order is not None:  # never so today: a row is checked before its orderId
        return f"row {number} has an orderId ({order}): it may have moved money and is not closed"
    return None


def name_differs(row: dict[str, Any]) -> bool:
    """The "name differs" view: the lookup found BuyPower's name for the meter shares no word
    with the sheet's (a warning; the row is paid as it is)."""
    return any(is_name_warning(w) for w in row["warnings"] or ())


def row_status(row: dict[str, Any], duplicates: dict[str, int]) -> tuple[str, str]:
    """(kind, text) for the grid's status column: kind is invalid, warning, ok or done."""
    state = row["state"]
    if state == S.CLOSED:  # the operator's note: why it will not be paid (its warnings no longer matter)
        return "done", f"closed: {row['provider_message'] or 'by the operator'}"
    if state == S.INVALID:
        errors = row["errors"] or [{"message": "invalid"}]
        return "invalid", errors[0]["message"]
    if state == S.LOOKUP_FAILED:
        return "invalid", f"lookup: {row['provider_message'] or 'meter not found'}"
    meter = row["meter"]
    if meter in duplicates and state in EDITABLE:
        if not row["duplicate_accepted"]:
            return "warning", duplicate_warning(meter, duplicates[meter])[1]
        if state in (S.VALID, S.VERIFIED):
            return "ok", f"{state.lower()}, duplicate accepted (meter appears {duplicates[meter]} times)"
    if row["warnings"]:
        return "warning", row["warnings"][0]["message"]
    if state in (S.VALID, S.VERIFIED) and row["provider_message"]:
        # VALID: held, its disco was down at lookup; VERIFIED: why a run left it out (plan.record_left_out)
        return "ok", row["provider_message"]
    if state in (S.VALID, S.VERIFIED):
        return "ok", "verified" if state == S.VERIFIED else "valid"
    return "done", state.lower().replace("_", " ")


def shown_value(row: dict[str, Any], field: str) -> str:
    """What the grid shows for a field: the normalised value, or what the sheet said when
    the field is invalid (so the operator sees what to fix)."""
    if field == "amount":  # an amount the rules parsed is shown formatted, even out of range
        amount = from_kobo(row["amount_kobo"])
        return row["amount_raw"] if amount is None else naira(amount)
    bad = {e["field"] for e in row["errors"] or ()}
    if field in bad or row[field] is None:
        return row[f"{field}_raw"] or ""
    return row[field] or ""


def raw_values(row: dict[str, Any] | Recipient) -> dict[str, str]:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return {f: get(f"{f}_raw") or "" for f in FIELDS}


def extras_text(extras: dict[str, str] | None, limit: int = 80) -> str:
    """The sheet's other columns kept with a row, on one line ("Flat: 3B, Block: A"): empty
    cells left out, line breaks and runs of spaces as one space, hidden characters escaped,
    cut at `limit` characters with "…" (the row detail of the editor)."""
    text = ", ".join(f"{name}: {' '.join(value.split())}" for name, value in (extras or {}).items() if value.strip())
    text = escape_hidden(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"




def row_version(row: dict[str, Any]) -> str:
    """A short fingerprint of a row as the sheet says it now, with its id and place: the
    invalid-rows export writes it, and a merge changes only rows that still have it (not a
    row edited since, nor one deleted whose sheet row number another row took)."""
    text = "\x1f".join([str(row["id"]), str(row["row_number"]), *raw_values(row).values()])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
