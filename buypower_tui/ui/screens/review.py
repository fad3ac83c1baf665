"""Failed and pending rows: what went wrong, what BuyPower last said, what happens next, and
the operator's ways to act: requery, retry (FAILED only), resolve (NEEDS_REVIEW only), and close
what will not be paid (FAILED by BuyPower's word, LOOKUP_FAILED, INVALID) or reopen it."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from buypower_tui.core import tokens
from buypower_tui.core.row_view import close_problem, is_operator_failed
from buypower_tui.core.rules import escape_hidden
from buypower_tui.core.times import local_minute
from buypower_tui.core.values import RowState
from buypower_tui.ui.messages import RowsChanged, RunProgress
from buypower_tui.ui.modals.choose import ChooseModal
from buypower_tui.ui.modals.close_rows import CloseRowsModal
from buypower_tui.ui.modals.confirm import ConfirmModal
from buypower_tui.ui.modals.prompt import PromptModal
from buypower_tui.ui.screens.batch_rows import BatchRowsScreen
from buypower_tui.ui.widgets.paged_table import PagedTable
from buypower_tui.ui.widgets.top_bar import TopBar
from buypower_tui.ui.wording import plural

S = RowState
SHOWN = (S.FAILED, S.LOOKUP_FAILED, S.INVALID, S.PENDING, S.SENDING, S.NEEDS_REVIEW, S.CLOSED)


class ReviewScreen(BatchRowsScreen):
    TITLE = "Failed and pending"
    HELP_TEXT = (
        "Rows that did not end paid. PENDING and SENDING rows may still take money: they are requeried, "
        "never sent again under a new order (q requeries the selected or marked rows, Q all of them). "
        "When BuyPower said a FAILED row's order failed, t retries it under a new orderId after the usual "
        "confirmation. A NEEDS_REVIEW row ran out of requeries: check it with BuyPower, then m records "
        "what you found (paid or failed) with a note. A row you mark failed stays requeried until BuyPower "
        "itself answers (its order may still succeed), and can be retried only then. LOOKUP_FAILED and INVALID "
        "rows are fixed in the editor. A row that will never be paid (a meter under maintenance) is closed "
        "with k and a note: FAILED (once BuyPower said so), LOOKUP_FAILED and INVALID rows. A closed row is "
        "never sent, retried or requeried and does not count as failed; k on it opens it again, as it was.")
    BINDINGS = [
        Binding("q", "requery", "Requery", id="review.requery"),
        Binding("Q", "requery_all", "Requery all", show=False, id="review.requery_all"),
        Binding("t", "retry", "Retry", id="review.retry", tooltip="retry FAILED rows under new orderIds"),
        Binding("m", "resolve", "Resolve", id="review.resolve"),
        Binding("k", "close", "Close/reopen", id="review.close",
                tooltip="close rows that will not be paid, with a note; k on closed rows reopens them"),
        Binding("space", "mark", "Mark", show=False, id="review.mark"),
        Binding("h", "history", "History", show=False, id="review.history"),
        Binding("escape", "back", "Back", id="review.back"),
    ]

    def __init__(self, batch_id: int) -> None:
        super().__init__(batch_id)
        self.marked: set[int] = set()

    def compose(self) -> ComposeResult:
        batch = self.app.services.batch(self.batch_id)
        self.title = f"Failed and pending: {batch.name}" if batch else "Failed and pending"
        yield TopBar(self.title)
        yield Static(id="review-counts", markup=False)
        yield Static(id="detail", markup=False)
        yield self.rows_table(("row", "state", "meter", "amount", "next", "message"), id="review-rows")
        yield Footer()

    def on_mount(self) -> None:
        self.load()
        self.table.focus()

    def on_job_done(self) -> None:
        self.load()

    def on_run_progress(self, message: RunProgress | RowsChanged) -> None:
        if message.batch_id == self.batch_id:  # the run settles rows and moves their next requery
            self.load()

    on_rows_changed = on_run_progress

    def load(self) -> None:
        self.show_all(SHOWN)
        self.marked.intersection_update(self.table.ids)
        by_state = self.app.services.stats(self.batch_id).by_state
        text = " │ ".join(f"{by_state[s]} {s}" for s in SHOWN if by_state.get(s)) or "Nothing failed or pending."
        self.query_one("#review-counts", Static).update(text + (f" │ {len(self.marked)} marked" if self.marked else ""))
        self.show_detail()

    @on(PagedTable.RowHighlighted)
    def show_detail(self) -> None:
        row = self.row(self.table.current_id)
        nxt = row and row["next_requery_at"] and self.requeryable(row["id"])
        text = "" if row is None else (
            f"Row {row['row_number']} ({row['state']}), orderId {row['order_id'] or '–'}, "
            f"{row['requery_count']} requeries" + (f", next at {local_minute(row['next_requery_at'])}" if nxt else "")
            + f": {escape_hidden(row['provider_message'] or 'no answer yet')}")
        self.query_one("#detail", Static).update(text)

    def targets(self, states: tuple[str, ...], operators: bool | None = None) -> list[int]:
        """Marked (or else the selected) rows in `states`; `operators`: only (True) or never
        (False) the FAILED rows the operator marked, still waiting for BuyPower's word."""
        shown = self.table.ids
        ids = [i for i in shown if i in self.marked] or [self.table.current_id] if shown else []
        return [i for i in ids if (row := self.row(i)) is not None and row["state"] in states  # None: deleted
                and operators in (None, self.by_operator(i))]

    def by_operator(self, row_id: int) -> bool:
        row = self.row(row_id)
        return row is not None and is_operator_failed(row)

    def action_mark(self) -> None:
        row_id = self.table.current_id
        if row_id is not None:
            self.marked ^= {row_id}
            self.table.action_cursor_down()
            self.load()

    def requeryable(self, row_id: int) -> bool:
        row = self.row(row_id)  # None: deleted since the view was made
        return row is not None and (row["state"] in (S.PENDING, S.SENDING, S.NEEDS_REVIEW) or self.by_operator(row_id))

    def action_requery(self) -> None:
        ids = [i for i in self.targets((S.PENDING, S.SENDING, S.NEEDS_REVIEW, S.FAILED)) if self.requeryable(i)]
        if not ids:
            self.notify("Only PENDING, SENDING and NEEDS_REVIEW rows, and rows you marked failed, are requeried.",
                        severity="warning")
            return
        self.app.requery(self.batch_id, ids)

    def action_requery_all(self) -> None:
        ids = [i for i in self.table.ids if self.requeryable(i)]
        if ids:
            self.app.requery(self.batch_id, ids)

    def action_retry(self) -> None:
        ids = self.targets((S.FAILED,), operators=False)
        if not ids:
            mine = self.targets((S.FAILED,), operators=True)
            self.notify("A row you marked failed is retried only once BuyPower says its order failed (q asks "
                        "now): it may still be paid." if mine else
                        "Only FAILED rows are retried, once BuyPower said their order failed.", severity="warning")
            return
        numbers = ", ".join(str(self.row(i)["row_number"]) for i in ids)

        def answer(yes: bool | None) -> None:
            if yes:
                self.app.pay(self.batch_id, retrying=tuple(ids))

        self.app.push_screen(ConfirmModal(
            f"Retry {plural(len(ids), 'failed row')}?",
            f"Rows {numbers}: BuyPower answered that each earlier order failed, so it took no money. A retry "
            "sends a new order under a new orderId (the old one stays in the row's history). The usual check "
            "and the VEND confirmation come next.", yes="Check and retry"), answer)

    def action_resolve(self) -> None:
        ids = self.targets((S.NEEDS_REVIEW,))
        if not ids:
            self.notify("Only NEEDS_REVIEW rows are resolved by hand.", severity="warning")
            return

        def outcome(state: str | None) -> None:
            if state is None:
                return

            def recorded(result) -> None:
                if result.refused:  # settled meanwhile by a requery, or a token is there already
                    self.app.show_error(f"{plural(len(result.refused), 'row')} not changed",
                                        "\n".join(result.refused.values()))
                done = len(result.done)
                if done:
                    self.notify(f"Recorded {plural(done, 'row')} as paid." if state == S.SUCCESS else
                                f"Marked {plural(done, 'row')} failed. They are still requeried until BuyPower "
                                "answers (the order may yet succeed), and can be retried once BuyPower says it "
                                "failed.")
                self.marked.clear()
                self.load()

            def noted(note: str | None, token: str | None = None) -> None:
                if note:  # not while a requery or a run asks BuyPower about these rows (the money lock)
                    self.app.change(self.batch_id, lambda: self.app.services.resolve(ids, note, state, token),
                                    recorded, refused="Nothing was recorded")

            def ask_note(token: str | None = None) -> None:
                self.app.push_screen(PromptModal(f"Why {state}? (kept in the row's history)", "",
                                                 "e.g. 'BuyPower support confirmed it on 26 Nov'",
                                                 check=lambda v: None if v.strip() else "A note is required."),
                                     lambda note: noted(note, token))

            if state == S.SUCCESS and len(ids) == 1:  # a paid row should carry its token
                self.app.push_screen(PromptModal("The token BuyPower gave (20 digits; empty if unknown)", "",
                                                 "Spaces and dashes are ignored.", check=tokens.token_problem),
                                     lambda token: ask_note(tokens.token_digits(token)) if token is not None
                                     else None)
            else:
                ask_note()

        self.app.push_screen(ChooseModal("What did you find out?", [
            (S.SUCCESS, "It was paid (the customer has a token)"),
            (S.FAILED, "It failed (it stays requeried until BuyPower itself answers)")], S.SUCCESS), outcome)

    def action_close(self) -> None:
        """Close the marked (or selected) rows with a note, or reopen them when they are closed:
        all or none, as `buypower-tui close` does."""
        shown = self.table.ids
        ids = ([i for i in shown if i in self.marked] or [self.table.current_id]) if shown else []
        chosen = [row for i in ids if (row := self.row(i)) is not None]
        if not chosen:
            return
        closed = [row for row in chosen if row["state"] == S.CLOSED]
        if closed and len(closed) != len(chosen):
            self.notify("k closes open rows or reopens closed ones, not both at once: mark only one kind.",
                        severity="warning")
            return
        reopen = bool(closed)
        problems = [] if reopen else [p for row in chosen if (p := close_problem(row))]
        if problems:  # said now, before a note is asked for; nothing changes
            self.app.show_error("Nothing was closed", "\n".join(problems))
            return
        row_ids = [row["id"] for row in chosen]

        def changed(done) -> None:
            self.notify(f"Reopened {plural(len(done), 'row')}: each is as it was before it was closed."
                        if reopen else f"Closed {plural(len(done), 'row')}: they will not be paid.")
            self.marked.clear()
            self.load()

        def noted(note: str | None) -> None:
            if note:  # not while a run or a requery asks BuyPower about these rows (the money lock)
                services = self.app.services
                work = (lambda: services.reopen_rows(row_ids, note)) if reopen else \
                    (lambda: services.close_rows(row_ids, note))
                self.app.change(self.batch_id, work, changed,
                                refused="Nothing was reopened" if reopen else "Nothing was closed")

        self.app.push_screen(CloseRowsModal(chosen, reopen=reopen), noted)
