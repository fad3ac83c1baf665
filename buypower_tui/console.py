"""What a command prints, masked, and the exit codes every command shares."""

from __future__ import annotations

import sys

from buypower_tui.logs import mask_message

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_PENDING, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def out(text: str = "") -> None:
    print(mask_message(text), flush=True)


def err(text: str) -> None:
    print(mask_message(text), file=sys.stderr, flush=True)
