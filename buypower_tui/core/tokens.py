"""A paid row's tokens in the order the customer types them, each labelled.

A meter past the STS key change (the 2024 TID rollover) refuses the credit token until the
two key-change tokens are entered, KCT1 then KCT2; a BONUS token (free units) comes last.
BuyPower lists the credit token first in `parcels` and repeats it in `token`, so the order
has to be made here, once, for the results view, the copy and the export alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from buypower_tui.core.outcomes import format_token, normalise_token

# Parcel type -> its place in the typing order and the label people read.
ORDER = {"KCT1": 0, "KCT2": 1, "TOKEN": 2, "BONUS": 3}
LABELS = {"KCT1": "KCT1", "KCT2": "KCT2", "TOKEN": "Token", "BONUS": "Bonus"}


@dataclass(frozen=True, slots=True)
class LabelledToken:
    kind: str  # KCT1 | KCT2 | TOKEN | BONUS, or a type BuyPower added that we do not know
    content: str  # 20 digits, or the parcel's text as it came when it is not a token

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind.capitalize() or "Token")

    @property
    def grouped(self) -> str:
        """4-4-4-4-4 for a 20-digit token; anything else as it came."""
        return format_token(self.content) if normalise_token(self.content) == self.content else self.content


def tokens_in_order(token: str | None, parcels: Iterable[Mapping[str, Any]] | None) -> list[LabelledToken]:
    """KCT1, KCT2, the credit token, BONUS (unknown types after them), each once.

    `token` is the row's credit token; the TOKEN parcel that repeats it (grouped or not) is
    not listed twice. A parcel BuyPower sent twice is listed once."""
    found: list[LabelledToken] = []
    if token:
        found.append(LabelledToken("TOKEN", normalise_token(token) or token))
    for p in parcels or ():
        content = p.get("content") if isinstance(p, Mapping) else None
        if content is None or str(content).strip() == "":
            continue
        kind = str(p.get("type") or "TOKEN").strip().upper()
        found.append(LabelledToken(kind, normalise_token(content) or str(content).strip()))
    seen: set[str] = set()
    unique = []
    for t in found:
        if t.content not in seen:
            seen.add(t.content)
            unique.append(t)
    return sorted(unique, key=lambda t: ORDER.get(t.kind, len(ORDER)))  # stable: BuyPower's order within a kind


def extra_tokens(row: Mapping[str, Any]) -> list[LabelledToken]:
    """The tokens of a row besides its credit token (KCT1, KCT2, BONUS...)."""
    return [t for t in tokens_in_order(row.get("token"), row.get("parcels")) if t.content != row.get("token")]


def has_key_change(tokens: Iterable[LabelledToken]) -> bool:
    return any(t.kind in ("KCT1", "KCT2") for t in tokens)


def copy_text(tokens: list[LabelledToken]) -> str:
    """What `c` copies: the bare token when it is the only one (it pastes anywhere), else one
    labelled line per token in typing order ("KCT1: 5120-…\\nKCT2: …\\nToken: …")."""
    if len(tokens) == 1 and tokens[0].kind == "TOKEN":
        return tokens[0].grouped
    return "\n".join(f"{t.label}: {t.grouped}" for t in tokens)


def inline_text(tokens: list[LabelledToken]) -> str:
    """One line for a row detail: "KCT1 5120-…, KCT2 8841-…, token 3172-…, bonus 1111-…"."""
    return ", ".join(f"{t.label if t.kind.startswith('KCT') else t.label.lower()} {t.grouped}" for t in tokens)


def export_columns(token: str | None, parcels: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """The export's token columns, grouped, empty when absent. A second token of one kind (never
    seen) is joined with a space, and a parcel of a type we do not know goes to `other_tokens`
    as "TYPE: digits", so that nothing BuyPower gave is lost."""
    by_kind: dict[str, list[str]] = {}
    other: list[str] = []
    for t in tokens_in_order(token, parcels):
        if t.kind in ORDER:
            by_kind.setdefault(t.kind, []).append(t.grouped)
        else:
            other.append(f"{t.kind}: {t.grouped}")
    return {"kct1": " ".join(by_kind.get("KCT1", ())), "kct2": " ".join(by_kind.get("KCT2", ())),
            "token": " ".join(by_kind.get("TOKEN", ())), "bonus_token": " ".join(by_kind.get("BONUS", ())),
            "other_tokens": "; ".join(other)}


def token_digits(text: str | None) -> str | None:
    """A token as the operator typed it (spaces, dashes), as 20 digits; None when empty."""
    digits = "".join(ch for ch in text or "" if ch.isdigit())
    return digits or None


def token_problem(text: str | None) -> str | None:
    value = token_digits(text)
    return None if value is None or len(value) == 20 else f"a token has 20 digits; this has {len(value)}."
