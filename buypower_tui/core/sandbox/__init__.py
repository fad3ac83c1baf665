"""A fake BuyPower for tests and demos: a real HTTP server on 127.0.0.1 with a ledger.

    with SandboxServer(SandboxConfig(seed=1, requery_cooldown_s=0)) as sandbox:
        ...  # talk to sandbox.url with "Authorization: Bearer " + sandbox.key
        sandbox.ledger.vends()  # every vend it performed, to prove exactly-once

SandboxConfig(ledger="ledger.db") keeps the ledger in that file, so that a new server (or
process) on it remembers every order, as BuyPower does after a restart.
"""


from __future__ import annotations

from importlib import import_module
from typing import Any

# Imported on first use (PEP 562): the CLI's parser needs SandboxConfig's defaults, and only
# `buypower-tui sandbox` and the demo need the server (http.server and the rest).
_WHERE = {"FIXTURE_METERS": "fixtures", "SandboxConfig": "fixtures", "SandboxServer": "server",
          "signature": "server"}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
