"""The API key: `BUYPOWER_API_KEY`, then the OS keyring, then nothing. Never a file.

The key is held as a pydantic SecretStr everywhere, so a repr, a log line or a crash
report with locals shows `**********` instead of the key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import keyring
import keyring.backend
import keyring.errors
from pydantic import SecretStr

from buypower_tui import APP_NAME

ENV_VAR = "BUYPOWER_API_KEY"
SERVICE = APP_NAME
ENVIRONMENTS = ("live", "sandbox")
KEY_SHAPE = re.compile(r"[0-9a-fA-F]{64}")

# Short lines: this is shown in an 80-column terminal, and the commands must copy whole.
NO_KEYRING_HELP = (
    "No usable OS keyring was found on this machine. Two ways out:\n"
    "  1. a Secret Service session (gnome-keyring), started by hand:\n"
    "       dbus-run-session -- bash\n"
    "       echo -n | gnome-keyring-daemon --unlock\n"
    "       buypower-tui key set\n"
    "     then run buypower-tui from that same shell;\n"
    "  2. or the key in the environment of the process:\n"
    f"       export {ENV_VAR}=<your key>\n"
    "The key is never written to a plain file (so do not install keyrings.alt,\n"
    "which would keep it in one).\n"
    "What the keyring library said: {reason}"
)


class KeyringUnavailable(Exception):
    """No keyring backend works here; str() explains the two ways out, `reason` says why."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class KeyInfo:
    source: str  # "env", "keyring" or "none"
    key: SecretStr | None
    keyring_problem: str | None = None  # why the keyring could not be asked, if it could not

    def describe(self, env: str) -> str:
        if self.source == "env":
            text = f"from the environment ({ENV_VAR}), {tail(self.key)}"
        elif self.source == "keyring":
            text = f"from the OS keyring ({SERVICE}/{env}), {tail(self.key)}"
        else:
            text = f"not set for {env}: run `buypower-tui key set --env {env}` or set {ENV_VAR}"
        if self.keyring_problem:
            text += f"\nkeyring unavailable: {self.keyring_problem}"
        return text


def tail(key: SecretStr | None) -> str:
    """"ending in …abcd"; a key too short to show 4 characters of safely shows none."""
    text = key.get_secret_value() if key else ""
    return f"ending in …{text[-4:]}" if len(text) >= 16 else f"{len(text)} characters (too short to show any)"


def _unavailable(exc: Exception) -> KeyringUnavailable:
    reason = str(exc) or type(exc).__name__
    return KeyringUnavailable(NO_KEYRING_HELP.format(reason=reason), reason)


def resolve_key(env: str) -> KeyInfo:
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        return KeyInfo("env", SecretStr(value))
    try:
        stored = keyring.get_password(SERVICE, env)
    except keyring.errors.KeyringError as exc:
        return KeyInfo("none", None, str(exc) or type(exc).__name__)
    if stored:
        return KeyInfo("keyring", SecretStr(stored))
    return KeyInfo("none", None)


def keyring_problem(env: str) -> str | None:
    """Why the OS keyring cannot be used here, or None when it can (may block: use a thread)."""
    try:
        keyring.get_password(SERVICE, env)
    except keyring.errors.KeyringError as exc:
        return str(exc) or type(exc).__name__
    return None


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that forgets everything when the process ends: the demo's, and the tests'.
    (keyring's own backend API, so the code that uses it is the code that runs for real.)"""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.passwords[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("no such password") from None


def check_shape(key: str) -> str | None:
    if KEY_SHAPE.fullmatch(key):
        return None
    return (f"that does not look like a BuyPower key (expected 64 hexadecimal characters, "
            f"got {len(key)} characters); check you copied all of it, or use --force to store it anyway.")


def ensure_keyring(env: str) -> None:
    """Raise KeyringUnavailable now, before the operator types a key we cannot keep."""
    try:
        keyring.get_password(SERVICE, env)
    except keyring.errors.KeyringError as exc:
        raise _unavailable(exc) from None


def store_key(env: str, key: SecretStr) -> None:
    try:
        keyring.set_password(SERVICE, env, key.get_secret_value())
    except keyring.errors.KeyringError as exc:
        raise _unavailable(exc) from None


def clear_key(env: str) -> bool:
    """Remove the stored key; False when there was none."""
    try:
        keyring.delete_password(SERVICE, env)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as exc:
        raise _unavailable(exc) from None
    return True
