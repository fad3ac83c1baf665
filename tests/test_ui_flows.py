"""The TUI as an operator uses it: Pilot drives the keys, the sandbox plays BuyPower."""

from __future__ import annotations

import csv
import sys

import keyring
import pytest
from sqlalchemy import update
from textual.widgets import Input, Static

from buypower_tui.core.demo import write_demo_sheet
from buypower_tui.core.models import Recipient, RowState, utcnow
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.modals.error import ErrorModal
from buypower_tui.ui.modals.help import HelpModal
from buypower_tui.ui.screens.batches import BatchesScreen
from buypower_tui.ui.screens.editor import EditorScreen
from buypower_tui.ui.screens.settings import SettingsScreen
from tests.ui_support import SIZE, NoKeyring, demo_app, screen_text, services, settle, steady_screen  # noqa: F401 - autouse fixture

KEY = "0123456789abcdef" * 3 + "00000000c0ffee42"


@pytest.fixture
def sandbox(monkeypatch):
    with SandboxServer(SandboxConfig(seed=5, delay=(0,))) as server:
        monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", server.key)
        yield server


def counts(app) -> str:
    return str(app.screen.query_one("#counts", Static).render())


def batch_rows(app) -> list[dict]:
    return app.services.grid_rows(app.screen.batch_id)


def cursor_to(editor: EditorScreen, row_number: int) -> None:
    row_id = next(r["id"] for r in batch_rows(editor.app) if r["row_number"] == row_number)
    editor.grid.move_cursor(row=editor.grid.get_row_index(row_id))


def row(app, row_number: int) -> dict:
    return next(r for r in batch_rows(app) if r["row_number"] == row_number)


async def test_open_a_sheet_fix_amount_and_phone_then_look_meters_up(tmp_path, sandbox, monkeypatch):
    sheet = tmp_path / "estate.csv"
    with sheet.open("w", newline="") as fh:
        csv.writer(fh).writerows([
            ["Meter Number", "Disco", "Amount", "Phone"],
            ["12345678910", "ABUJA", "5000", "08034210294"],
            ["62010000001", "EKO", "50", "08031234567"],  # amount too small
            ["04271892301", "IKEDC", "2000", "0803123"],  # phone too short
        ])
    monkeypatch.chdir(tmp_path)
    app = BuyPowerApp(services("--sandbox", "--base-url", sandbox.url))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", *"estate", "tab", "enter")  # Tab completes the path
        await settle(pilot)
        await pilot.pause(0.2)
        assert isinstance(app.screen, EditorScreen)
        assert "3 rows │ 1 valid │ 2 invalid" in counts(app)

        cursor_to(app.screen, 3)
        await pilot.press("e")
        await pilot.pause()
        box = app.screen.focused
        assert isinstance(box, Input) and box.id == "f-amount"  # the editor opens on what is wrong
        assert "below the minimum" in str(app.screen.query_one("#m-amount", Static).render())
        await pilot.press("ctrl+a", "ctrl+k", *"2500")
        assert not app.screen.query_one("#m-amount", Static).display  # the message went as I typed
        await pilot.press("enter")
        await pilot.pause()
        assert "2 valid │ 1 invalid" in counts(app)

        cursor_to(app.screen, 4)
        await pilot.press("enter")  # Enter edits too
        await pilot.pause()
        assert app.screen.focused.id == "f-phone"
        await pilot.press("ctrl+a", "ctrl+k", *"08031234568", "enter")
        await pilot.pause()
        assert "3 valid │ 0 invalid" in counts(app) and "₦9,500.00 valid total" in counts(app)

        await pilot.press("l")
        await settle(pilot)
        await pilot.pause(0.3)
        editor = app.screen
        assert [row(app, n)["state"] for n in (2, 3, 4)] == [RowState.VERIFIED] * 3
        customer = [key for key, _, _ in editor.grid.columns].index("customer")
        names = [editor.grid.cells(row(app, n))[customer].plain for n in (2, 3, 4)]
        assert all(names) and names == [row(app, n)["customer_name"] for n in (2, 3, 4)]


async def test_a_name_with_markup_renders_literally(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = screen_text(app)
        assert "[/x] markup in" in screen and "[b]Bold[/b] ma" in screen


async def test_no_keyring_the_key_screen_says_so_and_the_rest_keeps_working(tmp_path):
    keyring.set_keyring(NoKeyring())
    app = BuyPowerApp(services("--sandbox"))
    async with app.run_test(size=SIZE) as pilot:
        batch_id = app.services.import_sheet(write_demo_sheet(tmp_path / "estate.csv")).batch_id
        app.push_screen(EditorScreen(batch_id))
        await settle(pilot)
        await pilot.press("f2")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        problem = str(app.screen.query_one("#keyring-problem", Static).render())
        assert "this machine has no keyring" in str(app.screen.query_one("#key-source", Static).render())
        assert "No usable OS keyring" in problem and "dbus-run-session" in problem
        assert "BUYPOWER_SANDBOX_API_KEY" in problem
        await pilot.press(*KEY, "enter")
        await settle(pilot)
        assert "could not be used" in str(app.screen.query_one("#key-message", Static).render())
        assert not list(tmp_path.rglob("*c0ffee42*"))  # and no file took the key instead
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, EditorScreen)
        cursor_to(app.screen, 31)
        await pilot.press("e", "ctrl+a", "ctrl+k", *"500", "enter")
        await pilot.pause()
        assert row(app, 31)["state"] == RowState.VALID


async def test_in_the_demo_a_key_goes_to_a_keyring_in_memory_not_the_machines(tmp_path):
    machine = NoKeyring()
    keyring.set_keyring(machine)
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await settle(pilot)
        assert "Outside the demo: No usable OS keyring" in str(app.screen.query_one("#keyring-problem",
                                                                                    Static).render())
        await pilot.press(*KEY, "enter")
        await settle(pilot)
        assert "ending in …ee42" in str(app.screen.query_one("#key-source", Static).render())
        demo_keyring = keyring.get_keyring()
        assert demo_keyring is not machine and demo_keyring.passwords == {("buypower-tui", "sandbox"): KEY}


async def test_set_replace_and_clear_the_key_in_the_keyring(memory_keyring):
    app = BuyPowerApp(services("--sandbox"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        await settle(pilot)
        source = app.screen.query_one("#key-source", Static)
        assert "not set" in str(source.render())
        await pilot.press(*"abc", "enter")  # not a key's shape: asks again
        await settle(pilot)
        assert "does not look like a BuyPower key" in str(app.screen.query_one("#key-message", Static).render())
        assert memory_keyring.passwords == {}
        await pilot.press("ctrl+a", "ctrl+k", *KEY, "enter")
        await settle(pilot)
        assert memory_keyring.passwords == {("buypower-tui", "sandbox"): KEY}
        assert "ending in …ee42" in str(source.render()) and KEY not in screen_text(app)
        assert app.screen.query_one("#key-input", Input).value == ""
        await pilot.press("f8")
        await settle(pilot)
        assert memory_keyring.passwords == {} and "not set" in str(source.render())


async def test_add_copy_delete_and_undo(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        store, batch = app.services.store, app.services.demo.batch_id
        before = store.stats(batch).rows
        await pilot.press("a", *"62010000001", "tab", *"eko", "tab", *"1500", "tab", *"08031234567", "enter")
        await pilot.pause()
        assert store.stats(batch).rows == before + 1 and row(app, 52)["state"] == RowState.VALID
        await pilot.press("c")  # copy the new row: now its meter is a duplicate
        await pilot.pause()
        assert row(app, 53)["meter"] == "62010000001"
        assert "appears 3 times" in str(app.screen.query_one("#detail", Static).render())
        await pilot.press("ctrl+z")  # the copy goes
        await pilot.pause()
        assert store.stats(batch).rows == before + 1
        cursor_to(app.screen, 2)
        await pilot.press("space", "shift+down", "d", "y")  # rows 2 and 3 marked, then deleted
        await pilot.pause()
        assert store.stats(batch).rows == before - 1
        assert {r["row_number"] for r in batch_rows(app)}.isdisjoint({2, 3})
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert store.stats(batch).rows == before + 1 and row(app, 2)["meter"] == "12345678910"


async def test_a_stray_enter_does_not_delete(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = app.services.store.stats(app.services.demo.batch_id).rows
        await pilot.press("d", "enter")
        await pilot.pause()
        assert app.services.store.stats(app.services.demo.batch_id).rows == before


async def test_accept_duplicates_filter_search_and_undo_an_edit(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "2 warnings" in counts(app)
        await pilot.press("f")
        await pilot.pause()
        await pilot.press("down", "down", "down", "enter")  # duplicate meters
        await pilot.pause()
        assert app.screen.grid.row_count == 2
        await pilot.press("space", "shift+down", "o")
        await pilot.pause()
        assert "0 warnings" in counts(app)
        assert all(r["duplicate_accepted"] for r in batch_rows(app) if r["meter"] == "71120000018")
        await pilot.press("f", "home", "enter", "slash", *"Bold")
        await pilot.pause()
        assert app.screen.grid.row_count == 1
        await pilot.press("enter", "e", "ctrl+a", "ctrl+k", *"1", "enter")  # ruin the meter
        await pilot.pause()
        assert row(app, 23)["state"] == RowState.INVALID
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert row(app, 23)["state"] == RowState.VALID and row(app, 23)["meter"] == "31180000015"
        await pilot.press("escape")  # clears the search
        await pilot.pause()
        assert app.screen.grid.row_count == 50


async def test_export_the_invalid_rows_with_their_messages(tmp_path):
    app = demo_app(tmp_path)
    out = tmp_path / "to-fix.csv"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x", "ctrl+a", "ctrl+k", *str(out), "enter")
        await pilot.pause()
    lines = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert len(lines) == 7 and lines[0]["row"] == "29" and "leading 0" in lines[0]["problems"]
    assert {line["meter"] for line in lines} >= {"4271892311", "62010000101"}


async def test_rows_and_batches_with_an_order_id_are_history(tmp_path):
    app = demo_app(tmp_path, open_batch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        with app.services.store.session() as s:
            s.exec(update(Recipient).where(Recipient.row_number == 2).values(order_id="bp-1", state="SUCCESS"))
            s.commit()
        await pilot.press("d", "y")
        await pilot.pause()
        assert isinstance(app.screen, ErrorModal) and "orderId" in app.screen.text
        await pilot.press("escape", "enter")
        await pilot.pause()
        assert isinstance(app.screen, EditorScreen)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ErrorModal) and "history, not a draft" in app.screen.text


async def test_rename_and_delete_a_batch(tmp_path):
    app = demo_app(tmp_path, open_batch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r", "ctrl+a", "ctrl+k", *"March estate", "enter")
        await pilot.pause()
        assert app.services.store.batch(1).name == "March estate"
        await pilot.press("d", "y")
        await pilot.pause()
        assert app.services.store.batches() == [] and isinstance(app.screen, BatchesScreen)


async def test_lookup_without_a_key_explains_how_to_set_one():
    app = BuyPowerApp(services("--sandbox", "--base-url", "http://127.0.0.1:9/v2"))
    async with app.run_test(size=SIZE) as pilot:
        sheet_id = app.services.import_sheet(
            __import__("pathlib").Path(__file__).parent.parent / "buypower_tui/data/sample-recipients.csv").batch_id
        app.push_screen(EditorScreen(sheet_id))
        await pilot.pause()
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal) and "no API key" in app.screen.text and "F2" in app.screen.text


async def test_help_keys_and_palette(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Edit", "Lookup", "Export invalid rows", "Accept duplicate", "Undo", "Settings"} <= titles
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)
        assert "Export invalid rows" in screen_text(app)
        await pilot.press("escape", "f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)


def test_a_crash_prints_where_the_log_is_never_locals(tmp_path, monkeypatch):
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", KEY)
    app = BuyPowerApp(services("--sandbox"))
    key = app.services.key_info.key  # noqa: F841 - a local the default traceback would print
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        app._fatal_error()
    shown = "".join(str(r) for r in app._exit_renderables)
    assert "unexpected error" in shown and str(app.services.paths.log_file) in shown
    assert KEY not in shown and "c0ffee42" not in app.services.paths.log_file.read_text()
    assert "RuntimeError: boom" in app.services.paths.log_file.read_text()
    assert sys.exc_info() == (None, None, None)


async def test_a_job_that_ends_is_told_to_the_screens_as_a_message_with_its_batch(tmp_path):
    """Issue 12: a typed job record, not the worker's name, says which batch a job was for; the
    screens hear it as a JobDone message rather than through an attribute looked up by name."""
    from buypower_tui.ui.messages import JobDone

    heard: list[tuple[str | None, int | None]] = []

    def hook(message) -> None:
        if isinstance(message, JobDone):
            heard.append((message.kind, message.batch_id))

    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await settle(pilot)
        batch = app.screen.batch_id
        await pilot.press("l")
        assert app.busy("lookup", batch) and not app.busy("lookup", batch + 1)
        await settle(pilot)
        assert not app.busy("lookup") and app.jobs == {}
    assert ("lookup", batch) in heard


def changed(app, row_ids: list[int], **values) -> None:
    """Rows changed in the store as another part of the app (a run, a lookup) would, with a new
    updated_at, so that views reading changes see them."""
    with app.services.store.session() as s:
        s.exec(update(Recipient).where(Recipient.id.in_(row_ids)).values(**values, updated_at=utcnow()))
        s.commit()


def _repeating_timers(app) -> list[str]:
    """Interval timers of ours (`set_interval`) on the screens and their top bars; Textual's own
    screen-update timer is not one (the health dashboard's refresh is a one-shot timer,
    re-armed: it asks the outside world)."""
    from buypower_tui.ui.widgets.top_bar import TopBar

    nodes = [n for screen in app.screen_stack for n in (screen, *screen.query(TopBar))]
    return [f"{node!r}: {timer.name}" for node in nodes for timer in node._timers
            if timer._repeat is None and timer.name.startswith("set_interval")]


async def test_the_run_view_shows_a_row_within_one_message_with_no_timer(tmp_path):
    """Issue 12: the run view listens. A row the run changed appears when the run's progress
    message arrives, not on a clock: nothing shows it before the message, one message does."""
    from buypower_tui.core.breaker import BreakerSnapshot, BreakerState
    from buypower_tui.services import Progress
    from buypower_tui.ui.messages import RunProgress
    from buypower_tui.ui.screens.run import RunScreen
    from buypower_tui.ui.widgets.row_table import RowTable

    app = demo_app(tmp_path, recover=False)
    batch = app.services.demo.batch_id
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(RunScreen(batch))
        await pilot.pause()
        assert _repeating_timers(app) == []
        table = app.screen.query_one(RowTable)
        assert table.row_count == 0  # nothing approved or sent yet
        row = next(r for r in app.services.rows(batch) if r.state == RowState.VALID)
        changed(app, [row.id], state=RowState.SUCCESS, order_id="order-1",  # as the run's store thread records it
                token="12345678901234567890")
        await pilot.pause(0.6)  # longer than any polling interval there was (0.3 s)
        assert table.row_count == 0
        progress = Progress(counts={RowState.SUCCESS: 1}, to_send=1, sent=1, vends_per_s=1.0, eta_s=None,
                            breaker=BreakerSnapshot(BreakerState.CLOSED, 0, None), waiting=None, last_error=None,
                            paused=False, finished=False)
        app.post_message(RunProgress(batch, progress))
        await pilot.pause()
        assert table.row_count == 1 and table.ids == [row.id]
        assert "SUCCESS" in screen_text(app) and "sent 1/1" in screen_text(app)


async def test_the_top_bar_follows_the_jobs_with_no_timer(tmp_path):
    """Issue 12: every top bar watches what the App's jobs do; it changes when a job starts and
    when it ends, and no screen or bar keeps an interval timer for it."""
    app = demo_app(tmp_path, recover=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        activity = app.screen.query_one("#activity", Static)
        assert str(activity.render()) == "" and _repeating_timers(app) == []
        app.start_lookup(app.screen.batch_id)
        assert "looking up" in str(activity.render())
        await settle(pilot)
        assert str(activity.render()) == ""
        assert _repeating_timers(app) == []


async def test_the_failed_pending_view_skips_a_row_deleted_elsewhere(tmp_path):
    """Review of issue 12: a row shown in the view, then deleted by another window (its page no
    longer held), is skipped by every key; never a crash."""
    from buypower_tui.services import Services
    from buypower_tui.ui.screens.review import ReviewScreen

    app = demo_app(tmp_path, recover=False)
    batch = app.services.demo.batch_id
    ids = [r.id for r in app.services.rows(batch)][:3]
    changed(app, ids, state=RowState.LOOKUP_FAILED)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(ReviewScreen(batch))
        await pilot.pause()
        view = app.screen
        assert view.table.ids[:3] == ids  # then the demo's INVALID rows (issue 14: k closes them)
        Services(app.services.ctx).delete_rows(batch, [ids[0]])  # another window's editor
        view.table.forget()  # as when its page was dropped far from the screen
        for key in ("home", "q", "Q", "t", "m", "k", "h", "space", "q"):
            await pilot.press(key)
            await pilot.pause()
        assert app.screen is view and app.is_running
        await settle(pilot)


async def test_a_row_resolved_by_hand_shows_in_the_run_view_underneath(tmp_path):
    """Review of issue 12: a change made through the layer (here a resolve) tells every screen
    showing the batch (RowsChanged), not only the one that asked."""
    from buypower_tui.ui.screens.review import ReviewScreen
    from buypower_tui.ui.screens.run import RunScreen

    app = demo_app(tmp_path, recover=False)
    batch = app.services.demo.batch_id
    row = next(r for r in app.services.rows(batch) if r.state == RowState.VALID)
    changed(app, [row.id], state=RowState.NEEDS_REVIEW, order_id="order-9")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(RunScreen(batch))
        await pilot.pause()
        run_view = app.screen
        assert run_view.table.row(row.id)["state"] == RowState.NEEDS_REVIEW
        app.push_screen(ReviewScreen(batch))
        await pilot.pause()
        await pilot.press("m", "enter")  # it was paid
        await pilot.pause()
        await pilot.press(*"1234-5678-9012-3456-7890", "enter")
        await pilot.pause()
        await pilot.press(*"support confirmed", "enter")
        await settle(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is run_view
        shown = run_view.table.row(row.id)
        assert shown["state"] == RowState.SUCCESS and shown["token"] == "12345678901234567890"


async def test_the_tui_draws_first_and_lists_the_batches_when_its_store_opens(tmp_path, isolated_home):
    """Issue 12: a SQLite store at the app's schema is opened after the first frame, in a worker;
    the batches screen then lists what it holds, with the key asked there too."""
    from buypower_tui.cli import build_parser, main
    from buypower_tui.core.demo import write_demo_sheet
    from buypower_tui.services import Context

    assert main(["--sandbox", "import", str(write_demo_sheet(tmp_path / "sheet.csv"))]) == 1  # it has invalid rows
    ctx = Context(build_parser().parse_args(["--sandbox"]))
    assert ctx.store_is_current()
    app = BuyPowerApp(ctx)
    assert app.services is None
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.services is not None and app.services.key_info is not None
        assert app.screen.table.row_count == 1 and "1 batch(es)" in screen_text(app)


def test_a_store_that_needs_opening_first_is_not_left_to_the_worker(tmp_path, isolated_home):
    """Another engine, an older store, a file that is not a store: opened before the TUI, where
    a refusal is an exit code."""
    from buypower_tui.cli import build_parser
    from buypower_tui.services import Context

    def current(db: str) -> bool:
        return Context(build_parser().parse_args(["--db", db])).store_is_current()

    assert current(f"sqlite:///{tmp_path / 'new.db'}")  # none yet: the worker creates it
    (tmp_path / "junk.db").write_text("not a database")
    assert not current(f"sqlite:///{tmp_path / 'junk.db'}")
    assert not current(f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}")
    assert not current("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert not current(f"sqlite:///{tmp_path / 'new.db'}?timeout=5")


async def test_before_the_store_opens_the_palette_waits_and_a_failure_after_it_stops_the_app(tmp_path, isolated_home,
                                                                                           monkeypatch):
    """Review of issue 12: Settings, Health and the run view, called from the palette before the
    store is open, say it is opening (never a crash, never the recovery behind another mode);
    and an error once it is open (a damaged store, say) stops the App with the log's path."""
    from buypower_tui.cli import build_parser, main
    from buypower_tui.core.demo import write_demo_sheet
    from buypower_tui.services import Context, Services
    from buypower_tui.ui.start import StartMixin

    main(["--sandbox", "import", str(write_demo_sheet(tmp_path / "sheet.csv"))])
    ctx = Context(build_parser().parse_args(["--sandbox"]))
    opened = StartMixin._open_store
    monkeypatch.setattr(StartMixin, "_open_store", lambda self: None)  # the store never opens
    app = BuyPowerApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for action in (app.action_settings, app.action_health, app.action_run_view):
            action()
            await pilot.pause()
        assert isinstance(app.screen, BatchesScreen) and app.current_mode == "main" and app.is_running
        assert "Opening the store" in screen_text(app)

    def damaged(self) -> bool:
        raise RuntimeError("database disk image is malformed")

    monkeypatch.setattr(StartMixin, "_open_store", opened)
    monkeypatch.setattr(Services, "needs_recovery", damaged)
    app = BuyPowerApp(Context(build_parser().parse_args(["--sandbox"])))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
    assert app.return_code == 1 and app.services is None
    assert "unexpected error; details are in" in app.start_error
    assert "malformed" in app.ctx.paths.log_file.read_text()


async def test_a_batchs_screen_opened_again_is_the_one_already_open_not_one_more(tmp_path):
    from buypower_tui.ui.screens.results import ResultsScreen
    from buypower_tui.ui.screens.review import ReviewScreen

    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, quiet=True)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        depth = len(app.screen_stack)
        for _ in range(3):  # results, failed & pending, results, … as an operator goes round
            await pilot.press("t")
            await pilot.pause()
            app.open_screen(ReviewScreen(editor.batch_id))
            await pilot.pause()
            app.open_screen(ResultsScreen(editor.batch_id))
            await pilot.pause()
        assert isinstance(app.screen, ResultsScreen) and len(app.screen_stack) == depth + 1
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is editor  # one Esc back, not nine


@pytest.mark.parametrize("resend,retrying,text", [
    ([], (), ""),
    ([4, 5], (4, 5), " (2 retried under new orderIds)"),  # read "2 with an orderId already" on a retry
    ([4, 9], (4,), " (1 retried under new orderIds; 1 under the orderId it has already)"),
    ([7, 8], (), " (2 under the orderId they have already)"),
])
def test_the_confirm_dialog_says_which_rows_get_new_orderids(resend, retrying, text):
    from buypower_tui.ui.modals.confirm_run import _resend_text

    assert _resend_text(resend, retrying) == text
