"""Command line: the same core functions the TUI calls, for scripts, cron and tests.

Exit codes: 0 ok; 1 the command ran but found problems (invalid rows); 2 bad input,
configuration or environment (unreadable file, bad config, no keyring); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from buypower_tui import __version__, secrets
from buypower_tui import services as layer
from buypower_tui.cli_db import add_db_parser
from buypower_tui.cli_history import add_history_parser
from buypower_tui.cli_metrics import add_metrics_parser
from buypower_tui.cli_records import add_record_parsers
from buypower_tui.cli_repeat import add_repeat_parser, negative_changes
from buypower_tui.cli_report import add_report_parser
from buypower_tui.cli_sheets import add_into_option, add_template_parser
from buypower_tui.cli_vending import add_vending_parsers
from buypower_tui.console import EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, err, out
from buypower_tui.core.breaker import BreakerOpen
from buypower_tui.core.money_lock import MoneyLockError
from buypower_tui.core.outcomes import ApiError, ConfigurationError
from buypower_tui.core.rules import FIELDS, duplicate_warning, escape_hidden, naira
from buypower_tui.core.sheets import FileError
from buypower_tui.core.times import local_iso, local_minute, offset_now
from buypower_tui.core.values import RowState
from buypower_tui.logs import disk_problem, log_record_written, setup_logging
from buypower_tui.paths import AppPaths
from buypower_tui.sandbox_cli import add_sandbox_parser
from buypower_tui.services.context import Context
from buypower_tui.settings import (
    FIELDS as SETTING_FIELDS,
)
from buypower_tui.settings import (
    NOT_SETTINGS,
    RETIRED,
    ConfigError,
    env_name,
)

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.core.importing import ImportReport
    from buypower_tui.core.models import Recipient
    from buypower_tui.services import BatchStats, Services

log = logging.getLogger("buypower_tui.cli")



# -- validate / import / batches ---------------------------------------------------------

def row_json(row: Recipient, duplicates: dict[str, int]) -> dict[str, Any]:
    bad = {e["field"] for e in row.errors or ()}
    values: dict[str, Any] = {}
    for f in FIELDS:
        if f in bad:  # show what the sheet said, so it can be found and fixed
            values[f] = getattr(row, f"{f}_raw") or None
        elif f == "amount":  # None when the whole row was unreadable
            values[f] = "" if row.amount is None else f"{row.amount:.2f}"
        else:
            values[f] = getattr(row, f)
    warnings = list(row.warnings or ())
    if row.meter in duplicates:
        field, message = duplicate_warning(row.meter, duplicates[row.meter])
        warnings.append({"field": field, "message": message})
    return {"row": row.row_number, "valid": not row.errors, "errors": row.errors or [],
            "warnings": warnings, "values": values}


def summary_line(report: ImportReport) -> str:
    sheet = f" (sheet {escape_hidden(repr(report.sheet))})" if report.sheet is not None else ""
    return (f"{report.source}{sheet}: {report.rows} rows, {report.valid} valid, {report.invalid} invalid, "
            f"{report.warnings} warnings")


def other_sheets_line(report: ImportReport) -> str | None:
    """The workbook's sheets that were not read (None for a CSV or a one-sheet workbook)."""
    others = [escape_hidden(repr(name)) + (" (hidden)" if name in report.hidden_sheets else "")
              for name in report.sheets if name != report.sheet]
    if not others:
        return None
    return f"other sheets in the workbook, not read: {', '.join(others)}; read one with --sheet NAME"


def column_lines(report: ImportReport) -> list[str]:
    """The sheet's other columns: kept as they are with each row (for the export and reports);
    past the most that are kept, ignored."""
    lines = [f"kept columns: {', '.join(report.kept_columns)}"] if report.kept_columns else []
    if ignored := report.ignored_columns:
        more = f" and {len(ignored) - 10} more" if len(ignored) > 10 else ""
        lines.append(f"ignored columns (only the first {len(report.kept_columns)} other columns are kept): "
                     f"{', '.join(ignored[:10])}{more}")
    return lines


def print_problems(report: ImportReport, rows: Callable[[bool], Iterable[Recipient]],
                   duplicates: dict[str, int]) -> None:
    """What the import found, after its summary line; `rows(only_invalid)` reads the batch."""
    for notice in report.notices:  # what the file as a whole says: once, before any row
        out(f"note: {notice}")
    if other := other_sheets_line(report):
        out(other)
    for line in column_lines(report):
        out(line)
    if report.blank_rows:
        out(f"skipped {report.blank_rows} blank rows")
    for row in rows(True):
        out(f"row {row.row_number}: " + "; ".join(e["message"] for e in row.errors or ()))
    if report.flagged:  # rows with a warning of their own, e.g. a hidden character in a name
        for row in rows(False):
            for w in row.warnings or ():
                out(f"warning: row {row.row_number}: {w['message']}")
    for meter, count in sorted(duplicates.items()):
        out("warning: " + duplicate_warning(meter, count)[1])


def cmd_validate(svc: Services, args: argparse.Namespace) -> int:
    if args.sample == bool(args.file):
        err("validate: give a FILE to check, or --sample for the example shipped with buypower-tui.")
        return EXIT_USAGE
    if args.sample:
        from importlib import resources  # only for --sample

        source = resources.as_file(resources.files("buypower_tui") / "data" / "sample-recipients.csv")
    else:
        source = nullcontext(Path(args.file))
    with source as path, svc.check_sheet(path, args.sheet) as checked:
        report = checked.report
        if args.json:  # stdout holds one object per row; what the file says goes first on stderr
            err(json.dumps({"file": report.source, "notices": report.notices}, ensure_ascii=False))
            duplicates = checked.duplicates
            for row in checked.rows():
                out(json.dumps(row_json(row, duplicates), ensure_ascii=False))
            err(summary_line(report))
            if other := other_sheets_line(report):
                err(other)
            for line in column_lines(report):
                err(line)
        else:
            out(summary_line(report))
            print_problems(report, checked.rows, checked.duplicates)
    return EXIT_PROBLEMS if report.invalid else EXIT_OK


def cmd_import(svc: Services, args: argparse.Namespace) -> int:
    report = svc.import_sheet(Path(args.file), name=args.name, sheet=args.sheet,
                              fix_leading_zeros=args.fix_leading_zeros)
    log.info("%s: batch %s from %s, %d rows (%d invalid)", args.command, report.batch_id,
             report.source, report.rows, report.invalid)
    out(f"batch {report.batch_id} created ({svc.mode})")
    out(summary_line(report))
    print_problems(report, lambda only_invalid: svc.rows(report.batch_id, only_invalid=only_invalid),
                   svc.duplicate_meters(report.batch_id))
    return EXIT_PROBLEMS if report.invalid else EXIT_OK


def cmd_batches(svc: Services, args: argparse.Namespace) -> int:
    batches = svc.batches()
    stats = svc.stats_for(b.id for b in batches)
    if args.json:
        for b in batches:
            st = stats[b.id]
            out(json.dumps({"id": b.id, "name": b.name, "mode": b.mode, "source_file": b.source_file,
                            "created_at": local_iso(b.created_at), "import_complete": b.imported_at is not None,
                            "rows": st.rows,
                            "valid": st.valid, "invalid": st.invalid, "warnings": st.warnings,
                            "by_state": st.by_state, "total_valid": f"{st.total_valid:.2f}", "done": st.done,
                            "paid": f"{st.total_paid:.2f}"},
                           ensure_ascii=False))
        return EXIT_OK
    if not batches:
        out("no batches yet: create one with `buypower-tui import FILE`")
        return EXIT_OK
    offset = offset_now()  # local time, the offset named once in the header
    out(f"{'id':>4}  {'name':<24} {'mode':<7} {f'created ({offset})':<16} {'rows':>6} {'valid':>6} "
        f"{'invalid':>7} {'to pay / paid':>23}  states")
    for b in batches:
        st = stats[b.id]
        states = ", ".join(f"{k} {v}" for k, v in sorted(st.by_state.items()))
        if st.done:
            states = "DONE (every row paid or closed); " + states
        if b.imported_at is None:
            states = "IMPORT INCOMPLETE (cut short: import the file again); " + states
        out(f"{b.id:>4}  {b.name[:24]:<24} {b.mode:<7} {local_minute(b.created_at, header_offset=offset):<16} "
            f"{st.rows:>6} "
            f"{st.valid:>6} {st.invalid:>7} {to_pay_or_paid(st):>23}  {states}")
    return EXIT_OK


def to_pay_or_paid(st: BatchStats) -> str:
    """What is left to pay; once nothing is, what was paid (the batches screen's "To pay/paid"):
    a paid batch read "₦0.00" as if it had cost nothing."""
    if st.valid or not st.by_state.get(RowState.SUCCESS):
        return f"{naira(st.total_valid)} to pay"
    return f"{naira(st.total_paid)} paid  "


# -- config / key ----------------------------------------------------------------------------

def cmd_config(svc: Services, args: argparse.Namespace) -> int:
    ctx, p = svc.ctx, svc.paths
    out("files:")
    absent = "" if ctx.loaded.config_file.exists() else "  (not present: defaults apply)"
    out(f"  config file  {ctx.loaded.config_file}{absent}")
    out(f"  database     {svc.database_shown}")
    out(f"  log file     {p.log_file}")
    out(f"  data folder  {p.data_dir}")
    out(f"  cache folder {p.cache_dir}")
    out("settings (value, then where it comes from):")
    for name, value in ctx.settings.model_dump().items():
        shown = "" if value is None else svc.database_shown if name == "database_url" else value
        out(f"  {name:<26} {shown!s:<30} {ctx.loaded.sources[name]}")
    out(f"  {'base URL in use':<26} {ctx.settings.effective_base_url}")
    out(f"api key: {ctx.key().describe(ctx.settings.mode)}")
    unknown = unknown_env_vars()
    if unknown:
        out(f"warning: these BUYPOWER_* variables are not settings and are ignored: {', '.join(unknown)}")
    return EXIT_OK


def unknown_env_vars() -> list[str]:
    known = {env_name(f) for f in (*SETTING_FIELDS, *RETIRED)} | NOT_SETTINGS  # retired ones have their own notice
    return sorted(v for v in os.environ if v.startswith("BUYPOWER_") and v not in known)


def _read_key(env: str) -> str:
    try:
        if sys.stdin is not None and sys.stdin.isatty():
            return getpass.getpass(f"BuyPower API key for {env} (input hidden): ")
        return sys.stdin.readline() if sys.stdin is not None else ""
    except EOFError:  # Ctrl+D at the prompt
        return ""


def cmd_key(svc: Services, args: argparse.Namespace) -> int:
    env = args.env or svc.mode
    if args.key_command == "status":
        out(f"{env} key: {svc.ctx.key(env).describe(env)}")
        return EXIT_OK
    if args.key_command == "clear":
        removed = secrets.clear_key(env)
        log.info("key clear --env %s: %s", env, "removed" if removed else "none stored")
        out(f"removed the {env} key from the keyring" if removed else f"no {env} key was stored in the keyring")
        if secrets.env_key(env):
            out(f"note: {secrets.ENV_VARS[env]} is still set in this environment and takes precedence")
        return EXIT_OK
    secrets.ensure_keyring(env)
    value = SecretStr(_read_key(env).strip())
    if not value.get_secret_value():
        err("key set: no key was given; paste it at the prompt or pipe it on stdin.")
        return EXIT_USAGE
    problem = secrets.check_shape(value.get_secret_value())
    if problem and not args.force:
        err(f"key set: {problem}")
        return EXIT_USAGE
    secrets.store_key(env, value)
    log.info("key set --env %s: stored in the keyring%s", env, " (shape check skipped)" if problem else "")
    out(f"stored the {env} key in the OS keyring ({secrets.tail(value)})")
    return EXIT_OK


# -- parser and entry --------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="buypower-tui",
        description="Pay prepaid electricity for many meters at once through BuyPower. "
                    "Without a command, opens the terminal UI.",
        epilog="Exit codes: 0 ok, 1 problems found (invalid, failed or needs-review rows), 2 bad input, "
               "set-up or refusal, 3 rows still pending (run again or requery later), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"buypower-tui {__version__}")
    parser.add_argument("--demo", action="store_true",
                        help="open the terminal UI on a demo: a sandbox BuyPower in this process, a "
                             "temporary home and a sample batch (no key, no network, nothing of yours touched)")
    parser.add_argument("--demo-seed", type=int, default=1, help=argparse.SUPPRESS)
    _global_options(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check a CSV/XLSX sheet of recipients without storing it")
    p.add_argument("file", nargs="?", metavar="FILE")
    p.add_argument("--sample", action="store_true", help="check the example sheet shipped with buypower-tui")
    p.add_argument("--json", action="store_true", help="one JSON object per data row on stdout")
    p.add_argument("--sheet", metavar="NAME", help="XLSX sheet to read (default: the first)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("import", help="create a batch from a CSV/XLSX sheet")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--name", help="batch name (default: the file name)")
    p.add_argument("--sheet", metavar="NAME", help="XLSX sheet to read (default: the first)")
    p.add_argument("--fix-leading-zeros", action="store_true",
                   help="a meter stored as a number one digit short gets its leading 0 back (with a warning) "
                        "instead of an error that proposes it")
    p.set_defaults(func=cmd_import)
    add_into_option(p)
    add_template_parser(sub)

    p = sub.add_parser("batches", help="list batches with counts and totals")
    p.add_argument("--json", action="store_true", help="one JSON object per batch")
    p.set_defaults(func=cmd_batches)

    p = sub.add_parser("config", help="show where files live and the effective settings")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("key", help="manage the API key in the OS keyring")
    keys = p.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    for action, text in (("set", "store a key (read from a hidden prompt or stdin, never argv)"),
                         ("status", "say where the key comes from (last 4 characters only)"),
                         ("clear", "remove the stored key")):
        k = keys.add_parser(action, help=text)
        k.add_argument("--env", choices=secrets.ENVIRONMENTS, help="which key (default: the current mode)")
        if action == "set":
            k.add_argument("--force", action="store_true", help="store a key that is not 64 hex characters")
    p.set_defaults(func=cmd_key)
    add_vending_parsers(sub)
    add_record_parsers(sub)
    add_repeat_parser(sub)
    add_history_parser(sub)
    add_report_parser(sub)
    add_metrics_parser(sub)
    db_actions = add_db_parser(sub)
    add_sandbox_parser(sub)
    for name, command in sub.choices.items():  # `buypower-tui export 1 --sandbox URL` works too
        if name != "sandbox":  # it has its own --port, --key…: the server, not a client of one
            _global_options(command, argparse.SUPPRESS)
    for action in db_actions:  # `buypower-tui db status --db URL`
        _global_options(action, argparse.SUPPRESS)
    return parser


def _global_options(p: argparse.ArgumentParser, default: object) -> None:
    """The options every command takes, before or after the command's name. After it, their
    default is SUPPRESS so that an option given before the name is not reset."""
    p.add_argument("--config", metavar="PATH", default=default, help="config file to read instead of the default")
    p.add_argument("--db", metavar="URL", default=default,
                   help="SQLAlchemy database URL (default: SQLite in the data folder)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--sandbox", dest="mode", action="store_const", const="sandbox", default=default,
                      help="use BuyPower's sandbox; `--sandbox URL` uses the sandbox at URL "
                           "(e.g. http://127.0.0.1:8765/v2 from `buypower-tui sandbox`)")
    mode.add_argument("--live", dest="mode", action="store_const", const="live", default=default,
                      help="use live BuyPower (the default)")
    p.add_argument("--base-url", metavar="URL", default=default, help="talk to this BuyPower URL")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], default=default)


def _sandbox_url(argv: list[str]) -> list[str]:
    """`--sandbox URL` and `--sandbox=URL` mean `--sandbox --base-url URL`. Done before
    argparse, because an optional value would swallow the command name after a bare --sandbox."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg.startswith("--sandbox="):
            out += ["--sandbox", "--base-url", arg.split("=", 1)[1]]
        elif i and argv[i - 1] == "--sandbox" and arg.startswith(("http://", "https://")):
            out += ["--base-url", arg]
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(negative_changes(_sandbox_url(list(sys.argv[1:] if argv is None else argv))))
    if getattr(args, "quiet", False) and not extra:  # `health --quiet`: the exit code alone, whatever happens
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
            return _main(parser, args, extra, crashed=EXIT_USAGE)  # a crash is no "degraded" (1)
    return _main(parser, args, extra)


def _main(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str], *,
          crashed: int = EXIT_PROBLEMS) -> int:
    if extra and args.command == "key":  # never echo what may be a key typed on the command line
        err("key: unexpected arguments (not shown). The key is never taken from the command line: "
            "type it at the hidden prompt or pipe it on stdin.")
        return EXIT_USAGE
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.demo and args.command is not None:
        parser.error("--demo opens the terminal UI; it takes no command")
    svc: Services | None = None
    try:
        if args.command is None:
            from buypower_tui.ui.tui import run_tui  # textual is imported only for the TUI

            return run_tui(args)
        svc = layer.Services(Context(args), face="cli")
        return args.func(svc, args)
    except (ConfigError, FileError, secrets.KeyringUnavailable, ConfigurationError, MoneyLockError) as exc:
        err(str(exc))
        return EXIT_USAGE
    except (ApiError, BreakerOpen) as exc:  # BuyPower unreachable: nothing was decided
        err(f"buypower-tui {args.command}: no usable answer from BuyPower: {exc}. Check the network and "
            "`buypower-tui health`; run the command again later.")
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into `head` and the like: not an error of ours
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return EXIT_OK
    except KeyboardInterrupt:
        err("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # never a traceback in front of the operator; the log has it, masked
        if (type(exc).__name__ == "OperationalError" and type(exc).__module__.startswith("sqlalchemy")
                and not disk_problem(exc)):
            # the database server stopped answering (a restart, the network): not a bug of ours;
            # whatever was in flight is requeried by `recover` (a run says what it stopped with)
            said = (str(getattr(exc, "orig", exc)).strip().splitlines() or ["no answer"])[0]
            err(f"buypower-tui {args.command}: the database did not answer ({said}); nothing more was done. "
                "Check it (`buypower-tui health`) and run the command again; "
                "`buypower-tui recover` settles any row left in flight.")
            return EXIT_USAGE
        paths = svc.paths if svc else AppPaths.resolve()
        where: Path | None = paths.log_file
        try:
            if svc is None:  # failed before logging was set up: set it up to record this
                setup_logging(where)
            if not log_record_written(lambda: log.exception("unexpected error in %s", args.command or "the TUI")):
                where = None
        except OSError:
            where = None
        name = f"buypower-tui {args.command}" if args.command else "buypower-tui"
        full = disk_problem(exc)
        if full:  # the disk, not a bug: say what to do, and never point at a log that was not written
            err(f"{name}: cannot write to the disk ({full}); it may be full. Free some space on the disk that "
                f"holds {paths.data_dir} (and the database, if --db is elsewhere), then run the command again."
                + (f" Details are in {where}." if where else ""))
            return EXIT_USAGE
        err(f"{name}: unexpected error" + (f"; details are in {where}" if where else
                                           " (the log could not be written either)"))
        return crashed
    finally:
        if svc is not None:
            svc.close()
