"""A fake BuyPower for tests and demos: a real HTTP server on 127.0.0.1 with a ledger.

    with SandboxServer(SandboxConfig(seed=1, requery_cooldown_s=0)) as sandbox:
        ...  # talk to sandbox.url with "Authorization: Bearer " + sandbox.key
        sandbox.ledger.vends()  # every vend it performed, to prove exactly-once

SandboxConfig(ledger="ledger.db") keeps the ledger in that file, so that a new server (or
process) on it remembers every order, as BuyPower does after a restart.
"""

from buypower_tui.core.sandbox.fixtures import FIXTURE_METERS, SandboxConfig
from buypower_tui.core.sandbox.server import SandboxServer, signature

__all__ = ["FIXTURE_METERS", "SandboxConfig", "SandboxServer", "signature"]
