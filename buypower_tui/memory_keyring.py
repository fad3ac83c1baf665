"""A keyring held in memory: the demo's and the tests'."""

from __future__ import annotations

import keyring.backend
import keyring.errors


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that forgets everything when the process ends: the demo's, and the tests'.
    (keyring's own backend API, so the code that uses it is the code that runs for real.)"""

    priority = 1  # type: ignore[assignment]
    # Never a candidate when keyring picks a backend by itself: a machine without a real
    # keyring would get this one, and a stored key would be gone at exit. It is only ever
    # set on purpose (keyring.set_keyring), by the demo and the tests.
    viable = False

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
