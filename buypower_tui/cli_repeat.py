"""`repeat BATCH`: this month's batch from last month's (the same recipients, checked again by
today's rules, nothing of the payments carried), with an optional change of every amount."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from buypower_tui import cli_args
from buypower_tui.console import EXIT_OK, EXIT_PROBLEMS, out
from buypower_tui.core.rules import duplicate_warning

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.services import Services


def cmd_repeat(svc: Services, args: argparse.Namespace) -> int:
    done = svc.repeat_batch(args.batch, name=args.name, amount=args.amount)
    out(done.line())
    out(f"name: {done.name}; mode: {svc.mode}")
    if done.change is not None:
        out(f"amounts: {done.change.describe()}")
    for row in svc.rows(done.batch_id, only_invalid=True) if done.invalid else ():
        out(f"row {row.row_number}: " + "; ".join(e["message"] for e in row.errors or ()))
    if done.recent is not None:  # the run asks only about the same meter AND amount: said here
        out("warning: " + done.recent.warning())
    duplicates = svc.duplicate_meters(done.batch_id)
    for meter, count in sorted(duplicates.items()):  # accepted last month, asked again now
        out("warning: " + duplicate_warning(meter, count)[1])
    out(f"next: `buypower-tui run {done.batch_id}` looks every meter up and pays after you confirm")
    return EXIT_PROBLEMS if done.invalid else EXIT_OK


def negative_changes(argv: list[str]) -> list[str]:
    """`--amount -5%` means `--amount=-5%` (argparse takes "-5%" for an option otherwise)."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if i and argv[i - 1] == "--amount" and arg.startswith(("-", "\u2212")) and arg.rstrip().endswith("%"):
            out[-1] = f"--amount={arg}"
        else:
            out.append(arg)
    return out


def add_repeat_parser(sub: Any) -> None:
    p = sub.add_parser("repeat", help="make a new batch with the recipients of an earlier one (next month's)")
    p.add_argument("batch", type=cli_args.batch_id, metavar="BATCH")
    p.add_argument("--name", help="the new batch's name (default: the old one's, '(from batch N)')")
    p.add_argument("--amount", metavar="NGN|±N%",
                   help="change every amount: 5000 pays that to every row; +10%% or -5%% changes each row's "
                        "amount, rounded half-up to the naira (default: the amounts as they were)")
    p.set_defaults(func=cmd_repeat)
