"""The month on one page (F5 from anywhere): the same table and wallet lines as
`buypower-tui report` (the words are core/report_text.py's), and two bar charts drawn in the
terminal: naira paid per disco and per day of the month (ui/widgets/bar_chart.py).

`[`/`]` (or ←/→) step through the months, `g` cycles the grouping through disco, batch and
each column the month's rows kept from their sheets, `o` (or `x`) saves the report as .csv or
.xlsx. The report is read in a thread worker: a month of many rows never holds a key."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, Static
from textual.worker import Worker, WorkerState

from buypower_tui.core.report_text import COLUMNS, GROUPINGS, cells, group_text, heading, nothing_in, wallet_lines
from buypower_tui.core.rules import naira
from buypower_tui.core.sheets import FileError
from buypower_tui.core.values import from_kobo
from buypower_tui.paths import existing_file
from buypower_tui.settings import ConfigError
from buypower_tui.ui.modals.confirm import ConfirmModal
from buypower_tui.ui.modals.save_file import SaveFileModal, safe_name
from buypower_tui.ui.widgets.bar_chart import Bar, ColumnBars, HorizontalBars
from buypower_tui.ui.widgets.top_bar import TopBar

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.services import MonthReport

SUFFIXES = (".xlsx", ".csv")


def this_month() -> str:
    """Local time, as core.report.parse_month reads no month."""
    return f"{datetime.now().astimezone():%Y-%m}"


def step(month: str, by: int) -> str:
    """"2026-01" stepped by -1 -> "2025-12"."""
    year, mon = (int(part) for part in month.split("-"))
    n = year * 12 + mon - 1 + by
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def ordinal(day: int) -> str:
    """1st, 2nd, 3rd, 4th … 11th, 12th, 13th … 21st, 22nd, 23rd … 31st."""
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def money(kobo: int) -> str:
    return naira(from_kobo(kobo))


def bold(text: str) -> Text:
    """Bold letters, plain padding (an SVG screenshot then keeps the columns in line)."""
    return Text.assemble((text, "bold"))


def group_table(report: MonthReport) -> Table:
    """The CLI's table (report_lines) as a Rich table, the month's total as its footer under a
    rule. The columns take what their figures need: never cut, a table wider than the terminal
    (millions at 80 columns) scrolls sideways instead."""
    t = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, padding=(0, 0, 0, 1), expand=False, show_footer=True,
              header_style="bold", footer_style="")
    t.add_column(Text(group_text(report.by)), footer=bold(report.total.group), no_wrap=True, overflow="ellipsis",
                 max_width=28, min_width=8)
    for (name, _width, _align), figure in zip(COLUMNS, cells(report.total), strict=True):
        t.add_column(Text(name), footer=bold(figure), justify="right", no_wrap=True)
    for line in report.groups:
        t.add_row(Text(group_text(line.group)), *(Text(c) for c in cells(line)))
    return t


class ReportScreen(Screen):
    TITLE = "Report"
    HELP_TEXT = (
        "The month on one page, as `buypower-tui report` prints it: rows paid, failed, pending and closed, "
        "with their naira, per disco, per batch or per a column kept from the sheets (Estate, Block…), and the "
        "month's total. A paid row counts in the month it was paid, any other row in the month its state last "
        "changed, in local time; drafts (not yet approved) are not counted. The wallet lines add up the runs' "
        "own reconciliations: what left the wallet during each run against what its rows paid (runs record it "
        "from this version on). The charts show the naira paid per disco and per day. [ and ] (or ← and →) "
        "go to the previous and next month (when the table is wider than the terminal, ← and → scroll it "
        "sideways, and [ and ] change the month); g groups by the next choice (disco, batch, each kept column); "
        "o or x saves the report as .xlsx (the table, per day, per disco and the wallet) or .csv (the table); "
        "r reads it again; Esc goes back.")
    BINDINGS = [
        Binding("left_square_bracket,left", "month(-1)", "Prev month", key_display="[", id="report.previous"),
        Binding("right_square_bracket,right", "month(1)", "Next month", key_display="]", id="report.next"),
        Binding("g", "group", "Group by", id="report.group"),
        Binding("o,x", "save", "Save as", id="report.save"),
        Binding("r", "refresh", "Read again", show=False, id="report.refresh"),
        Binding("escape", "back", "Back", id="report.back"),
    ]

    def __init__(self, month: str | None = None, by: str = "disco") -> None:
        """`month`: YYYY-MM (None: this month, local time); `by`: disco, batch or a kept column."""
        super().__init__()
        self.month = month or this_month()
        self.by = by
        self.report: MonthReport | None = None

    def compose(self) -> ComposeResult:
        yield TopBar("Report")
        yield Static("", id="report-heading", markup=False)
        yield Static("", id="report-groupings", markup=False)
        with VerticalScroll(id="report-body"):
            yield Static("Reading the month…", id="report-table", markup=False)
            yield Static("", id="report-wallet", markup=False)
            yield Label("", id="disco-title", classes="section", markup=False)
            yield HorizontalBars(id="per-disco")
            yield Label("", id="day-title", classes="section", markup=False)
            yield ColumnBars(id="per-day")
        yield Footer()

    def on_mount(self) -> None:
        self.show_charts(False)
        self.load()

    def on_screen_resume(self) -> None:
        """Back from a dialog or another screen, where rows may have been paid: read again."""
        if self.report is not None:
            self.load()

    # -- reading ---------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="report", exit_on_error=False)
    def load(self) -> tuple[MonthReport, str]:
        """The report, and a note when the grouping asked for had to change."""
        month, by = self.month, self.by
        services = self.app.services
        try:
            return services.month_report(month, by), ""
        except ConfigError:
            if by.casefold() in GROUPINGS:
                raise  # the month itself cannot be read
            return services.month_report(month, "disco"), f"No row of {month} has a column '{by}': grouped by disco."

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "report":
            return
        if event.state == WorkerState.SUCCESS:
            report, note = event.worker.result
            if report.month == self.month:  # not a month stepped past meanwhile
                self.show(report, note)
        elif event.state == WorkerState.ERROR:
            self.report = None
            why = str(event.worker.error).removeprefix("report: ")
            self.query_one("#report-heading", Static).update(Text(f"{self.month}: {why}", style="bold"))
            self.query_one("#report-table", Static).update("")
            self.query_one("#report-wallet", Static).update("")
            self.show_charts(False)

    def show(self, report: MonthReport, note: str = "") -> None:
        self.report, self.by = report, report.by
        self.query_one("#report-heading", Static).update(Text(heading(report) + "."))
        choices = Text("Group by (g): ")
        for i, choice in enumerate(report.groupings):
            if i:
                choices.append(" · ")
            current = choice.casefold() == report.by.casefold()
            choices.append(group_text(choice), style="bold reverse" if current else "")
        if note:
            choices.append(f"   {note}", style="bold")
        self.query_one("#report-groupings", Static).update(choices)
        table = self.query_one("#report-table", Static)
        wallet = self.query_one("#report-wallet", Static)
        if not report.total.rows:
            table.update(Text(f"{nothing_in(report)[:1].upper()}{nothing_in(report)[1:]}. [ and ] go to another "
                              "month."))
            wallet.update("")
            self.show_charts(False)
            return
        table.update(group_table(report))
        wallet.update(Text("\n".join(wallet_lines(report))))
        paid_days = [(day, kobo) for day, kobo in report.per_day if kobo]
        if not paid_days:
            self.show_charts(False)
            self.query_one("#disco-title", Label).update(f"Nothing was paid in {report.month}: no chart to draw.")
            self.query_one("#disco-title").display = True
            return
        self.query_one("#disco-title", Label).update(f"Naira paid per disco, {report.month}")
        self.query_one(HorizontalBars).set_bars([Bar(group_text(d), k, money(k)) for d, k in report.per_disco])
        top_day, top = max(paid_days, key=lambda dk: (dk[1], -dk[0].day))
        self.query_one("#day-title", Label).update(
            f"Naira paid per day, {report.month}: the tallest bar is {money(top)}, on the {ordinal(top_day.day)}")
        self.query_one(ColumnBars).set_bars([Bar(str(day.day), kobo) for day, kobo in report.per_day])
        self.show_charts(True)

    def show_charts(self, shown: bool) -> None:
        for selector in ("#disco-title", "#per-disco", "#day-title", "#per-day"):
            self.query_one(selector).display = shown

    # -- keys ------------------------------------------------------------------------

    def action_month(self, by: int) -> None:
        month = step(self.month, by)
        if month > this_month():
            self.notify(f"{self.month} is this month: nothing is paid in a later one yet.", severity="warning")
            return
        self.month = month
        self.load()

    def action_group(self) -> None:
        choices = self.report.groupings if self.report is not None else list(GROUPINGS)
        now = next((i for i, c in enumerate(choices) if c.casefold() == self.by.casefold()), -1)
        self.by = choices[(now + 1) % len(choices)]
        self.load()

    def action_refresh(self) -> None:
        self.load()

    def action_back(self) -> None:
        self.dismiss()

    def action_save(self) -> None:
        report = self.report
        if report is None:
            self.notify("The report is still being read.", severity="warning")
            return
        default = Path(f"report-{report.month}-by-{safe_name(report.by)}.xlsx")
        self.app.push_screen(SaveFileModal(f"Save the report for {report.month} (by {report.by})", default,
                                           suffixes=SUFFIXES), lambda path: self.chosen(report, path))

    def chosen(self, report: MonthReport, path: Path | None) -> None:
        if path is None:
            return
        try:
            existing = existing_file(path)  # a link or a device is refused before asking to replace it
        except OSError as exc:
            self.failed(path, exc)
            return
        if existing is None:
            self.write(report, path)
        else:
            self.app.push_screen(ConfirmModal("Replace the file?", f"{path} exists; write over it?", yes="Replace"),
                                 lambda yes: self.write(report, path) if yes else None)

    def write(self, report: MonthReport, path: Path) -> None:
        """A few dozen cells: written here, through the application layer, in one rename."""
        try:
            self.app.services.write_report(report, path)
        except (OSError, FileError) as exc:
            self.failed(path, exc)
            return
        self.notify(f"Wrote the report for {report.month} (by {report.by}) to {path.resolve()}.", title="Saved",
                    markup=False)

    def failed(self, path: Path, exc: Exception) -> None:
        why = f"{path}: {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else str(exc)
        self.app.show_error("Save the report: nothing was written", why)
