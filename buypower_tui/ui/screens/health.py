"""The health dashboard, a mode of its own: opening it pops no screen and stops no run.

Refreshed by one-shot thread workers re-armed by a timer (never a `while True`): the same
facts as `buypower-tui health`, plus the running client's breaker and call latencies."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Label, Sparkline, Static
from textual.worker import Worker, WorkerState

from buypower_tui.core.rules import naira
from buypower_tui.core.values import percent
from buypower_tui.ui.widgets.top_bar import TopBar

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.core.health import Health

REFRESH_S = 5.0
STATUS_STYLE = {"healthy": "bold reverse green", "degraded": "bold reverse yellow", "down": "bold reverse red"}


def facts(h: Health, breaker: str, latency: str) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", width=14)
    t.add_column()
    reach = {True: Text("reachable"), False: Text("UNREACHABLE", style="bold red"), None: Text("not asked (no key)")}
    t.add_row("Store", "ok" if h.store_ok else Text("DOWN", style="bold red"))
    t.add_row("API key", h.key_source)
    t.add_row("BuyPower", Text.assemble(reach[h.api_reachable], f"  {latency}"))
    t.add_row("Breaker", Text(breaker, style="green" if breaker == "closed" else "bold red"))
    t.add_row("DISCOs", f"{len(h.discos_up)} up" + (f"; down: {', '.join(h.discos_down)}" if h.discos_down else ""))
    t.add_row("Wallet", naira(h.wallet) if h.wallet is not None else "unknown")
    t.add_row("Rows", Text.assemble(f"{h.pending} pending, ",
                                    (f"{h.needs_review} need review", "bold magenta" if h.needs_review else "")))
    rate = percent(h.success_rate_24h) if h.success_rate_24h is not None else "no vends yet"
    t.add_row("Last 24 h", f"{h.vends_24h} paid; success rate {rate}")
    t.add_row("Machine", f"{h.free_disk_mb:,.0f} MB disk free; {h.memory_mb:.0f} MB memory")
    return t


class HealthScreen(Screen):
    TITLE = "Health"
    HELP_TEXT = (f"The state of the store, the key, BuyPower and this machine, refreshed every {REFRESH_S:.0f} s "
                 "(r now). The breaker and latencies are those of the batch being paid, when one is. The "
                 "same facts come from `buypower-tui health --json` for monitoring. This dashboard is a mode "
                 "of its own: F3 or Esc goes back, and a run carries on meanwhile.")
    BINDINGS = [
        Binding("r", "refresh", "Refresh now", id="health.refresh"),
        Binding("escape", "app.health", "Back", id="health.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.latencies: deque[float] = deque(maxlen=120)
        self.health: Health | None = None

    def compose(self) -> ComposeResult:
        yield TopBar("Health")
        yield Static("Checking…", id="health-status", markup=False)
        yield Static(id="health-facts", markup=False)
        yield Label("BuyPower call latency (ms), most recent on the right", classes="section")
        yield Sparkline([], id="latency")
        yield Label("Vends paid per hour, last 24 hours", classes="section")
        yield Sparkline([], id="hourly")
        yield Static(id="health-problems", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.poll()

    def action_refresh(self) -> None:
        self.poll()

    @work(thread=True, exclusive=True, group="health", exit_on_error=False)
    def poll(self) -> Health:
        return self.app.services.health()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "health" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        if event.state == WorkerState.SUCCESS:
            self.show(event.worker.result)
        else:
            self.query_one("#health-status", Static).update(Text(f" CHECK FAILED: {event.worker.error} ",
                                                                 style="bold reverse red"))
        self.set_timer(REFRESH_S, self.poll_if_shown)  # one shot, re-armed: never two checks at once

    def poll_if_shown(self) -> None:
        """Left for another mode: stop asking BuyPower; coming back asks again."""
        if self.is_current:
            self.poll()
        else:
            self._paused = True

    def on_screen_resume(self) -> None:
        if getattr(self, "_paused", False):
            self._paused = False
            self.poll()

    def show(self, h: Health) -> None:
        self.health = h
        run = self.app.run_control if self.app.run_active() else None
        client = run.client if run is not None else None
        breaker = client.breaker.snapshot().state.value if client is not None else h.breaker
        if client is not None:
            samples = [s.latency_ms for s in list(client.samples)[-120:]]
        else:
            if h.api_latency_ms is not None:
                self.latencies.append(h.api_latency_ms)
            samples = list(self.latencies)
        latency = f"{samples[-1]:.0f} ms" if samples else ""
        self.query_one("#health-status", Static).update(Text(f" {h.status.upper()} ",
                                                             style=STATUS_STYLE.get(h.status, "bold")))
        self.query_one("#health-facts", Static).update(facts(h, breaker, latency))
        self.query_one("#latency", Sparkline).data = samples or [0]
        self.query_one("#hourly", Sparkline).data = h.vends_by_hour or [0]
        self.query_one("#health-problems", Static).update(
            Text("\n".join(f"! {p}" for p in h.problems), style="yellow") if h.problems else "")
