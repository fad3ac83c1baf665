"""The application layer: every operation an operator can do, headless.

The CLI and the TUI call only this package (an import-linter contract keeps them off the
core's store, client, vending, recovery and lookup). A new operator action goes here, as a
method of `Services` (or of `Edits`, for a change to rows before they are paid); each face
then only asks and shows.

Names are imported on first use (PEP 562), so that the TUI's first frame does not wait for
httpx and the client, which only a lookup or a run needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "Context": "buypower_tui.services.context",
    "Services": "buypower_tui.services.operations", "NoKey": "buypower_tui.services.operations",
    "Resolved": "buypower_tui.services.operations", "SheetCheck": "buypower_tui.services.operations",
    "Change": "buypower_tui.services.edits", "Undone": "buypower_tui.services.edits",
    "StateConflict": "buypower_tui.services.edits",
    "Merged": "buypower_tui.core.merging", "FieldChange": "buypower_tui.core.merging",
    "Repeated": "buypower_tui.core.repeat", "AmountChange": "buypower_tui.core.repeat",
    "RecentlyPaid": "buypower_tui.core.repeat",
    "RunControl": "buypower_tui.services.running", "WAIT_PENDING_S": "buypower_tui.services.running",
    "RunCancelled": "buypower_tui.services.running",
    "PlanChanged": "buypower_tui.core.plan", "RunPlan": "buypower_tui.core.plan",
    "ApprovalRefused": "buypower_tui.core.approval", "Preparer": "buypower_tui.core.approval",
    "LookupReport": "buypower_tui.core.lookup", "RecoveryReport": "buypower_tui.core.recovery",
    "Progress": "buypower_tui.core.run_progress", "RunResult": "buypower_tui.core.run_progress",
    "MeterHistory": "buypower_tui.core.meter_history", "MeterRow": "buypower_tui.core.meter_history",
    "MonthReport": "buypower_tui.core.report", "Line": "buypower_tui.core.report",
    "BatchStats": "buypower_tui.core.store", "NotAStore": "buypower_tui.core.store",
    "is_store_file": "buypower_tui.core.store", "safe_url": "buypower_tui.core.store",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
