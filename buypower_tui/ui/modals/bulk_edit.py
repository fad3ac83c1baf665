"""Bulk edit: set the disco, amount, phone or vend type of every marked row at once."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from buypower_tui.core.rules import Limits, check_field
from buypower_tui.ui.modals.row_editor import HINTS, LABELS, FieldRule, show_message
from buypower_tui.ui.wording import plural

FIELDS = ("disco", "amount", "phone", "vend_type")  # what rows of many meters share; never the meter
HINTS = HINTS | {"vend_type": "PREPAID or POSTPAID"}  # here an empty field means "as each row has it"


def numbers_text(numbers: list[int], most: int = 12) -> str:
    return ", ".join(map(str, numbers[:most])) + (f" and {len(numbers) - most} more" if len(numbers) > most else "")


class BulkEditModal(ModalScreen[dict[str, str] | None]):
    """Returns the fields to set on every row (only those filled in), or None (Esc: nothing
    changes). A filled field must pass the import's rule before it can be saved: one wrong
    value would otherwise make every marked row invalid at once."""

    TITLE = "Bulk edit"
    HELP_TEXT = ("Sets the same value on every marked row: a field left empty is not changed. Each field "
                 "is checked as you type, by the same rules as the import, and every row is checked again "
                 "when saved. Enter or ctrl+s saves, Esc leaves the rows as they were; ctrl+z in the editor "
                 "takes the whole change back in one step.")
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="bulk.cancel"),
        Binding("ctrl+s", "save", "Save", id="bulk.save"),
    ]

    def __init__(self, numbers: list[int], left_out: list[int], limits: Limits) -> None:
        super().__init__()
        self.numbers, self.left_out, self.limits = numbers, left_out, limits

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="row-editor"):
            yield Label(f"Bulk edit {plural(len(self.numbers), 'row')} · Enter or ctrl+s saves · Esc cancels",
                        id="dialog-title", markup=False)
            about = Text.assemble(f"Sheet rows {numbers_text(self.numbers)}. ", ("Empty: not changed.", "bold"))
            if self.left_out:
                rows = "row" if len(self.left_out) == 1 else "rows"
                about.append(f"\nLeft out: {rows} {numbers_text(self.left_out)} (an orderId: history, not a draft).",
                             style="yellow")
            yield Static(about, id="bulk-about", classes="dialog-text")
            with Grid(id="fields"):
                for field in FIELDS:
                    yield Label(LABELS[field], classes="field-label")
                    with Vertical(classes="field"):
                        yield Input("", id=f"f-{field}", placeholder=f"unchanged ({HINTS.get(field)})",
                                    validate_on=["changed", "submitted"], validators=[FieldRule(self, field)],
                                    select_on_focus=False)
                        yield Static("", id=f"m-{field}", classes="message", markup=False)
            yield Static("", id="bulk-problem", classes="message", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        for field in FIELDS:
            self._show(field, None)
        self._show_problem("")
        self.query_one("#f-disco", Input).focus()

    def problem(self, field: str, value: str) -> str | None:
        """The import's message for a filled field; an empty one is left as each row has it."""
        if not value.strip():
            return None
        vend_type = self.query_one("#f-vend_type", Input).value if self.is_mounted else ""
        return check_field(field, value, self.limits, vend_type)

    def _show(self, field: str, problem: str | None) -> None:
        show_message(self.query_one(f"#m-{field}", Static), problem)

    def _show_problem(self, text: str) -> None:
        show_message(self.query_one("#bulk-problem", Static), text)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show((event.input.id or "")[2:], self.problem((event.input.id or "")[2:], event.value))
        self._show_problem("")

    def on_input_submitted(self) -> None:
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def values(self) -> dict[str, str]:
        return {f: v for f in FIELDS if (v := self.query_one(f"#f-{f}", Input).value).strip()}

    def action_save(self) -> None:
        values = self.values()
        bad = [LABELS[f] for f, v in values.items() if self.problem(f, v)]
        if bad:
            self._show_problem(f"Fix or empty {', '.join(bad)} first: every marked row would get it.")
        elif not values:
            self._show_problem("Fill in at least one field (Esc leaves the rows as they are).")
        else:
            self.dismiss(values)
