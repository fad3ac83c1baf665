"""`metrics [-o FILE]`: the health facts for Prometheus (node_exporter's textfile collector).

The exit code is `health`'s (0 healthy, 1 degraded, 2 down), and the page is written down too:
a monitoring system has to see the outage, not a file left over from before it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buypower_tui.console import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, out
from buypower_tui.settings import ConfigError

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.services import Services


def cmd_metrics(svc: Services, args: argparse.Namespace) -> int:
    from buypower_tui.core import metrics  # only when this command runs

    if args.output is not None and not args.output.strip():  # an unset $OUT in a unit: not "to the terminal"
        raise ConfigError("metrics: -o was given an empty file name; nothing was written (leave -o out to print)")
    h, text = svc.metrics()
    if args.output is None:
        out(text.rstrip("\n"))
    else:
        try:
            metrics.write_atomically(Path(args.output), text)
        except OSError as exc:  # no folder, a folder, no permission, no room: the old file is left as it was
            reason = f"{args.output}: {exc.strerror}" if exc.strerror else str(exc)
            raise ConfigError(f"metrics: nothing was written: {reason}") from None
    return {"healthy": EXIT_OK, "degraded": EXIT_PROBLEMS}.get(h.status, EXIT_USAGE)


def add_metrics_parser(sub: Any) -> None:
    p = sub.add_parser("metrics", help="the health facts in Prometheus' text format (for node_exporter's textfile "
                                       "collector); exit code as `health`")
    p.add_argument("-o", "--output", metavar="FILE.prom",
                   help="write to FILE atomically (a temporary file beside it, renamed over it), e.g. "
                        "/var/lib/node_exporter/textfile_collector/buypower.prom; default: stdout")
    p.set_defaults(func=cmd_metrics)
