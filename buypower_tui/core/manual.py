"""What the operator decides by hand: settle a row that needs review, retry a failed one.

The CLI (`resolve`, `retry`) and the TUI (m and t on the failed/pending view) both come
here, so the rules are the same on both faces. The one that matters: a row the operator
marked FAILED is not a row BuyPower said failed. Its order may still succeed, so it is
requeried under its orderId until BuyPower answers, and never retried before then: a new
order for it could pay the meter twice.
"""

from __future__ import annotations

import uuid

from buypower_tui.core.models import RowState, utcnow
from buypower_tui.core.rows import FINAL, OPERATOR, RowView, StateConflict, is_operator_failed, transition
from buypower_tui.core.store import Store
from buypower_tui.core.tokens import token_digits, token_problem  # noqa: F401 - named here too

S = RowState


def resolve_review(store: Store, row_id: int, note: str, state: str, token: str | None = None) -> RowView:
    """Settle a NEEDS_REVIEW row with a note: SUCCESS (with the token BuyPower's support gave,
    if any) or FAILED by OPERATOR, which stays requeried until BuyPower itself answers."""
    note = note.strip()
    if state not in FINAL:
        raise ValueError("a reviewed row ends SUCCESS (paid) or FAILED")
    if not note:
        raise ValueError("a note is required: say how you know (e.g. 'BuyPower support, ticket 123')")
    if token and (state != S.SUCCESS or token_problem(token)):
        raise ValueError(token_problem(token) or "a token goes with a paid row only")
    if state == S.SUCCESS:
        def keep_buypowers_token(row: RowView) -> dict:
            if token and row.token:  # BuyPower's own token (an answer that looked wrong) is never overwritten
                raise StateConflict(f"row {row.row_number} already has the token BuyPower sent; resolve it without "
                                    "a token to keep that one")
            return {"paid_at": utcnow(), **({"token": token_digits(token)} if token else {})}

        return transition(store, row_id, (S.NEEDS_REVIEW,), S.SUCCESS, note=f"resolved by the operator: {note}",
                          provider_message=f"paid, says OPERATOR: {note}", compute=keep_buypowers_token)
    return transition(store, row_id, (S.NEEDS_REVIEW,), S.FAILED, provider_code=OPERATOR,
                      provider_message=f"marked failed by OPERATOR: {note}", next_requery_at=utcnow(),
                      note=f"marked failed by the operator: {note}; still requeried until BuyPower answers")


def retry_problem(row) -> str | None:
    """Why this row may not be retried under a new orderId, if it may not."""
    if row.state != S.FAILED:
        return f"row {row.row_number} is {row.state}, not FAILED; only FAILED rows are retried"
    if is_operator_failed(row):
        return (f"row {row.row_number} was marked failed by OPERATOR, and BuyPower has not said that its order "
                f"{row.order_id} failed; it is requeried until BuyPower answers, and can be retried only then")
    return None


def retry_failed(store: Store, row_id: int) -> RowView:
    """FAILED -> APPROVED under a new orderId: BuyPower said the old one failed (its history
    keeps it and the reason), so a new order cannot pay twice."""
    def check(row: RowView) -> dict:
        problem = retry_problem(row)
        if problem:
            raise StateConflict(problem)
        return {}

    return transition(store, row_id, (S.FAILED,), S.APPROVED, compute=check, order_id=str(uuid.uuid4()),
                      sent_at=None, post_count=0, requery_count=0, next_requery_at=None,
                      requery_schedule=None,
                      note=lambda row: f"retried by hand; BuyPower said order {row.order_id} failed: "
                                       f"{row.provider_message}",
                      details=lambda row: {"previous_order_id": row.order_id})
