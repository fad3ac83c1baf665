"""The API key and where everything lives. The key is shown by its last 4 characters only."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static

from buypower_tui import secrets
from buypower_tui.ui.widgets.top_bar import TopBar


def home_short(text: str) -> str:
    """~ for the home folder: shorter, and the same on every machine."""
    home = str(Path.home())
    return text.replace(home + "/", "~/") if home != "/" else text


class SettingsScreen(Screen):
    TITLE = "Settings and API key"
    HELP_TEXT = (
        "Where the API key comes from: its environment variable first (BUYPOWER_API_KEY for live, "
        "BUYPOWER_SANDBOX_API_KEY for the sandbox), then the OS "
        "keyring. A key typed here goes to the keyring, never to a file. Over SSH there is often no "
        "keyring: the screen then says so and shows the two ways out. Everything that needs no key "
        "(importing and fixing sheets) works without one.")
    BINDINGS = [
        Binding("escape", "back", "Back", id="settings.back"),
        Binding("ctrl+s", "save", "Save key", id="settings.save"),
        Binding("f8", "clear", "Clear stored key", id="settings.clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.force = False  # a second save stores a key of an unusual shape

    @property
    def services(self):
        return self.app.services

    def compose(self) -> ComposeResult:
        s = self.services
        yield TopBar("Settings and API key")
        with VerticalScroll(id="settings"):
            yield Label(f"API key ({s.mode})", classes="section")
            yield Static(id="key-source", markup=False)
            if s.demo is not None:
                yield Static("Demo: a key saved here goes to a keyring held in memory and is forgotten when "
                             "the demo ends (your own keyring is not touched). The demo pays its sandbox "
                             "with the sandbox's own key.", classes="dim", markup=False)
            yield Input(password=True, placeholder="paste the 64-character API key, then Enter", id="key-input")
            yield Static(id="key-message", classes="message", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Save to keyring (ctrl+s)", id="save", variant="primary", compact=True)
                yield Button("Clear stored key (F8)", id="clear", compact=True)
            yield Static(id="keyring-problem", markup=False)
            yield Label("Connection", classes="section")
            yield Static(self._facts([
                ("Mode", Text(s.mode.upper(), style="bold red" if s.mode == "live" else "bold green")),
                ("Base URL", s.settings.effective_base_url),
                ("Concurrency", str(s.settings.concurrency)),
                ("Rate limit", f"{s.settings.rate_limit} requests/s"),
            ]))
            yield Label("Files", classes="section")
            yield Static(self._facts([
                ("Config", home_short(str(s.paths.config_file))),
                ("Database", home_short(s.database_shown)),
                ("Logs", home_short(str(s.paths.log_file))),
            ]))
        yield Footer()

    @staticmethod
    def _facts(pairs: list[tuple[str, str | Text]]) -> Text:
        return Text("\n").join(Text.assemble((f"{k:<12}", "bold"), v) for k, v in pairs)

    def on_mount(self) -> None:
        self.show_key()
        self.query_one("#key-input", Input).focus()
        self.refresh_key()

    def show_key(self) -> None:
        s = self.services
        info, env, no_keyring = s.key_info, s.mode, s.keyring_problem is not None and s.demo is None
        if info.source == "env":
            text = Text.assemble(("from the environment ", "bold"),
                                 f"({secrets.ENV_VARS[env]}), {secrets.tail(info.key)}. "
                                 "It is used before the keyring while it is set.")
        elif info.source == "keyring":
            text = Text.assemble(("from the OS keyring ", "bold"),
                                 f"({secrets.SERVICE}/{env}), {secrets.tail(info.key)}")
        elif no_keyring:
            text = Text.assemble(("not set", "bold yellow"), f" for {env}, and this machine has no keyring to "
                                 "keep one in: see below.")
        else:
            text = Text.assemble(("not set", "bold yellow"),
                                 f" for {env}. Paste it below to keep it in the OS keyring.")
        self.query_one("#key-source", Static).update(text)
        problem = self.query_one("#keyring-problem", Static)
        problem.display = s.keyring_problem is not None
        if s.keyring_problem is not None:
            outside = "Outside the demo: " if s.demo is not None else ""
            problem.update(outside + secrets.no_keyring_help(env, s.keyring_problem))

    def message(self, text: str, style: str = "") -> None:
        box = self.query_one("#key-message", Static)
        box.update(Text(text, style=style))

    @work(thread=True, exclusive=True, group="keyring", exit_on_error=False)
    def refresh_key(self) -> None:
        """The keyring may block on D-Bus: never ask it on the UI thread."""
        self.services.refresh_key()
        self.app.call_from_thread(self.show_key)

    def on_input_changed(self) -> None:
        self.force = False

    def on_input_submitted(self) -> None:
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save() if event.button.id == "save" else self.action_clear()

    def action_save(self) -> None:
        value = self.query_one("#key-input", Input).value.strip()
        if not value:
            self.message("Paste the key into the box first.", "yellow")
            return
        problem = secrets.check_shape(value)
        if problem and not self.force:
            self.force = True
            self.message(problem.replace("use --force to store it anyway", "press ctrl+s again to store it anyway"),
                         "yellow")
            return
        self.keyring_call("store", value)

    def action_clear(self) -> None:
        self.keyring_call("clear", "")

    @work(thread=True, exclusive=True, group="keyring", exit_on_error=False)
    def keyring_call(self, what: str, value: str) -> None:
        env = self.services.mode
        try:
            if what == "store":
                secrets.store_key(env, secrets.SecretStr(value))
                result = (f"Stored in the OS keyring ({secrets.SERVICE}/{env}).", "green")
            else:
                found = secrets.clear_key(env)
                result = ("Removed the stored key." if found else "There was no stored key.", "green")
        except secrets.KeyringUnavailable as exc:
            result = ("The keyring could not be used: this machine has none that works. Nothing was "
                      "written anywhere; see below for the two ways out.", "bold red")
            self.services.keyring_problem = exc.reason
            self.app.call_from_thread(self.show_key)
            self.app.call_from_thread(self.message, *result)
            return
        self.services.refresh_key()
        self.app.call_from_thread(self.done, *result, what == "store")

    def done(self, text: str, style: str, stored: bool) -> None:
        if stored:
            self.query_one("#key-input", Input).value = ""
        self.show_key()
        self.message(text, style)

    def action_back(self) -> None:
        self.dismiss()
