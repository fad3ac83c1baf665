"""A batch written out: the full export, the landlord's (issue 14 §6), the invalid rows to fix.
The CLI's `export` and the results screen's `x` call these same methods. No textual here."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from buypower_tui.core import export, landlord_export
from buypower_tui.core.landlord_export import Layout


class Exports:
    """A mixin of Services (which gives `store`)."""

    def export_to_file(self, batch_id: int, path: Path, layout: Layout = "full") -> int:
        """The batch in `layout` ("full": every column we keep; "landlord": what a landlord or
        the tenants need, every row with a status) as CSV or XLSX by the suffix of `path`.
        FileError: another suffix (nothing written); OSError: a folder, a link, the disk, or a
        folder that is not there (paths.NoFolder: it is not made; nothing written)."""
        return landlord_export.write_export(self.store, batch_id, path, layout)

    def export_to_terminal(self, batch_id: int, out: IO[str], layout: Layout = "full") -> int:
        """CSV. Names come from a sheet and from BuyPower: no escape sequence reaches the terminal."""
        return landlord_export.export_to_terminal(self.store, batch_id, out, layout)

    def export_invalid(self, batch_id: int, path: Path) -> int:
        return export.export_invalid(self.store, batch_id, path)
