"""The commands around a sheet beyond a plain import: `template` writes one to fill in, and
`import FILE --into N` merges a corrected invalid-rows export back into its batch."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buypower_tui import cli_args
from buypower_tui import services as layer
from buypower_tui.console import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, err, out
from buypower_tui.core.rules import escape_hidden

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.services import Merged, Services


def cmd_template(svc: Services, args: argparse.Namespace) -> int:
    path = svc.write_template(Path(args.file), force=args.force)
    out(f"wrote a recipients template to {path.resolve()}")
    out("fill in one row per meter (replace the example row), then `buypower-tui import "
        f"{escape_hidden(str(args.file))}`")
    return EXIT_OK


def print_merge(merged: Merged) -> None:
    lines = merged.lines()
    if merged.still_invalid:
        lines[-1] += f" (`buypower-tui export {merged.batch_id} --invalid -o FILE.csv` writes them again)"
    for line in lines:
        out(line)


def cmd_merge(svc: Services, args: argparse.Namespace) -> int:
    if args.name is not None:
        err("import: --name makes a new batch; --into merges into an existing one. Give one of them.")
        return EXIT_USAGE
    try:
        merged = svc.merge_sheet(args.into, Path(args.file), sheet=args.sheet,
                                 fix_leading_zeros=args.fix_leading_zeros)
    except layer.StateConflict as exc:
        err(f"import --into {args.into}: nothing was changed: {exc}. Merge the file again.")
        return EXIT_USAGE
    print_merge(merged)
    return EXIT_PROBLEMS if merged.problems else EXIT_OK


def add_into_option(p: argparse.ArgumentParser) -> None:
    """`import FILE --into N`: the import parser's command becomes the merge when --into is
    given (its own command stays about new batches). Call after its set_defaults."""
    plain = p.get_default("func")

    def import_or_merge(svc: Services, args: argparse.Namespace) -> int:
        return (plain if args.into is None else cmd_merge)(svc, args)

    p.add_argument("--into", type=cli_args.batch_id, metavar="N",
                   help="merge a corrected invalid-rows export (its 'row' column) into batch N: its rows are "
                        "changed in place and re-checked; rows changed since the export or with an orderId are refused")
    p.set_defaults(func=import_or_merge)


def add_template_parser(sub: Any) -> None:
    p = sub.add_parser("template", help="write an empty recipients sheet (.xlsx or .csv) to fill in")
    p.add_argument("file", metavar="FILE.xlsx|FILE.csv")
    p.add_argument("--force", action="store_true", help="replace the file if it exists")
    p.set_defaults(func=cmd_template)
