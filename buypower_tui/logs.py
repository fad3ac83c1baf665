"""Logging to a rotating, owner-only file, with secrets masked in every record."""

from __future__ import annotations

import errno
import logging
import logging.handlers
import re
import sqlite3
import traceback
from pathlib import Path

from buypower_tui.paths import create_private_file

_HEX64 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")
# The value after "Authorization", whatever the scheme: Bearer, Basic, Token, …
_AUTH = re.compile(r"(?i)(authorization['\"]?\s*[:=,]\s*['\"]?)(?:[a-z]+\s+)?[^\s'\",}\]]+")
_BEARER = re.compile(r"(?i)\bbearer\s+[^\s'\",}\]]+")
_TOKEN_GROUPED = re.compile(r"(?<!\d)(\d{4})[- ]\d{4}[- ]\d{4}[- ]\d{4}[- ](\d{4})(?!\d)")
_TOKEN_PLAIN = re.compile(r"(?<!\d)(\d{4})\d{12}(\d{4})(?!\d)")
MASK = "***"
# Keys this process knows (from the environment or the keyring): masked wherever they appear,
# in the log and in every message shown to a person, whatever their shape.
_KNOWN: set[str] = set()


_KEYS = _HEX64  # what holds_key looks for: 64 hex characters, or a known key


def add_secret(secret: str) -> None:
    global _KEYS
    if secret and secret not in _KNOWN:
        _KNOWN.add(secret)
        known = sorted(_KNOWN, key=len, reverse=True)
        _KEYS = re.compile("|".join([_HEX64.pattern, *map(re.escape, known)]))


def holds_key(text: str) -> bool:
    """A known key, or what looks like one (64 hex characters), is in `text` (one regex: this
    runs for every row an import reads)."""
    return _KEYS.search(text) is not None


def mask_keys(text: str) -> str:
    """Keys out, everything else as it is (tokens too: this is for data, not messages)."""
    for secret in _KNOWN:
        text = text.replace(secret, MASK)
    return _HEX64.sub(MASK, text)


# Control characters other than line breaks and tabs, shown as \x1b and the like: a message may
# quote a sheet's header or BuyPower's text, and an ESC there could drive the terminal (an
# OSC 52 sequence replaces the clipboard).
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in "\n\t"}


def mask_message(text: str) -> str:
    """What a person may be shown: the log's masking, applied to a message (an error that
    quotes a file holding the key must not show it), with control characters escaped."""
    return mask(text, tuple(_KNOWN)).translate(_CONTROLS)


def mask(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Hide API keys, Authorization values and the middle 12 digits of 20-digit tokens."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = _HEX64.sub(MASK, text)
    text = _AUTH.sub(lambda m: m.group(1) + MASK, text)
    text = _BEARER.sub("Bearer " + MASK, text)
    text = _TOKEN_GROUPED.sub(r"\1-****-****-****-\2", text)
    return _TOKEN_PLAIN.sub(r"\1************\2", text)


class MaskingFilter(logging.Filter):
    """Rewrites each record (message, exception and stack text) before any handler sees it."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        for secret in secrets:
            add_secret(secret)

    def add_secret(self, secret: str) -> None:
        add_secret(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = tuple(_KNOWN)
        record.msg = mask(record.getMessage(), secrets)
        record.args = None
        if record.exc_info:
            record.exc_text = mask("".join(traceback.format_exception(*record.exc_info)).rstrip(), secrets)
        elif record.exc_text:
            record.exc_text = mask(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = mask(record.stack_info, secrets)
        return True


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Every log file, rotated ones included, is created 0600."""

    def _open(self):  # type: ignore[override]
        create_private_file(Path(self.baseFilename))
        return super()._open()

    failures = 0  # records that could not be written (a full disk): see log_record_written

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        """One line instead of logging's traceback on stderr (e.g. the disk filled up)."""
        import sys

        PrivateRotatingFileHandler.failures += 1
        print(f"buypower-tui: cannot write the log file {self.baseFilename}", file=sys.stderr)


def log_record_written(emit) -> bool:
    """Call `emit` (a logging call); False when our log file could not take the record."""
    before = PrivateRotatingFileHandler.failures
    emit()
    for handler in logging.getLogger().handlers:
        handler.flush()
    return PrivateRotatingFileHandler.failures == before


_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def disk_problem(exc: BaseException) -> str | None:
    """What the disk said, when `exc` (or what caused it) is the disk refusing a write."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
            return exc.strerror or str(exc)
        text = str(exc).lower()
        if isinstance(exc, sqlite3.Error) and ("disk is full" in text or "disk i/o error" in text):
            return str(exc)
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return None


def setup_logging(log_file: Path, level: str = "INFO", secrets: tuple[str, ...] = ()) -> MaskingFilter:
    """Log to `log_file` (raises OSError now if it cannot be written); returns the mask,
    to which secrets learnt later (a key read from the keyring) are added."""
    create_private_file(log_file)
    handler = PrivateRotatingFileHandler(log_file, maxBytes=2_000_000, backupCount=5,
                                         encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    mask_filter = MaskingFilter(secrets)
    handler.addFilter(mask_filter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, PrivateRotatingFileHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    # httpx/httpcore DEBUG logs print request headers; keep them quiet whatever the level.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return mask_filter


def stop_file_logging() -> None:
    """Detach and close our log files (the demo removes its home, logs included)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, PrivateRotatingFileHandler)]:
        root.removeHandler(handler)
        handler.close()
