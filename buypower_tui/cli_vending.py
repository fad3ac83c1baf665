"""The commands that move money or report on it: run, requery, retry, recover, export, health.

Every command that talks to BuyPower first runs recovery (requery what a crash left in
flight), so no new vend goes out while an older one is unsettled.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from decimal import Decimal
from typing import Any

from buypower_tui import cli_args
from buypower_tui.context import EXIT_INTERRUPTED, EXIT_OK, EXIT_PENDING, EXIT_PROBLEMS, EXIT_USAGE, Context, err, out
from buypower_tui.core import rows
from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.models import RowState
from buypower_tui.core.money_lock import MoneyLock
from buypower_tui.core.plan import PlanChanged, Policy, RunPlan, batch_problem, commit_plan, plan_run
from buypower_tui.core.recovery import RecoveryReport, recover, requery_now
from buypower_tui.core.requery_policy import RequeryPolicy
from buypower_tui.core.rules import naira
from buypower_tui.core.vending import Progress, Runner, RunOptions
from buypower_tui.settings import ConfigError

S = RowState


def _batch(ctx: Context, batch_id: int):
    problem = batch_problem(ctx.store, batch_id, ctx.settings.mode)
    if problem:
        raise ConfigError(problem)
    return ctx.store.batch(batch_id)


def _options(ctx: Context, wait_pending: float) -> RunOptions:
    s = ctx.settings
    return RunOptions(concurrency=s.concurrency, requery=RequeryPolicy.from_settings(s), wait_pending=wait_pending)


async def _recover(ctx: Context, client: BuyPowerClient) -> RecoveryReport:
    s = ctx.settings
    report = await recover(ctx.store, client, policy=RequeryPolicy.from_settings(s))
    _report_recovery(report)
    return report


def _report_recovery(report: RecoveryReport) -> None:
    if report.found_anything:
        err("recovery: " + report.describe())


class _ProgressPrinter:
    """A progress bar on a terminal, plain lines otherwise (cron, pipes)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = ""

    def __call__(self, p: Progress) -> None:
        c = p.counts
        done = sum(c.get(k, 0) for k in (S.SUCCESS, S.FAILED, S.NEEDS_REVIEW))
        eta = f" ETA {p.eta_s:.0f}s" if p.eta_s else ""
        line = (f"sent {p.sent}/{p.to_send}  success {c.get(S.SUCCESS, 0)}  failed {c.get(S.FAILED, 0)}  "
                f"pending {c.get(S.PENDING, 0)}  review {c.get(S.NEEDS_REVIEW, 0)}  {p.vends_per_s:.1f}/s{eta}"
                + (f"  [{p.waiting}]" if p.waiting else "") + ("  [paused]" if p.paused else ""))
        if self.tty:
            width = 20
            filled = int(width * (p.sent / p.to_send)) if p.to_send else width
            print(f"\r[{'#' * filled}{'.' * (width - filled)}] {line}\033[K", end="", file=sys.stderr, flush=True)
            if p.finished:
                print(file=sys.stderr)
        elif line != self.last and (p.finished or done % 10 == 0 or p.waiting):
            print(line, file=sys.stderr, flush=True)
            self.last = line  # only what was printed: the final line is never swallowed


async def _send(ctx: Context, client: BuyPowerClient, batch_id: int, wait_pending: float,
                balance: Decimal | None, only: frozenset[int]) -> int:
    """Pay `only` (the confirmed rows), requery the batch's pending rows, and report. The first
    Ctrl+C / SIGTERM stops after the rows in flight (each ends with its answer or, at the latest,
    at its deadline); a second one cuts them at once: their rows stay PENDING and are requeried
    later. Interrupted: exit 130."""
    runner = Runner(ctx.store, client, batch_id, _options(ctx, wait_pending), on_progress=_ProgressPrinter(),
                    only=only)
    loop = asyncio.get_running_loop()
    signals = 0

    def interrupted() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            runner.stop()
            err(f"\nstopping after the rows in flight (each ends within {client.deadline:.0f} s); "
                "press Ctrl+C again to cut them now (they stay PENDING and are requeried later, never paid twice)")
        else:
            runner.cut()
            err("\ncutting the requests in flight: their rows stay PENDING and are requeried by the next run "
                "or `buypower-tui requery` (they may have reached BuyPower, so they are never sent again "
                "under a new order)")

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted)
    try:
        result = await runner.run(balance)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if result.error:
        err(f"run stopped: {result.error}")
    if result.reconciliation:
        err(f"reconciliation warning: {result.reconciliation}")
    code = _summary(ctx, batch_id, stopped=runner.stopping and not result.error)
    return EXIT_INTERRUPTED if signals else code


def _summary(ctx: Context, batch_id: int, stopped: bool = False) -> int:
    st = ctx.store.stats(batch_id)
    c = st.by_state
    paid = Decimal(st.kobo_by_state.get(S.SUCCESS, 0)) / 100
    out(f"batch {batch_id}: " + ", ".join(f"{n} {k}" for k, n in sorted(c.items())) + f"; paid {naira(paid)}")
    if stopped:
        out("stopped after the rows in flight; run the same command again to go on")
    if c.get(S.FAILED) and (mine := rows.ids_in(ctx.store, batch_id, (), operators_failed=True)):
        out(f"  of the FAILED rows, {len(mine)} were marked failed by OPERATOR: BuyPower has not said so yet, "
            "and they are still requeried (`buypower-tui requery`)")
    if any(c.get(k) for k in (S.FAILED, S.LOOKUP_FAILED, S.NEEDS_REVIEW, S.INVALID, S.VALID)):
        return EXIT_PROBLEMS
    if any(c.get(k) for k in (S.PENDING, S.SENDING, S.APPROVED, S.NOT_SENT, S.VERIFIED)):
        return EXIT_PENDING
    return EXIT_OK


def _confirm(ctx: Context, count: int, total: Decimal, lock: MoneyLock) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        err("run: not confirmed; pass --yes to pay without a prompt (scripts, cron)")
        return False
    mode = ctx.settings.mode.upper()
    # asyncio's own Ctrl+C handler would only act once input() returns: while the question is
    # open, Ctrl+C interrupts it at once (exit 130, nothing paid).
    runner_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with lock.released():  # others may work while a person reads; the plan is checked again after
            answer = input(f"Pay {naira(total)} for {count} rows in {mode} mode? Type VEND to confirm: ")
    except EOFError:  # Ctrl+D
        answer = ""
    finally:
        signal.signal(signal.SIGINT, runner_handler)
    if answer.strip() != "VEND":
        err("run: not confirmed; nothing was paid")
        return False
    return True


def _show_plan(ctx: Context, plan: RunPlan) -> int | None:
    """Print what the run would do; an exit code when it must not go on."""
    _report_recovery(plan.recovery)
    for why in plan.not_retried:
        err(f"not retried: {why}")
    if plan.lookup is not None:
        lookup = plan.lookup
        err(f"lookup: {lookup.verified} verified, {lookup.not_found} not found, "
            f"{lookup.out_of_range} outside the meter's range"
            + "".join(f", {n} held ({d} down)" for d, n in lookup.held.items())
            + (f", {len(lookup.errors)} not checked (BuyPower did not answer)" if lookup.errors else ""))
    p, balance = plan.preflight, plan.balance
    err(f"pre-flight: {p.count} rows to send, total {naira(p.total)}, wallet {naira(balance)}"
        + (f", SHORTFALL {naira(p.shortfall)}" if p.shortfall else ""))
    for row_id in p.unaccepted + plan.accepted:  # every duplicate is named, accepted or not
        row = rows.get(ctx.store, row_id)
        why = "paid recently or still in flight elsewhere" if row_id in p.recent_duplicates else "twice in this batch"
        err(f"  row {row.row_number}: meter {row.meter} {naira(row.amount)} — {why}"
            + ("" if row_id in p.unaccepted else " (accepted: it will be paid)"))
    if p.unaccepted:
        err("run: duplicates must be accepted explicitly: pass --accept-duplicates")
        return EXIT_USAGE
    if p.left_out_by_max_total:
        err(f"  {len(p.left_out_by_max_total)} rows left out to stay within --max-total")
    if p.shortfall:
        err("run: the wallet cannot pay for all rows; top it up, or limit the run with --max-total")
        return EXIT_USAGE
    return None


async def _run(ctx: Context, args: argparse.Namespace, lock: MoneyLock, retrying: tuple[int, ...] = ()) -> int:
    """Plan, show, confirm, check again, and only then change anything and pay. With
    `retrying` (FAILED rows chosen by hand) nothing but those rows and rows already approved
    is sent."""
    batch = _batch(ctx, args.batch)
    policy = Policy.from_settings(ctx.settings)
    async with ctx.client() as client:
        for _ in range(3):
            plan = await plan_run(ctx.store, client, batch.id, policy, accepting=args.accept_duplicates,
                                  retrying=retrying, max_total=args.max_total)
            refused = _show_plan(ctx, plan)
            if refused is not None:
                return refused
            if not plan.preflight.count:
                if rows.ids_in(ctx.store, batch.id, (S.PENDING,)):  # nothing new to pay: settle what is pending
                    err("run: nothing new to send; requerying the pending rows")
                    return await _send(ctx, client, batch.id, args.wait_pending, plan.balance, frozenset())
                err("run: nothing to send")
                return EXIT_USAGE if plan.not_retried else _summary(ctx, batch.id)
            if not args.yes and not _confirm(ctx, plan.preflight.count, plan.preflight.total, lock):
                return EXIT_USAGE
            try:  # confirmed: now, and only now, record the choices and approve
                retried, balance = await commit_plan(ctx.store, client, plan, policy)
            except PlanChanged as exc:
                err(f"nothing was paid: since the plan was shown, {'; '.join(exc.changes)}. Checking again…")
                continue
            for row in retried:
                err(f"row {row.row_number}: retried under a new orderId (BuyPower said the earlier order failed)")
            return await _send(ctx, client, batch.id, args.wait_pending, balance, plan.to_send)
    err("run: the plan kept changing while it was checked; nothing was paid. Run the command again.")
    return EXIT_USAGE


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.money_lock() as lock:
        return asyncio.run(_run(ctx, args, lock))


def cmd_retry(ctx: Context, args: argparse.Namespace) -> int:
    batch = _batch(ctx, args.batch)
    failed = {r.row_number: r for r in ctx.store.rows(batch.id) if r.state == S.FAILED}
    chosen = list(failed) if args.failed else args.rows
    missing = [n for n in chosen if n not in failed]
    if missing:
        err(f"retry: sheet rows {', '.join(map(str, missing))} are not FAILED; only FAILED rows are retried")
        return EXIT_USAGE
    if not chosen:
        err("retry: no FAILED rows")
        return EXIT_OK
    args.max_total = None
    with ctx.money_lock() as lock:
        return asyncio.run(_run(ctx, args, lock, retrying=tuple(failed[n].id for n in chosen)))


def cmd_requery(ctx: Context, args: argparse.Namespace) -> int:
    async def go() -> int:
        async with ctx.client() as client:
            report = await _recover(ctx, client)
            s = ctx.settings  # asked by hand: parked rows too
            already = len(report.not_reached)
            await requery_now(ctx.store, client, rows.ids_in(ctx.store, args.batch, (S.NEEDS_REVIEW,)), report,
                              policy=RequeryPolicy.from_settings(s))
            for problem in report.not_reached[already:]:
                err(f"not requeried: {problem}")
            out("requeried: " + (", ".join(f"{n} now {k}" for k, n in sorted(report.requeried.items())) or "nothing"))
            if rows.ids_in(ctx.store, args.batch, (S.NEEDS_REVIEW,)):
                return EXIT_PROBLEMS
            # rows the operator marked failed are still pending at BuyPower until it answers
            unsettled = rows.ids_in(ctx.store, args.batch, (S.PENDING, S.SENDING), operators_failed=True)
            return EXIT_PENDING if unsettled else EXIT_OK
    with ctx.money_lock():
        return asyncio.run(go())


def cmd_recover(ctx: Context, args: argparse.Namespace) -> int:
    async def go() -> int:
        async with ctx.client() as client:
            report = await _recover(ctx, client)
        out("recovery: " + report.describe())
        for batch_id, st in sorted(report.stats.items()):
            out(f"batch {batch_id}: " + ", ".join(f"{n} {k}" for k, n in sorted(st.by_state.items())))
        return EXIT_OK if report.clean else EXIT_PROBLEMS
    with ctx.money_lock():
        return asyncio.run(go())


def add_vending_parsers(sub: Any) -> None:
    p = sub.add_parser("run", help="look up, check and pay a batch (asks to confirm unless --yes)")
    p.add_argument("batch", type=cli_args.batch_id, metavar="BATCH")
    p.add_argument("--yes", action="store_true", help="pay without asking (scripts, cron)")
    p.add_argument("--accept-duplicates", action="store_true", help="pay rows flagged as duplicates too")
    p.add_argument("--max-total", type=cli_args.naira_amount, metavar="NGN",
                   help="send only rows that fit in this total")
    p.add_argument("--wait-pending", type=cli_args.seconds, default=300.0, metavar="SECONDS",
                   help="after sending, keep requerying pending rows this long (default %(default)s)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("retry", help="pay FAILED rows again, under new orderIds")
    p.add_argument("batch", type=cli_args.batch_id, metavar="BATCH")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--rows", type=cli_args.row_list, metavar="3,7", help="sheet row numbers")
    which.add_argument("--failed", action="store_true", help="every FAILED row")
    p.add_argument("--yes", action="store_true", help="pay without asking")
    p.add_argument("--accept-duplicates", action="store_true", help="pay rows flagged as duplicates too")
    p.add_argument("--wait-pending", type=cli_args.seconds, default=300.0, metavar="SECONDS")
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("requery", help="ask BuyPower now about pending and needs-review rows")
    p.add_argument("batch", type=cli_args.batch_id, nargs="?", metavar="BATCH")
    p.set_defaults(func=cmd_requery)

    p = sub.add_parser("recover", help="settle what a crash left in flight, and report orphans")
    p.set_defaults(func=cmd_recover)
