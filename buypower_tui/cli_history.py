"""`history METER`: every row ever made for a meter, in every batch, newest first.

Tokens are printed whole, as `export` prints them: finding a customer's token again is what
the command is for. Everything else on the line goes through the masking every message does
(`console.out`), which would hide a token's middle digits.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from buypower_tui.console import EXIT_OK, EXIT_PROBLEMS, err, out
from buypower_tui.core.rules import escape_hidden, naira
from buypower_tui.core.times import local_minute, offset_now
from buypower_tui.core.tokens import LabelledToken, inline_text
from buypower_tui.logs import mask_message

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.services import MeterHistory, MeterRow, Services


def cmd_history(svc: Services, args: argparse.Namespace) -> int:
    """0: rows found; 1: none; 2 (ConfigError, from the services): not a meter number."""
    found = svc.meter_history(args.meter)
    if args.json:  # one object per row on stdout; anything else on stderr
        for row in found.rows:
            _print(_json_line(row))
    else:
        _print_table(found)
    if not found.rows:
        (err if args.json else out)(f"no rows for {_meters(found)} in any batch")
        return EXIT_PROBLEMS
    return EXIT_OK


def _print(line: tuple[str, str]) -> None:
    """(text to mask, tokens shown whole)."""
    print(mask_message(line[0]) + line[1], flush=True)


def _is_token(t: LabelledToken) -> bool:
    return len(t.content) == 20 and t.content.isascii() and t.content.isdigit()


def _whole(tokens: Iterable[LabelledToken]) -> list[LabelledToken]:
    """Tokens as they are; a parcel's other text (not a token) masked and escaped like any text."""
    return [t if _is_token(t) else LabelledToken(mask_message(escape_hidden(t.kind)),
                                                   mask_message(escape_hidden(t.content))) for t in tokens]


def _json_line(row: MeterRow) -> tuple[str, str]:
    """The row's object with its tokens last: the rest masked, the tokens whole. ASCII only, so
    no character in a name can drive the terminal or break the JSON when escaped."""
    values = row.as_json()
    tokens = [{"kind": t.kind, "token": t.content} for t in _whole(row.tokens)]
    del values["tokens"]
    return json.dumps(values)[:-1], f', "tokens": {json.dumps(tokens)}}}'


def _meters(found: MeterHistory) -> str:
    first, *other = found.meters
    return f"meter {first}" + "".join(f" (nor {m}, with the leading 0 a spreadsheet drops)" for m in other)


def _print_table(found: MeterHistory) -> None:
    if not found.rows:
        return
    several = len(found.meters) > 1
    if several:
        out(f"looked for meter {found.meters[0]} and {found.meters[1]} (a spreadsheet drops a meter's leading 0)")
    rows, batches = len(found.rows), found.batches
    out(f"{rows} row{'s' * (rows != 1)} for {'these meters' if several else f'meter {found.meters[0]}'} in "
        f"{batches} batch{'es' * (batches != 1)}, newest first; date: when paid, else when its batch was made; "
        "tokens in the order the customer types them")
    offset = offset_now()
    columns: list[tuple[str, int, str]] = [("batch", 28, "<"), ("row", 5, ">"), (f"date ({offset})", 16, "<"),
                                           ("amount", 14, ">"), ("state", 13, "<"), ("units", 10, ">"),
                                           ("receipt", 16, "<")]
    if several:
        columns.insert(1, ("meter", 13, "<"))
    if approvers := [escape_hidden(r.approved_by) for r in found.rows if r.approved_by]:  # who approved its order
        width = max(map(len, [*approvers, "approved by"]))
        columns.insert(columns.index(("state", 13, "<")) + 1, ("approved by", width, "<"))
    out(_line([(name, width, align) for name, width, align in columns]) + "  tokens")
    for r in found.rows:
        cells: dict[str, Any] = {
            "batch": f"{r.batch_id} {escape_hidden(r.batch_name)}", "meter": r.meter, "row": str(r.row_number),
            f"date ({offset})": local_minute(r.at, header_offset=offset),
            "amount": "" if r.amount is None else naira(r.amount), "state": r.state,
            "units": "" if r.units is None else f"{r.units:f}", "receipt": escape_hidden(r.receipt or ""),
            "approved by": escape_hidden(r.approved_by or "")}
        line = _line([(cells[name], width, align) for name, width, align in columns])
        _print((line, f"  {inline_text(_whole(r.tokens))}") if r.tokens else (line.rstrip(), ""))


def _line(cells: list[tuple[str, int, str]]) -> str:
    """Cells padded to their widths. Only the first (the batch's name) is cut, with "…": a
    date, an amount or a receipt cut short would read as another."""
    shown = []
    for n, (text, width, align) in enumerate(cells):
        if n == 0 and len(text) > width:
            text = text[:width - 1] + "…"
        shown.append(f"{text:{align}{width}}")
    return " ".join(shown)


def add_history_parser(sub: Any) -> None:
    p = sub.add_parser("history", help="every row ever made for a meter, in every batch, newest first")
    p.add_argument("meter", metavar="METER",
                   help="the meter number (spaces and dashes are ignored; 10 digits also finds the 11-digit "
                        "meter with its leading 0)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per row (times local with their UTC offset; tokens as 20 digits in "
                        "typing order)")
    p.set_defaults(func=cmd_history)
