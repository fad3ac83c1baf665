"""The commands that move money or report on it: run, requery, retry, recover, export, health.

Every command that talks to BuyPower first runs recovery (requery what a crash left in
flight), so no new vend goes out while an older one is unsettled.
"""

from __future__ import annotations

import argparse
import signal
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from buypower_tui import cli_args
from buypower_tui import services as layer
from buypower_tui.console import EXIT_INTERRUPTED, EXIT_OK, EXIT_PENDING, EXIT_PROBLEMS, EXIT_USAGE, err, out
from buypower_tui.core.money_lock import MoneyLockBusy
from buypower_tui.core.rules import naira
from buypower_tui.core.run_progress import StoreUnavailable
from buypower_tui.core.values import RowState

if TYPE_CHECKING:
    from buypower_tui.core.preflight import Preflight
    from buypower_tui.services import Progress, RecoveryReport, RunPlan, Services

S = RowState


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


def _send(svc: Services, plan: RunPlan, wait_pending: float, *, settle_only: bool = False) -> int:
    """Approve and pay the confirmed rows, requery the batch's pending rows, and report
    (PlanChanged when the plan no longer holds: nothing was paid). The first Ctrl+C / SIGTERM
    stops after the rows in flight (each ends with its answer or, at the latest, at its
    deadline); a second one cuts them at once: their rows stay PENDING and are requeried
    later. Interrupted: exit 130."""
    control = layer.RunControl(svc, plan, _ProgressPrinter(), wait_pending, settle_only=settle_only)
    signals = 0

    def interrupted(*_: object) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            control.stop()
            within = f" (each ends within {control.deadline:.0f} s)" if control.deadline else ""
            err(f"\nstopping after the rows in flight{within}; press Ctrl+C again to cut them now (they stay "
                "PENDING and are requeried later, never paid twice)")
        else:
            control.cut()
            err("\ncutting the requests in flight: their rows stay PENDING and are requeried by the next run "
                "or `buypower-tui requery` (they may have reached BuyPower, so they are never sent again "
                "under a new order)")

    # Handlers of our own (not asyncio's): the run's loop is told through RunControl.
    previous = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = control.run()
    except (layer.RunCancelled, layer.PlanChanged) as exc:
        if not signals and isinstance(exc, layer.PlanChanged):
            raise  # shown, and asked again
        err(f"run: {layer.RunCancelled()}")  # a stop asked for while the plan was checked is never undone
        return EXIT_INTERRUPTED
    except StoreUnavailable as exc:  # the database stopped answering: sending stopped at once (vending.py)
        if exc.result.reconciliation:
            err(f"reconciliation warning: {exc.result.reconciliation}")
        err(f"run stopped: {exc}")  # no summary: it would ask the database that just stopped answering
        return EXIT_INTERRUPTED if signals else EXIT_USAGE
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for row in control.retried:
        err(f"row {row.row_number}: retried under a new orderId (BuyPower said the earlier order failed)")
    if result.error:
        err(f"run stopped: {result.error}")
    if result.reconciliation:
        err(f"reconciliation warning: {result.reconciliation}")
    code = _summary(svc, plan.batch_id, stopped=control.stopping and not result.error)
    return EXIT_INTERRUPTED if signals else code


def _summary(svc: Services, batch_id: int, stopped: bool = False) -> int:
    st = svc.stats(batch_id)
    c = st.by_state
    paid = Decimal(st.kobo_by_state.get(S.SUCCESS, 0)) / 100
    out(f"batch {batch_id}: " + ", ".join(f"{n} {k}" for k, n in sorted(c.items())) + f"; paid {naira(paid)}")
    if stopped and any(c.get(k) for k in (S.APPROVED, S.NOT_SENT, S.PENDING, S.SENDING)):  # else: all was done
        out("stopped after the rows in flight; run the same command again to go on")
    if st.done and st.closed:  # closed rows will not be paid: the batch is done all the same (exit 0)
        out(f"batch {batch_id} is done: every row is paid or closed ({st.closed} closed)")
    elif any(c.get(k) for k in (S.FAILED, S.LOOKUP_FAILED, S.INVALID)):
        out(f"  a row that will never be paid can be closed with a note: `buypower-tui close {batch_id} "
            "--rows N --note TEXT`")
    if c.get(S.FAILED) and (mine := svc.operators_failed(batch_id)):
        out(f"  of the FAILED rows, {len(mine)} were marked failed by OPERATOR: BuyPower has not said so yet, "
            "and they are still requeried (`buypower-tui requery`)")
    if any(c.get(k) for k in (S.FAILED, S.LOOKUP_FAILED, S.NEEDS_REVIEW, S.INVALID, S.VALID)):
        return EXIT_PROBLEMS
    if any(c.get(k) for k in (S.PENDING, S.SENDING, S.APPROVED, S.NOT_SENT, S.VERIFIED)):
        return EXIT_PENDING
    return EXIT_OK


def _confirm(svc: Services, count: int, total: Decimal, lock) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        err("run: not confirmed; pass --yes to pay without a prompt (scripts, cron)")
        return False
    mode = svc.mode.upper()
    # asyncio's own Ctrl+C handler would only act once input() returns: while the question is
    # open, Ctrl+C interrupts it at once (exit 130, nothing paid).
    runner_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    question = f"Pay {naira(total)} for {count} rows in {mode} mode? Type VEND to confirm: "
    try:
        with lock.released():  # others may work while a person reads; the plan is checked again after
            # "vend" is a slip, not a no: say what is needed and ask again; any other answer is a no
            while (answer := input(question).strip()) != "VEND" and answer.upper() == "VEND":
                err(f"run: {answer!r} is not VEND. Type VEND in capitals to pay; anything else (or Enter, "
                    "or Ctrl+C) pays nothing.")
    except EOFError:  # Ctrl+D
        answer = ""
    finally:
        signal.signal(signal.SIGINT, runner_handler)
    if answer != "VEND":
        err("run: not confirmed; nothing was paid")
        return False
    return True


def _show_plan(svc: Services, plan: RunPlan) -> int | None:
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
    if svc.two_person and (refused := _two_person(svc, plan)) is not None:  # approval = "two-person"
        return refused
    if plan.skipped:
        err(f"  {len(plan.skipped)} duplicate row{'s' if len(plan.skipped) != 1 else ''} left unpaid "
            f"(--skip-duplicates), {naira(p.amount_of(plan.skipped))}:")
    for row_id in p.unaccepted + plan.accepted:  # every duplicate is named, accepted or not
        row = svc.row(row_id)
        why = p.why.get(row_id) or ("paid recently or still in flight elsewhere" if row_id in p.recent_duplicates
                                    else "twice in this batch")
        err(f"  row {row.row_number}: meter {row.meter} {naira(row.amount)} — {why}"
            + (" (left unpaid)" if plan.skipping and row_id in p.unaccepted
               else "" if row_id in p.unaccepted else " (accepted: it will be paid)"))
    if p.name_differs:  # a warning only: they are paid
        n, s = len(p.name_differs), "s" if len(p.name_differs) != 1 else ""
        shown = ", ".join(str(p.seen[i][0]) for i in p.name_differs[:10]) + (" …" if n > 10 else "")
        err(f"  {n} row{s}: the name differs from BuyPower's (sheet row{s} {shown}); paid as they are")
    if p.unaccepted and not plan.skipping:
        err("run: duplicates must be decided explicitly: pass --skip-duplicates to pay every other row and "
            "leave these unpaid, or --accept-duplicates to pay them too")
        return EXIT_USAGE
    if left := p.left_out_by_max_total:
        err(f"  {len(left)} row{'s' if len(left) != 1 else ''} left out to stay within --max-total "
            f"{naira(plan.max_total)}: {naira(p.amount_of(left))}, sheet {p.sheet_rows(left)} "
            f"({_how_left_out_stay(p, left)})")
    if p.shortfall:
        err("run: the wallet cannot pay for all rows; top it up, or pay the rows that fit with "
            f"--max-total {p.balance:.2f}")
        return EXIT_USAGE
    if (after := plan.low_wallet_after) is not None:
        err(f"warning: after this run the wallet would hold {naira(after)}, below the low-wallet threshold "
            f"{naira(plan.low_wallet_threshold)} (setting low_wallet_threshold); top it up soon")
    return None


def _two_person(svc: Services, plan: RunPlan) -> int | None:
    """Who prepared the batch; exit 2 (before VEND is asked, --yes or not) when it is this operator."""
    who = svc.preparer(plan.batch_id)
    err(f"  prepared by {who.describe() if who else 'nobody recorded'}; approval = \"two-person\": you are "
        f"{svc.operator}")
    if problem := svc.approval_problem(plan):
        err(f"run: {problem}")
        return EXIT_USAGE
    return None


def _how_left_out_stay(p: Preflight, left: list[int]) -> str:
    """What becomes of the rows left out by --max-total, each named with its real state: a row
    with an orderId from an earlier run (APPROVED, NOT_SENT) is not VERIFIED, and keeps it."""
    with_order = p.left_out_with_order()
    if not with_order:
        return "they stay VERIFIED, marked left out, and are paid by a later run"
    said = []
    if verified := [i for i in left if i not in with_order]:
        said.append(f"{p.sheet_rows(verified)} {'stays' if len(verified) == 1 else 'stay'} VERIFIED")
    for state in dict.fromkeys(p.state[i] for i in with_order):
        ids = [i for i in with_order if p.state[i] == state]
        one = len(ids) == 1
        said.append(f"{p.sheet_rows(ids)} {'stays' if one else 'stay'} {state} with the orderId "
                    f"{'it has' if one else 'they have'}"
                    + ("" if state == S.FAILED else
                       f" (never sent: a later run sends {'it' if one else 'them'} under that same orderId)"))
    return "; ".join(said) + "; all marked left out"


def _nothing_sent(svc: Services, plan: RunPlan) -> None:
    """A run that sends nothing still notes the rows it leaves out, and says so."""
    p, why = plan.preflight, []
    if plan.skipped:
        why.append("the duplicates left unpaid")
    if p.left_out_by_max_total:
        why.append(f"the rows over --max-total {naira(plan.max_total)}")
    if not why:
        return
    noted = svc.record_left_out(plan)  # not a FAILED row chosen for a retry: it keeps BuyPower's answer
    err(f"run: nothing to send but {' and '.join(why)}"
        + (f"; {noted} row{'s' if noted != 1 else ''} marked left out (their status, export and history say why)"
           if noted else ""))


def _run(svc: Services, args: argparse.Namespace, retrying: tuple[int, ...] = ()) -> int:
    """Plan, show, confirm, check again, and only then change anything and pay. With
    `retrying` (FAILED rows chosen by hand) nothing but those rows and rows already approved
    is sent."""
    try:
        with svc.money(args.batch) as lock:  # held from the plan to the end of the run, but not while a person reads
            return _plan_and_pay(svc, args, lock, retrying)
    except MoneyLockBusy as exc:
        err(f"run: {exc}; nothing was paid")
        return EXIT_USAGE
    except layer.ApprovalRefused as exc:  # checked again when the run approves: the batch was edited meanwhile
        err(f"run: {exc}")
        return EXIT_USAGE


def _plan_and_pay(svc: Services, args: argparse.Namespace, lock, retrying: tuple[int, ...]) -> int:
    for _ in range(3):
        plan = svc.plan(args.batch, accepting=args.accept_duplicates, retrying=retrying, max_total=args.max_total)
        plan.skipping = args.skip_duplicates
        refused = _show_plan(svc, plan)
        if refused is not None:
            return refused
        if not plan.preflight.count:
            _nothing_sent(svc, plan)  # the rows left out say so, as they do when a run sends
            if svc.pending(plan.batch_id):  # nothing new to pay: settle what is pending
                err("run: nothing new to send; requerying the pending rows")
                return _left(plan, _send(svc, plan, args.wait_pending, settle_only=True))
            if not (plan.skipped or plan.preflight.left_out_by_max_total):
                err("run: nothing to send")
            return EXIT_USAGE if plan.not_retried else _left(plan, _summary(svc, plan.batch_id))
        if not args.yes and not _confirm(svc, plan.preflight.count, plan.preflight.total, lock):
            return EXIT_USAGE
        try:  # confirmed: now, and only now, record the choices, approve and pay
            return _left(plan, _send(svc, plan, args.wait_pending))
        except layer.PlanChanged as exc:
            err(f"nothing was paid: since the plan was shown, {'; '.join(exc.changes)}. Checking again…")
    err("run: the plan kept changing while it was checked; nothing was paid. Run the command again.")
    return EXIT_USAGE


def _left(plan: RunPlan, code: int) -> int:
    """A run that left rows unpaid on purpose (skipped duplicates, rows over --max-total) says so
    with exit 3 at least (1, a row FAILED, and 130 outrank it)."""
    if code == EXIT_OK and (plan.skipped or plan.preflight.left_out_by_max_total):
        return EXIT_PENDING
    return code


def cmd_run(svc: Services, args: argparse.Namespace) -> int:
    return _run(svc, args)


def cmd_retry(svc: Services, args: argparse.Namespace) -> int:
    batch = svc.payable_batch(args.batch)
    failed = {r.row_number: r for r in svc.rows(batch.id) if r.state == S.FAILED}
    chosen = list(failed) if args.failed else args.rows
    missing = [n for n in chosen if n not in failed]
    if missing:
        err(f"retry: sheet rows {', '.join(map(str, missing))} are not FAILED; only FAILED rows are retried")
        return EXIT_USAGE
    if not chosen:
        err("retry: no FAILED rows")
        return EXIT_OK
    args.max_total = None
    return _run(svc, args, retrying=tuple(failed[n].id for n in chosen))


def cmd_requery(svc: Services, args: argparse.Namespace) -> int:
    if args.batch is not None:
        svc.existing_batch(args.batch)
    svc.require_key()
    report, already = svc.requery_batch(args.batch, on_recovered=_report_recovery)
    for problem in report.not_reached[already:]:
        err(f"not requeried: {problem}")
    out("requeried: " + (", ".join(f"{n} now {k}" for k, n in sorted(report.requeried.items())) or "nothing"))
    review, unsettled = svc.unsettled(args.batch)
    if review:
        return EXIT_PROBLEMS
    # rows the operator marked failed are still pending at BuyPower until it answers
    return EXIT_PENDING if unsettled else EXIT_OK


def cmd_recover(svc: Services, args: argparse.Namespace) -> int:
    svc.require_key()
    report = svc.recover()
    out("recovery: " + report.describe())  # the command's own answer: once, on stdout
    for batch_id, st in sorted(report.stats.items()):
        out(f"batch {batch_id}: " + ", ".join(f"{n} {k}" for k, n in sorted(st.by_state.items())))
    return EXIT_OK if report.clean else EXIT_PROBLEMS


def _duplicate_flags(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument("--accept-duplicates", action="store_true",
                       help="pay rows flagged as duplicates too (also meters paid the same amount days ago)")
    which.add_argument("--skip-duplicates", action="store_true",
                       help="pay every other row and leave the duplicates unpaid, listed with why (exit 3); "
                            "the choice for cron")


def add_vending_parsers(sub: Any) -> None:
    p = sub.add_parser("run", help="look up, check and pay a batch (asks to confirm unless --yes)")
    p.add_argument("batch", type=cli_args.batch_id, metavar="BATCH")
    p.add_argument("--yes", action="store_true", help="pay without asking (scripts, cron)")
    _duplicate_flags(p)
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
    _duplicate_flags(p)
    p.add_argument("--wait-pending", type=cli_args.seconds, default=300.0, metavar="SECONDS")
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("requery", help="ask BuyPower now about pending and needs-review rows")
    p.add_argument("batch", type=cli_args.batch_id, nargs="?", metavar="BATCH")
    p.set_defaults(func=cmd_requery)

    p = sub.add_parser("recover", help="settle what a crash left in flight, and report orphans")
    p.set_defaults(func=cmd_recover)
