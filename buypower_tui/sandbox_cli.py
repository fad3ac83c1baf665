"""`buypower-tui sandbox`: run the fake BuyPower in the foreground, or list its fixture meters.

Kept apart from cli.py so the command can also run on its own (crash tests spawn it as a
process): `python -m buypower_tui.sandbox_cli --port 8765 --seed 1 --ledger ledger.db`.
The key comes from the environment or stdin, never argv (which `ps` shows).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from buypower_tui.core.sandbox.fixtures import FIXTURE_METERS, SandboxConfig

DEFAULT_PORT = 8765
EXIT_OK, EXIT_USAGE = 0, 2


def _delay(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of whole seconds") from None


def _codes(text: str) -> list[str]:
    return [c.strip().upper() for c in text.split(",") if c.strip()]


class _KeyInArgv(argparse.Action):
    """`--key VALUE` is gone (argv shows in `ps`): it is still parsed so that cmd_sandbox can
    refuse it in one line, and the value is dropped unread, never echoed."""

    def __init__(self, option_strings: Sequence[str], dest: str, **_: Any) -> None:
        super().__init__(option_strings, dest, nargs="?", default=False, help=argparse.SUPPRESS)

    def __call__(self, parser: object, namespace: argparse.Namespace, values: object, option: object = None) -> None:
        setattr(namespace, self.dest, True)


def add_sandbox_flags(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    d = SandboxConfig()
    p.add_argument("--list-meters", action="store_true", help="print the fixture meters and exit")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1, 0 for any free one "
                                                                  f"(default {DEFAULT_PORT})")
    p.add_argument("--key-stdin", action="store_true",
                   help="read the API key to accept from stdin (default: $BUYPOWER_SANDBOX_API_KEY or "
                        "$BUYPOWER_SANDBOX_KEY, else a generated one)")
    p.add_argument("--key", dest="key_in_argv", action=_KeyInArgv)
    p.add_argument("--ledger", metavar="FILE", help="keep orders, tokens and the wallet in this SQLite file, so a "
                                                    "restarted sandbox remembers them (default: in memory)")
    p.add_argument("--seed", help="make tokens, faults, customers and the generated key repeatable")
    p.add_argument("--wallet", default=str(d.wallet), metavar="NGN", help="wallet balance (default %(default)s)")
    p.add_argument("--latency-ms", type=float, default=d.latency_ms, help="added to every request")
    p.add_argument("--jitter-ms", type=float, default=d.jitter_ms, help="latency varies by up to this much")
    p.add_argument("--fail-rate", type=float, default=0.0, help="share of vends answered 500/502/503, half of "
                                                                "them before vending and half after")
    p.add_argument("--timeout-rate", type=float, default=0.0, help="share of vends held --hold-s before the answer")
    p.add_argument("--drop-rate", type=float, default=0.0, help="share of vends that close the socket unanswered")
    p.add_argument("--pending-rate", type=float, default=0.0, help="share of vends answered 202 (then success)")
    p.add_argument("--requery-cooldown-s", type=float, default=d.requery_cooldown_s,
                   help="429 for a requery sooner than this after the last one (0 disables; default %(default)s)")
    p.add_argument("--down", type=_codes, default=[], metavar="CODES",
                   help="comma-separated disco codes reported down (503)")
    p.add_argument("--delay", type=_delay, default=d.delay, metavar="S,S,…",
                   help="the `delay` list of a 202 (default 2,2,2)")
    p.add_argument("--pending-requeries", type=int, default=d.pending_requeries,
                   help="pending requery answers before a 202 vend ends (default %(default)s)")
    p.add_argument("--hold-s", type=float, default=d.hold_s, help="how long a held answer waits (default %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true", help="print one line per request on stderr")
    return p


def add_sandbox_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `sandbox` to the main parser's subcommands (cli.py wires it in)."""
    p = subparsers.add_parser("sandbox", help="run a fake BuyPower on 127.0.0.1 for tests and demos",
                              description="A fake BuyPower on 127.0.0.1 that speaks the API contract, with "
                                          "fixture meters, fault injection and a ledger at /__sandbox/ledger.")
    add_sandbox_flags(p)
    p.set_defaults(func=cmd_sandbox)
    return p


def config_from_args(args: argparse.Namespace, key: str | None = None) -> SandboxConfig:
    """The flags as a SandboxConfig (ValueError says which value is wrong)."""
    seed: int | str | None = args.seed
    if seed is not None and seed.lstrip("-").isdigit():
        seed = int(seed)
    return SandboxConfig(
        port=args.port, key=key, ledger=args.ledger, seed=seed, wallet=args.wallet, latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms, fail_rate=args.fail_rate, timeout_rate=args.timeout_rate,
        drop_rate=args.drop_rate, pending_rate=args.pending_rate, requery_cooldown_s=args.requery_cooldown_s,
        down=frozenset(args.down), delay=args.delay, pending_requeries=args.pending_requeries, hold_s=args.hold_s)


def meters_table() -> str:
    rows = [("meter", "disco", "vend type", "behaviour")]
    rows += [(c.meter, c.disco, c.vend_type, f"{c.behaviour}: {c.note}") for c in FIXTURE_METERS.values()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{m:<{widths[0]}}  {d:<{widths[1]}}  {v:<{widths[2]}}  {b}" for m, d, v, b in rows]
    lines.append("Any other meter of 6-13 digits is a generated customer of the disco asked for; "
                 "one ending in 0000 is not found.")
    return "\n".join(lines)


def cmd_sandbox(ctx: object, args: argparse.Namespace) -> int:
    """Serve until Ctrl+C (or SIGTERM); exit 0 after a clean shutdown."""
    if args.list_meters:
        print(meters_table(), flush=True)
        return EXIT_OK
    if args.key_in_argv:
        return _usage("--key VALUE is no longer accepted: a key on the command line shows in `ps`; "
                      "export BUYPOWER_SANDBOX_API_KEY or pipe the key to --key-stdin")
    key = _read_key() if args.key_stdin else None
    if key == "":
        return _usage("--key-stdin read no key; pipe it in, e.g. buypower-tui sandbox --key-stdin < keyfile")
    from buypower_tui.core.sandbox.server import SandboxServer  # http.server: only for this command

    try:
        server = SandboxServer(config_from_args(args, key))  # opens the ledger file, if any
    except ValueError as exc:
        return _usage(str(exc))
    config = server.config
    if args.verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger = logging.getLogger("buypower_tui.sandbox")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        server.start()
    except OSError as exc:
        server.close()
        return _usage(f"cannot listen on 127.0.0.1:{config.port}: {exc.strerror or exc}; "
                      "pick another --port (0 takes any free one)")
    print(f"BuyPower sandbox at {server.url}", flush=True)
    if server.key_generated:
        print(f"key: {server.key}", flush=True)
    if config.ledger:
        print(f"ledger: {config.ledger} ({server.ledger.order_count()} orders kept, wallet "
              f"{server.ledger.wallet:,.2f})", flush=True)
    shown = server.key if server.key_generated else "$KEY"
    print(f"try: curl -H 'Authorization: Bearer {shown}' {server.url}/discos/status   ledger: "
          f"{server.base}/__sandbox/ledger   Ctrl+C stops", flush=True)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        # SIGTERM too (`kill`), and SIGINT explicitly: a shell's background job inherits it ignored.
        previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while server.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("sandbox stopped", file=sys.stderr, flush=True)
    return EXIT_OK


def _usage(message: str) -> int:
    print(f"sandbox: {message}", file=sys.stderr, flush=True)
    return EXIT_USAGE


def _read_key() -> str:
    """The key from stdin: a hidden prompt on a terminal, else the first line."""
    try:
        if sys.stdin is not None and sys.stdin.isatty():
            return getpass.getpass("sandbox API key (input hidden): ").strip()
        return sys.stdin.readline().strip() if sys.stdin is not None else ""
    except EOFError:
        return ""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = add_sandbox_flags(argparse.ArgumentParser(prog="buypower-tui sandbox"))
    return cmd_sandbox(None, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
