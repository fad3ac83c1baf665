"""`buypower-tui db status` and `db upgrade`: the store's schema revision, and bringing it to
the app's. Every other command upgrades the store when it opens it; these say what they do.
`db approval`: the rule the store keeps for every operator (core/approval.py)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from buypower_tui import services as layer
from buypower_tui.console import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, err, out
from buypower_tui.core.money_lock import sqlite_file
from buypower_tui.core.times import local_minute

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.services import Services


def cmd_db(svc: Services, args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url  # the schema machinery: only `db` needs it here

    from buypower_tui.core import schema

    ctx, where = svc.ctx, svc.database_shown
    if args.db_command == "approval":
        return _approval(svc, args.rule)
    if args.db_command == "upgrade":
        ctx.announce_upgrade = False  # said below, on stdout
        store = ctx.store  # opening it upgrades it (a copy first), or refuses one from the future
        done = store.upgraded
        out(done.describe() if done else f"the store is at schema revision {schema.head()}: nothing to do")
        return EXIT_OK
    try:
        path = sqlite_file(make_url(ctx.database_url))
        # what any other command would refuse (an empty file, another program's database) is
        # refused here too, rather than called "no store yet"
        revision = schema.revision_at(ctx.database_url) if path is None or layer.is_store_file(path) else None
    except Exception as exc:  # noqa: BLE001 - not readable: say so, the other commands explain more
        err(f"db status: cannot read the store {where}: {exc}")
        return EXIT_USAGE
    out(f"store        {where}")
    out(f"app's schema {schema.head()}")
    if revision is None:
        out(f"store's      none yet: the first command that uses it creates it at {schema.head()}")
        return EXIT_OK
    if not schema.known(revision):
        out(f"store's      {revision}: newer than this buypower-tui; upgrade buypower-tui to open it")
        return EXIT_USAGE
    steps = schema.pending(revision)
    out(f"store's      {revision}" + (" (up to date)" if not steps else ""))
    for step in steps:
        out(f"  pending    {step}: {schema.describe(step)}")
    if steps:
        out("`buypower-tui db upgrade` applies them (a copy of the store is kept first); any other command "
            "does the same when it opens the store")
    return EXIT_PROBLEMS if steps else EXIT_OK


def _approval(svc: Services, rule: str | None) -> int:
    """Show the store's own approval rule, or set it for every operator who opens the store."""
    from sqlalchemy.exc import DBAPIError

    from buypower_tui.core import approval

    store = svc.store
    if rule is not None:
        try:
            approval.set_stored_rule(store, rule)
        except DBAPIError as exc:  # PostgreSQL: this role was not granted UPDATE on store_setting
            said = (str(exc.orig).strip().splitlines() or ["refused"])[0]
            err(f"db approval: the database refused ({said}); the store's owner sets it, or grants your role "
                "INSERT, UPDATE, DELETE on store_setting. Nothing was changed.")
            return EXIT_USAGE
    stored = approval.stored_rule(store)
    out(f"store's rule        {stored[0]} (set by {stored[1]} on {local_minute(stored[2])})" if stored
        else "store's rule        not set (single)")
    out(f"this workstation's  {svc.settings.approval} (the setting `approval`)")
    effective = approval.effective_rule(store, svc.settings.approval)
    out(f"in force here       {effective}" + (": no operator who prepared a batch can confirm paying it"
                                              if effective == approval.TWO_PERSON else ""))
    for at, who, note in approval.rule_changes(store):
        out(f"  {local_minute(at)}  {who}: {note}")
    return EXIT_OK


def add_db_parser(sub: Any) -> list[argparse.ArgumentParser]:
    """The `db` command; returns its actions' parsers, which take the global options too."""
    p = sub.add_parser("db", help="the store's schema: its revision, and upgrading it")
    actions = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    p.set_defaults(func=cmd_db)
    rule = actions.add_parser("approval", help="the store's own approval rule, for every operator: show it, or set "
                                               "it (two-person: whoever prepared a batch cannot confirm paying it)")
    rule.add_argument("rule", nargs="?", choices=("single", "two-person"), help="set it to this")
    return [actions.add_parser("status", help="the store's revision and the app's, and the migrations pending"),
            actions.add_parser("upgrade", help="bring the store to the app's schema (a copy of it is kept first)"),
            rule]
