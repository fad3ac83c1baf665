"""The commands that settle rows by hand or report on them: resolve, close, export, health."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buypower_tui import cli_args
from buypower_tui.console import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, err, out
from buypower_tui.core import tokens
from buypower_tui.core.money_lock import MoneyLockBusy
from buypower_tui.core.rules import naira
from buypower_tui.core.sheets import FileError
from buypower_tui.core.values import RowState, percent
from buypower_tui.paths import NoFolder
from buypower_tui.settings import ConfigError

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.services import Services

S = RowState


def cmd_resolve(svc: Services, args: argparse.Namespace) -> int:
    """The CLI face of the failed/pending view's `m`: settle NEEDS_REVIEW rows by hand."""
    batch = svc.existing_batch(args.batch)
    by_number = {r.row_number: r for r in svc.rows(batch.id) if r.row_number in args.rows}
    problems = [f"sheet row {n} is not in batch {batch.id}" for n in args.rows if n not in by_number]
    problems += [f"row {r.row_number} is {r.state}; only NEEDS_REVIEW rows are resolved by hand"
                 for r in by_number.values() if r.state != S.NEEDS_REVIEW]
    if not args.note.strip():
        problems.append("--note must say how you know (e.g. 'BuyPower support, ticket 123')")
    if args.token and (args.as_ != "paid" or len(args.rows) != 1 or tokens.token_problem(args.token)):
        problems.append(tokens.token_problem(args.token) or "--token goes with --as paid and one row")
    if problems or not args.rows:
        err("resolve: " + ("; ".join(problems) or "no rows given"))
        return EXIT_USAGE
    state = S.SUCCESS if args.as_ == "paid" else S.FAILED
    try:
        result = svc.resolve([r.id for r in by_number.values()], args.note, state, args.token)
    except MoneyLockBusy as exc:  # a run or a requery asks BuyPower about rows of this store
        err(f"resolve: {exc}; nothing was resolved")
        return EXIT_USAGE
    numbers = {r.id: r.row_number for r in by_number.values()}
    for row_id, problem in result.refused.items():  # settled meanwhile, or a token is there already
        err(f"resolve: row {numbers[row_id]} not changed: {problem}")
    for row in result.done:
        out(f"row {row.row_number}: " + ("recorded as paid" if state == S.SUCCESS else
            f"marked failed by OPERATOR; its order {row.order_id} is still requeried until BuyPower "
            "answers, and it can be retried once BuyPower says that order failed"))
    return EXIT_USAGE if result.refused else EXIT_OK


def cmd_close(svc: Services, args: argparse.Namespace) -> int:
    """The CLI face of the failed/pending view's `k`: close rows that cannot be paid (or, with
    --reopen, open them again), all or none: 0 done, 2 refused with nothing changed."""
    from buypower_tui.services import StateConflict  # the application layer's refusal

    name = "close --reopen" if args.reopen else "close"
    batch = svc.existing_batch(args.batch)
    by_number = {r.row_number: r for r in svc.rows(batch.id) if r.row_number in args.rows}
    problems = [f"sheet row {n} is not in batch {batch.id}" for n in dict.fromkeys(args.rows) if n not in by_number]
    if not args.note.strip():
        problems.append("--note must say why (e.g. 'meter under maintenance; the tenant pays at the office')")
    if problems or not args.rows:
        err(f"{name}: " + ("; ".join(problems) or "no rows given") + "; nothing was changed")
        return EXIT_USAGE
    ids = [by_number[n].id for n in dict.fromkeys(args.rows)]
    try:
        done = svc.reopen_rows(ids, args.note) if args.reopen else svc.close_rows(ids, args.note)
    except StateConflict as exc:
        for problem in getattr(exc, "problems", None) or [str(exc)]:
            err(f"{name}: {problem}")
        err(f"{name}: nothing was changed (all the rows given, or none)")
        return EXIT_USAGE
    except MoneyLockBusy as exc:  # a run or a requery asks BuyPower about rows of this store
        err(f"{name}: {exc}; nothing was {'reopened' if args.reopen else 'closed'}")
        return EXIT_USAGE
    for row in done:
        out(f"row {row.row_number}: " + (f"reopened as {row.state}" if args.reopen else
                                          f"closed ({row.provider_message}); it will not be paid"))
    if svc.stats(batch.id).done:
        out(f"batch {batch.id} is done: every row is paid or closed")
    return EXIT_OK


def cmd_export(svc: Services, args: argparse.Namespace) -> int:
    batch = svc.existing_batch(args.batch)
    if args.output is not None and not args.output.strip():  # an unset $OUT in a script: not "to the terminal"
        raise ConfigError("export: -o was given an empty file name; nothing was written (leave -o out to print)")
    if args.invalid and args.layout != "full":
        raise ConfigError("export: --invalid and --for landlord are two different exports; give one of them. "
                          "Nothing was written.")
    if args.invalid and args.output is None:
        raise ConfigError("export --invalid writes a file to fix in a spreadsheet: give -o FILE.csv")
    if args.output is None:
        svc.export_to_terminal(batch.id, sys.stdout, args.layout)  # CSV
        return EXIT_OK
    path = Path(args.output)
    try:
        if args.invalid:
            if path.suffix.lower() != ".csv" and not path.is_dir():
                raise FileError(f"{path}: the rows to fix are written as CSV (merged back with `import FILE --into "
                                f"{batch.id}`); name it e.g. {path.stem or 'to-fix'}.csv. Nothing was written.")
            n = svc.export_invalid(batch.id, path)
        else:
            n = svc.export_to_file(batch.id, path, args.layout)
    except (FileError, NoFolder) as exc:  # NoFolder: "there is no folder X; nothing was written"
        raise ConfigError(f"export: {exc}") from None
    except OSError as exc:  # a folder, a link, a device, no room, no permission: nothing was written
        reason = f"{args.output}: {exc.strerror}" if exc.strerror else str(exc)
        raise ConfigError(f"export: nothing was written: {reason}") from None
    if args.invalid:
        err(f"exported {n} invalid rows to {args.output}; fix them, then "
            f"`buypower-tui import {args.output} --into {batch.id}`")
    else:
        landlord = " for the landlord (every row of the sheet, with its status)" if args.layout == "landlord" else ""
        err(f"exported {n} rows{landlord} to {args.output}")
    return EXIT_OK


def cmd_health(svc: Services, args: argparse.Namespace) -> int:
    """0 healthy, 1 degraded, 2 down; --quiet: the code alone (cli.main keeps both streams shut
    whatever happens, for `health --quiet || alert`)."""
    h = svc.health()
    if args.json:
        out(json.dumps(h.as_json()))
    elif not args.quiet:
        _print_health(h)
    return {"healthy": EXIT_OK, "degraded": EXIT_PROBLEMS}.get(h.status, EXIT_USAGE)


def _print_health(h: Any) -> None:
    out(f"status: {h.status.upper()}")
    out(f"  store        {'ok' if h.store_ok else 'DOWN'}")
    out(f"  api key      {h.key_source}")
    latency = f" ({h.api_latency_ms} ms)" if h.api_latency_ms is not None else ""
    reach = {True: f"reachable{latency}", False: "UNREACHABLE", None: "not asked"}
    out(f"  BuyPower     {reach[h.api_reachable]}; breaker {h.breaker}")
    out(f"  discos       {len(h.discos_up)} up" + (f"; down: {', '.join(h.discos_down)}" if h.discos_down else ""))
    out(f"  wallet       {naira(h.wallet) if h.wallet is not None else 'unknown'}")
    out(f"  rows         {h.pending} pending, {h.needs_review} need review")
    rate = percent(h.success_rate_24h) if h.success_rate_24h is not None else "no vends"
    out(f"  last 24 h    {h.vends_24h} paid; success rate {rate}")
    out(f"  machine      {h.free_disk_mb:.0f} MB disk free; {h.memory_mb:.0f} MB memory")
    for problem in h.problems:
        out(f"  ! {problem}")


def add_record_parsers(sub: Any) -> None:
    p = sub.add_parser("resolve", help="settle NEEDS_REVIEW rows by hand, with a note: paid or failed")
    p.add_argument("batch", type=cli_args.batch_id, metavar="BATCH")
    p.add_argument("--rows", type=cli_args.row_list, required=True, metavar="3,7", help="sheet row numbers")
    p.add_argument("--as", dest="as_", choices=("paid", "failed"), required=True,
                   help="paid: the customer has a token; failed: BuyPower's support says no money was taken "
                        "(the row is still requeried until BuyPower itself answers)")
    p.add_argument("--note", required=True, help="how you know, kept in the row's history")
    p.add_argument("--token", help="the token BuyPower's support gave, for one row resolved as paid")
    p.set_defaults(func=cmd_resolve)

    p = sub.add_parser("close", help="close FAILED, LOOKUP_FAILED or INVALID rows that will not be paid, with a note "
                                     "(--reopen: open them again)")
    p.add_argument("batch", type=cli_args.batch_id, metavar="BATCH")
    p.add_argument("--rows", type=cli_args.row_list, required=True, metavar="3,7", help="sheet row numbers")
    p.add_argument("--note", required=True, help="why, kept in the row's history")
    p.add_argument("--reopen", action="store_true",
                   help="open closed rows again: each goes back to the state it had before it was closed")
    p.set_defaults(func=cmd_close)

    p = sub.add_parser("export", help="write a batch with its tokens as CSV or XLSX (--for landlord: a sheet to hand "
                                      "on to a landlord or the tenants)")
    p.add_argument("batch", type=cli_args.batch_id, metavar="BATCH")
    p.add_argument("-o", "--output", metavar="FILE.xlsx|FILE.csv",
                   help="file to write, XLSX or CSV by its suffix (.xlsx keeps meters, tokens, receipts and phones as "
                        "text, so a spreadsheet keeps their leading zeros); default: CSV to stdout")
    p.add_argument("--for", dest="layout", choices=("full", "landlord"), default="full",
                   help="landlord: what a landlord or the tenants need, nothing of ours: every row of the sheet, in "
                        "sheet order, with the sheet's name and phone, every other column the import kept (e.g. Flat, "
                        "Block), meter, amount, the tokens in the order they are typed (KCT1, KCT2, token, bonus), "
                        "units, receipt, when it was paid (local time with its UTC offset) and a status; a row not "
                        "paid is listed too, says so (failed, closed, not settled yet, not paid yet) and has no "
                        "token. full (the default): every column we keep, with orderIds, the debt, BuyPower's times "
                        "and messages")
    p.add_argument("--invalid", action="store_true",
                   help="only the invalid rows, as the sheet had them, with a 'row' column and their problems: "
                        "fix them in a spreadsheet and merge them back with `import FILE --into BATCH`")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("health", help="is the store, the key, BuyPower and the machine all right?")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true")
    shown.add_argument("-q", "--quiet", action="store_true",
                       help="print nothing: the exit code alone (0 healthy, 1 degraded, 2 down)")
    p.set_defaults(func=cmd_health)
