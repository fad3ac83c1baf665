"""Edit one recipient: an Input per field, checked as you type by the import's own rules."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Label, Static

from buypower_tui.core.rules import FIELDS, Limits, check_field
from buypower_tui.core.splitting import CannotSplit, parts_count, split_amount

LABELS = {"meter": "Meter", "disco": "DISCO", "amount": "Amount ₦", "phone": "Phone", "vend_type": "Vend type",
          "name": "Name", "email": "Email"}
HINTS = {"meter": "11 or 13 digits for a prepaid meter", "disco": "e.g. IKEJA, EKO, ABUJA", "amount": "e.g. 5000",
         "phone": "e.g. 08031234567", "vend_type": "empty means PREPAID", "name": "optional",
         "email": "optional"}


def show_message(box: Static, text: str | None) -> None:
    """A field's message, or none: no empty lines, so the dialog fits 80x24."""
    box.update(text or "")
    box.display = bool(text)


class FieldRule(Validator):
    def __init__(self, modal: RowEditorModal, field: str) -> None:
        super().__init__()
        self.modal, self.field = modal, field

    def validate(self, value: str) -> ValidationResult:
        problem = self.modal.problem(self.field, value)
        return self.failure(problem) if problem else self.success()


@dataclass(frozen=True)
class Split:
    """The operator asked to split the row (amount over the maximum), with these sheet values."""

    values: dict[str, str]


class RowEditorModal(ModalScreen[dict[str, str] | Split | None]):
    """Returns the row's new sheet values, or Split (only when `splittable`: a stored row), or
    None (Escape keeps the row as it was)."""

    TITLE = "Edit a row"
    HELP_TEXT = ("Each field is checked as you type, by the same rules as the import; the message under "
                 "a field says what is wrong and how to fix it. Enter or ctrl+s saves the row (even with "
                 "problems left: it then stays invalid), Esc leaves it as it was. An amount over the "
                 "maximum can be split (ctrl+t) into rows of the same meter that add up to it.")

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Revert", id="edit.revert"),
        Binding("ctrl+s", "save", "Save", id="edit.save"),
        Binding("ctrl+t", "split", "Split the amount", id="edit.split"),
    ]

    def __init__(self, title: str, values: dict[str, str], limits: Limits, *, splittable: bool = False) -> None:
        super().__init__()
        self.title_text, self.values, self.limits, self.splittable = title, values, limits, splittable

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="row-editor"):
            yield Label(f"{self.title_text} · Enter or ctrl+s saves · Esc reverts · Tab moves", id="dialog-title",
                        markup=False)
            with VerticalScroll(id="fields-scroll"), Grid(id="fields"):
                for field in FIELDS:
                    yield Label(LABELS[field], classes="field-label")
                    with Vertical(classes="field"):
                        yield Input(self.values.get(field, ""), id=f"f-{field}", placeholder=HINTS[field],
                                    validate_on=["changed", "submitted"], validators=[FieldRule(self, field)],
                                    select_on_focus=False)
                        yield Static("", id=f"m-{field}", classes="message", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Split", id="split", compact=True)
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Revert (Esc)", id="revert", compact=True)

    def on_mount(self) -> None:
        first_bad = None
        for field in FIELDS:
            box = self.query_one(f"#f-{field}", Input)
            box.validate(box.value)
            self._show(field, self.problem(field, box.value))
            if first_bad is None and self.problem(field, box.value):
                first_bad = box
        (first_bad or self.query_one("#f-meter", Input)).focus()
        self._offer_split()

    def problem(self, field: str, value: str) -> str | None:
        vend_type = self.query_one("#f-vend_type", Input).value if self.is_mounted else ""
        return check_field(field, value, self.limits, vend_type)

    def _show(self, field: str, problem: str | None) -> None:
        show_message(self.query_one(f"#m-{field}", Static), problem)

    def _parts(self) -> int:
        return parts_count(self.query_one("#f-amount", Input).value, self.limits) if self.splittable else 0

    def _offer_split(self) -> None:
        """The split button shows only while the amount is over the maximum and splits."""
        button, parts = self.query_one("#split", Button), self._parts()
        button.display = bool(parts)
        if parts:
            button.label = f"Split into {parts} rows (ctrl+t)"

    def on_input_changed(self, event: Input.Changed) -> None:
        field = (event.input.id or "")[2:]
        self._show(field, self.problem(field, event.value))
        if field == "amount":
            self._offer_split()
        if field == "vend_type":  # the meter's length rule depends on the vend type
            meter = self.query_one("#f-meter", Input)
            meter.validate(meter.value)
            self._show("meter", self.problem("meter", meter.value))

    def on_input_submitted(self) -> None:
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        elif event.button.id == "split":
            self.action_split()
        else:
            self.dismiss(None)

    def action_split(self) -> None:
        if not self.splittable:  # a new row: add it first
            return
        try:
            split_amount(self.query_one("#f-amount", Input).value, self.limits)
        except CannotSplit as exc:
            self.notify(f"Not split: {exc}.", severity="warning", markup=False)
            return
        self.dismiss(Split({f: self.query_one(f"#f-{f}", Input).value for f in FIELDS}))

    def action_save(self) -> None:
        """Saves even with problems left: the row stays invalid, and nothing typed is lost."""
        self.dismiss({f: self.query_one(f"#f-{f}", Input).value for f in FIELDS})
