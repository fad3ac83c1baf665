"""The API key: its environment variable, then the OS keyring, then nothing. Never a file.

Keys are per environment end to end: `BUYPOWER_API_KEY` and the keyring's `live` entry
are the live key, `BUYPOWER_SANDBOX_API_KEY` and the `sandbox` entry the sandbox's, so a
sandbox URL (which may be anyone's server) is never handed the live key.

The key is held as a pydantic SecretStr everywhere, so a repr, a log line or a crash
report with locals shows `**********` instead of the key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from buypower_tui import APP_NAME

ENV_VAR = "BUYPOWER_API_KEY"  # the live key
ENV_VARS = {"live": ENV_VAR, "sandbox": "BUYPOWER_SANDBOX_API_KEY"}
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
    "       export {env_var}=<your key>\n"
    "The key is never written to a plain file (so do not install keyrings.alt,\n"
    "which would keep it in one).\n"
    "What the keyring library said: {reason}"
)



def _keyring() -> Any:
    """The keyring package, imported when a key is first asked for: it costs some 50 ms (it
    loads urllib and its D-Bus helpers) that the TUI's first frame does not wait for."""
    import keyring
    import keyring.backends.fail
    import keyring.backends.null
    import keyring.errors

    return keyring

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
            text = f"from the environment ({ENV_VARS[env]}), {tail(self.key)}"
        elif self.source == "keyring":
            text = f"from the OS keyring ({SERVICE}/{env}), {tail(self.key)}"
        else:
            text = f"not set for {env}: run `buypower-tui key set --env {env}` or set {ENV_VARS[env]}"
        if self.keyring_problem:
            text += f"\nkeyring unavailable: {self.keyring_problem}"
        return text


def tail(key: SecretStr | None) -> str:
    """"ending in …abcd"; a key too short to show 4 characters of safely shows none."""
    text = key.get_secret_value() if key else ""
    return f"ending in …{text[-4:]}" if len(text) >= 16 else f"{len(text)} characters (too short to show any)"


def no_keyring_help(env: str, reason: str) -> str:
    return NO_KEYRING_HELP.format(env_var=ENV_VARS[env], reason=reason)


def _unavailable(exc: Exception, env: str) -> KeyringUnavailable:
    reason = str(exc) or type(exc).__name__
    return KeyringUnavailable(no_keyring_help(env, reason), reason)


def env_key(env: str) -> str:
    """The key this environment's variable holds ("" when unset): never another environment's."""
    return os.environ.get(ENV_VARS[env], "").strip()


def resolve_key(env: str) -> KeyInfo:
    value = env_key(env)
    if value:
        return KeyInfo("env", SecretStr(value))
    kr = _keyring()
    try:
        stored = kr.get_password(SERVICE, env)
    except kr.errors.KeyringError as exc:
        return KeyInfo("none", None, str(exc) or type(exc).__name__)
    if stored:
        return KeyInfo("keyring", SecretStr(stored))
    return KeyInfo("none", None)


def keyring_problem(env: str) -> str | None:
    """Why the OS keyring cannot be used here, or None when it can (may block: use a thread)."""
    kr = _keyring()
    try:
        kr.get_password(SERVICE, env)
    except kr.errors.KeyringError as exc:
        return str(exc) or type(exc).__name__
    return None


def check_shape(key: str) -> str | None:
    if KEY_SHAPE.fullmatch(key):
        return None
    return (f"that does not look like a BuyPower key (expected 64 hexadecimal characters, "
            f"got {len(key)} characters); check you copied all of it, or use --force to store it anyway.")


def ensure_keyring(env: str) -> None:
    """Raise KeyringUnavailable now, before the operator types a key we cannot keep."""
    kr = _keyring()
    try:
        kr.get_password(SERVICE, env)
        _persistent()
    except kr.errors.KeyringError as exc:
        raise _unavailable(exc, env) from None


def _persistent() -> None:
    """Only a backend that keeps what it is given counts as a keyring."""
    kr = _keyring()
    backend = kr.get_keyring()
    if isinstance(backend, kr.backends.null.Keyring | kr.backends.fail.Keyring):
        raise kr.errors.NoKeyringError(f"the only keyring backend here is {backend}, which keeps nothing")


def store_key(env: str, key: SecretStr) -> None:
    kr = _keyring()
    try:
        _persistent()
        kr.set_password(SERVICE, env, key.get_secret_value())
    except kr.errors.KeyringError as exc:
        raise _unavailable(exc, env) from None


def clear_key(env: str) -> bool:
    """Remove the stored key; False when there was none."""
    kr = _keyring()
    try:
        kr.delete_password(SERVICE, env)
    except kr.errors.PasswordDeleteError:
        return False
    except kr.errors.KeyringError as exc:
        raise _unavailable(exc, env) from None
    return True
