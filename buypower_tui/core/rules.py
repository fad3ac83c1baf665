"""Recipient rules: pure functions that turn what a sheet says into what BuyPower needs.

Each `check_*` returns `(normalised_value, None)` or `(None, message)`, where the message
names the field, says what is wrong and how to fix it. They run once per cell on imports
of 100,000 rows, so they are plain functions over precompiled patterns.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from buypower_tui.logs import holds_key, mask_keys

FIELDS = ("meter", "disco", "amount", "phone", "vend_type", "name", "email")
REQUIRED = ("meter", "disco", "amount")
VEND_TYPES = ("PREPAID", "POSTPAID")

# Electricity distributors of buypower-api.md §7.1. `BH` is left out: it appears in
# /discos/status but its meaning is unknown (probably an asset provider, not a disco).
DISCOS = (
    "ABUJA", "EKO", "IKEJA", "IBADAN", "ENUGU", "PH", "JOS", "KADUNA", "KANO",
    "BENIN", "YOLA", "ABA", "PROTOGY", "PHISBOND", "ACCESSPOWER", "APLE", "KOIOS", "KAIDA",
)
_DISCO_ALIASES = {
    "AEDC": "ABUJA", "EKEDC": "EKO", "EKEDP": "EKO", "IKEDC": "IKEJA", "IE": "IKEJA",
    "IBEDC": "IBADAN", "EEDC": "ENUGU", "PHED": "PH", "PHEDC": "PH", "PORTHARCOURT": "PH",
    "JED": "JOS", "JEDC": "JOS", "KAEDCO": "KADUNA", "KAEDC": "KADUNA", "KEDCO": "KANO",
    "KEDC": "KANO", "BEDC": "BENIN", "YEDC": "YOLA", "APLC": "ABA", "ABAPOWER": "ABA",
}
# Words that decorate a disco's name without naming it ("Ikeja Electric Plc").
_DISCO_FILLER = frozenset(
    {"ELECTRIC", "ELECTRICITY", "DISTRIBUTION", "COMPANY", "PLC", "LTD", "LIMITED",
     "DISCO", "POWER", "DISTRIBUTOR", "DISCOS", "NIGERIA"}
)
_DISCO_LOOKUP = {code: code for code in DISCOS} | _DISCO_ALIASES

MOBILE_PREFIXES = ("070", "080", "081", "090", "091")
_PHONE_STRIP = str.maketrans("", "", " -().\t/")
# After separators are removed: an optional +234 or 234 (then an optional "(0)"), or the
# leading 0, or nothing (a numeric Excel cell that lost its 0); then 10 digits whose first
# two make a mobile prefix (070, 080, 081, 090, 091).
_PHONE = re.compile(r"(?:\+?2340?|0)?((?:70|80|81|90|91)[0-9]{8})")
_AMOUNT = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]{1,2})?")
_AMOUNT_PREFIX = re.compile(r"^(?:₦|NGN|N)\s*", re.IGNORECASE)
_CENT = Decimal("0.01")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
# Characters that are not seen but change what is: bidi controls (U+202E shows "Ada" as
# "adA"; U+2066-2069, U+200E/200F), zero-width ones (U+200B-200D, U+2060, U+FEFF), line and
# paragraph separators, and control characters (C0 and C1). In a cell they are a warning on
# the row (it stays payable; the operator should look), and screens show them escaped.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# Letters that show as nothing: the Hangul fillers (U+115F, U+1160, U+3164, U+FFA0) make a
# name look empty or like another, and str.isprintable() calls them printable.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_ODD = re.compile("[\ufffd\u115f\u1160\u3164\uffa0]")  # what isprintable() misses: U+FFFD and those letters
_WORDS = re.compile(r"[^A-Z0-9]+")


@dataclass(frozen=True, slots=True)
class Limits:
    """The settings the rules depend on (see Settings for their defaults)."""

    amount_min: Decimal = Decimal("100")
    amount_max: Decimal = Decimal("100000")
    prepaid_lengths: tuple[int, ...] = (11, 13)  # 13: a production IBADAN prepaid meter (buypower-api.md §13)
    postpaid_min: int = 6
    postpaid_max: int = 16
    default_phone: str = ""

    @classmethod
    def from_settings(cls, s) -> Limits:  # s: buypower_tui.settings.Settings
        return cls(s.amount_min, s.amount_max, tuple(s.prepaid_meter_lengths),
                   s.postpaid_min_length, s.postpaid_max_length, s.default_phone)


def naira(amount: Decimal) -> str:
    """₦1,234.50: amounts are formatted by us, never by a float formatter."""
    return f"₦{amount:,.2f}"


# Sheets repeat the same disco, vend type and amount texts thousands of times, so the
# pure parts of those rules are memoised (keyed on the text alone: hashing Limits per
# call would cost more than it saves). A 100,000-row import is about 20 % faster.
@lru_cache(maxsize=4096)
def check_vend_type(raw: str) -> tuple[str | None, str | None]:
    text = raw.strip()
    if not text:
        return "PREPAID", None
    key = text.upper().replace("-", "").replace(" ", "").replace("_", "")
    if key in VEND_TYPES:
        return key, None
    return None, f"vend_type '{text}' is not PREPAID or POSTPAID; write one of the two (empty means PREPAID)."


def meter_length_ok(n: int, vend_type: str | None, limits: Limits) -> bool:
    """Whether a meter of `n` digits has an allowed length for its vend type."""
    if vend_type == "POSTPAID":
        return limits.postpaid_min <= n <= limits.postpaid_max
    return n in limits.prepaid_lengths


def check_meter(raw: str, vend_type: str | None, limits: Limits) -> tuple[str | None, str | None]:
    text = raw.strip()
    if not text:
        return None, "meter is empty; enter the meter number as printed on the meter."
    digits = text.replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit()):
        return None, (f"meter '{text}' must contain only digits (spaces and dashes are "
                      "ignored); copy the number again from the meter or the bill.")
    n = len(digits)
    if meter_length_ok(n, vend_type, limits):
        return digits, None
    if vend_type == "POSTPAID":
        return None, (f"meter '{text}' has {n} digits; a POSTPAID account number has "
                      f"{limits.postpaid_min} to {limits.postpaid_max}. Check the account number on the bill.")
    allowed = " or ".join(str(x) for x in limits.prepaid_lengths)
    hint = " A leading 0 may have been lost: store the column as text." if n + 1 in limits.prepaid_lengths else ""
    return None, (f"meter '{text}' has {n} digits; a PREPAID meter number has {allowed}."
                  f"{hint} Check the number on the meter.")


@lru_cache(maxsize=4096)
def check_disco(raw: str) -> tuple[str | None, str | None]:
    text = raw.strip()
    if not text:
        return None, "disco is empty; enter the distributor code, e.g. IKEJA, EKO or ABUJA."
    upper = text.upper()
    code = _DISCO_LOOKUP.get(upper)
    if code:
        return code, None
    words = [w for w in _WORDS.split(upper) if w]
    code = _DISCO_LOOKUP.get("".join(words)) or _DISCO_LOOKUP.get(
        "".join(w for w in words if w not in _DISCO_FILLER)
    )
    if code:
        return code, None
    return None, (f"disco '{text}' is not a known distributor; use one of "
                  f"{', '.join(DISCOS[:12])} (or a name such as 'Ikeja Electric').")


def check_amount(raw: str, limits: Limits) -> tuple[Decimal | None, str | None]:
    value, message = _parse_amount(raw)
    if value is None:
        return None, message
    if value < limits.amount_min:
        return None, (f"amount {naira(value)} is below the minimum {naira(limits.amount_min)}; "
                      f"pay at least {naira(limits.amount_min)}.")
    if value > limits.amount_max:
        return None, (f"amount {naira(value)} is above the maximum {naira(limits.amount_max)}; "
                      "split it into several rows or lower it.")
    return value, None


def parse_amount(raw: str) -> Decimal | None:
    """The naira a cell says whatever the limits (None: not an amount): to split one over the
    maximum, or to add up the rows a TOTAL row covers."""
    return _parse_amount(raw)[0]


@lru_cache(maxsize=4096)
def _parse_amount(raw: str) -> tuple[Decimal | None, str | None]:
    text = raw.strip()
    if not text:
        return None, "amount is empty; enter the naira amount to pay, e.g. 5000."
    body = _AMOUNT_PREFIX.sub("", text, count=1).strip()
    if not _AMOUNT.fullmatch(body):
        return None, _amount_problem(text, body)
    value = Decimal(body.replace(",", ""))
    # quantize() raises past the context's 28 digits; such a value fails the bounds anyway
    return (value.quantize(_CENT) if value.adjusted() < 20 else value), None


def _amount_problem(text: str, body: str) -> str:
    if body.startswith("-"):
        return f"amount '{text}' is negative; enter a positive naira amount."
    if re.fullmatch(r"[0-9]{1,3}\.[0-9]{3}", body):
        return (f"amount '{text}' is ambiguous: a dot for thousands or 3 decimals; write 1000 "
                "(or 1,000) for a thousand naira, and at most 2 decimals.")
    if re.fullmatch(r"[\d,]*\.\d{3,}", body):
        return f"amount '{text}' has more than 2 decimals; round it to kobo, e.g. 1000.50."
    if re.fullmatch(r"\d{1,3}(\.\d{3})+(,\d{1,2})?", body):
        return (f"amount '{text}' uses dots for thousands or a comma for decimals; "
                "write it as 1000.00 or 1,000.00.")
    return f"amount '{text}' is not a naira amount; write digits such as 5000 or 5,000.50."


def check_phone(raw: str, default: str = "") -> tuple[str | None, str | None]:
    text = raw.strip()
    if not text:
        if default:
            return default, None
        return None, ("phone is empty; enter the customer's mobile number (e.g. 08031234567) "
                      "or set default_phone in the config.")
    match = _PHONE.fullmatch(text.translate(_PHONE_STRIP))
    if match:
        return "0" + match.group(1), None
    return None, (f"phone '{text}' is not a Nigerian mobile number; write 11 digits starting "
                  "070, 080, 081, 090 or 091 (e.g. 08031234567) or +234 and 10 digits.")


def check_email(raw: str) -> tuple[str | None, str | None]:
    text = raw.strip()
    if not text:
        return None, None
    if _EMAIL.fullmatch(text):
        return text, None
    return None, f"email '{text}' is not an email address; fix it or leave the cell empty."


def _is_hidden(ch: str) -> bool:
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES or ch in _BLANK_LETTERS


def _plain(text: str) -> bool:
    """True when `text` has no hidden character (the common case, told in C)."""
    return text.isprintable() and (text.isascii() or not _ODD.search(text))


def hidden_characters(text: str) -> list[str]:
    """The distinct hidden characters in `text`, in the order they appear."""
    if _plain(text):  # the common case: no character to look at
        return []
    return list(dict.fromkeys(ch for ch in text if _is_hidden(ch)))


def escape_hidden(text: str) -> str:
    """`text` for a screen: each hidden character written as ⟨U+202E⟩, never raw."""
    if _plain(text):
        return text
    return "".join(f"⟨U+{ord(ch):04X}⟩" if _is_hidden(ch) else ch for ch in text)


def _unreadable_message(field: str, text: str) -> str:
    """The error for a cell holding junk: a control character has no place in a sheet's
    text (it is named, U+001B say); U+FFFD stands for bytes that were not text at all."""
    controls = list(dict.fromkeys(f"U+{ord(ch):04X}" for ch in _JUNK.findall(text) if ch != "\ufffd"))
    shown = ", ".join(controls[:3]) + (f" and {len(controls) - 3} more" if len(controls) > 3 else "")
    control = f"a control character ({shown})" if len(controls) == 1 else f"control characters ({shown})"
    if "\ufffd" not in text:
        return f"{field} contains {control}, which has no place in it; re-type it."
    also = f" and {control}" if controls else ""
    return (f"{field} contains unreadable characters (junk bytes or a wrong encoding){also}; "
            "re-type it or save the file as UTF-8.")


def hidden_warning(field: str, chars: list[str]) -> str:
    named = [f"U+{ord(ch):04X} {unicodedata.name(ch, 'CONTROL CHARACTER')}" for ch in chars[:3]]
    more = f" and {len(chars) - 3} more" if len(chars) > 3 else ""
    return (f"{field} contains characters that cannot be seen or that change how it shows "
            f"({', '.join(named)}{more}); compare it with the source and re-type it if they do not belong.")


def check_name(raw: str) -> tuple[str | None, str | None]:
    text = " ".join(raw.split())
    return (text or None), None


@dataclass(slots=True)
class CheckedRow:
    """Result of the rules on one row: normalised values (None where invalid) and issues."""

    values: dict[str, object]
    errors: list[tuple[str, str]]  # (field, message); duplicate warnings need the whole batch
    warnings: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (field, message): payable
    raw: dict[str, str] = dataclasses.field(default_factory=dict)  # the cells as they may be stored

    @property
    def valid(self) -> bool:
        return not self.errors


def check_row(raw: dict[str, str], limits: Limits) -> CheckedRow:
    """Apply every rule to one row of raw cell texts (missing keys count as empty)."""
    errors: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    junk: list[str] = []
    stored = raw
    joined = "".join(raw.values())
    if holds_key(joined):  # an API key pasted into the sheet: never stored, shown or exported
        junk = [f for f in FIELDS if holds_key(raw.get(f) or "")]
        errors = [(f, f"{f} holds what looks like an API key; it was not kept. Remove it from the sheet "
                      "(and if it is a real key, change it at BuyPower).") for f in junk]
        stored = {k: mask_keys(v) if k in junk else v for k, v in raw.items()}
        raw = {k: v for k, v in raw.items() if k not in junk}
    if not _plain(joined):  # fast screen; _JUNK decides
        unreadable = [f for f in FIELDS if f not in junk and _JUNK.search(raw.get(f) or "")]
        errors += [(f, _unreadable_message(f, raw[f])) for f in unreadable]
        junk += unreadable
        raw = {k: v for k, v in raw.items() if k not in junk}
        warnings = [(f, hidden_warning(f, chars)) for f in FIELDS if (chars := hidden_characters(raw.get(f) or ""))]
    get = raw.get
    vend_type, e1 = check_vend_type(get("vend_type", ""))
    meter, e2 = check_meter(get("meter", ""), vend_type, limits)
    disco, e3 = check_disco(get("disco", ""))
    amount, e4 = check_amount(get("amount", ""), limits)
    phone, e5 = check_phone(get("phone", ""), limits.default_phone)
    email, e6 = check_email(get("email", ""))
    if e1 or e2 or e3 or e4 or e5 or e6:
        for name, message in (("vend_type", e1), ("meter", e2), ("disco", e3), ("amount", e4),
                              ("phone", e5), ("email", e6)):
            if message and name not in junk:  # a junk cell already has its message
                errors.append((name, message))
    values = {"meter": meter, "disco": disco, "amount": amount, "phone": phone,
              "vend_type": vend_type, "name": check_name(get("name", ""))[0], "email": email}
    for name in junk:  # invalid fields carry no value (not the default phone or vend type)
        values[name] = None
    if warnings:  # messages quote the cells: never with the hidden characters raw
        errors = [(f, escape_hidden(m)) for f, m in errors]
    return CheckedRow(values, errors, warnings, stored)


def duplicate_warning(meter: str, count: int) -> tuple[str, str]:
    return ("meter", f"meter {meter} appears {count} times in this batch; "
                     "remove the extra rows or accept the duplicate before paying.")


class ValidRecipient(BaseModel):
    """A row that passed every rule: what a vend needs, normalised."""

    model_config = ConfigDict(frozen=True)

    meter: str
    disco: str
    amount: Decimal
    phone: str
    vend_type: str = "PREPAID"
    name: str | None = None
    email: str | None = None

    @classmethod
    def from_checked(cls, row: CheckedRow) -> ValidRecipient:
        if row.errors:
            raise ValueError("; ".join(m for _, m in row.errors))
        return cls(**row.values)


def check_field(field: str, raw: str, limits: Limits, vend_type_raw: str = "") -> str | None:
    """The message for one field as the operator types it (None when it is fine): the same
    rules as the import, so a row the editor accepts is a row the import would accept."""
    if field == "meter":
        return check_meter(raw, check_vend_type(vend_type_raw)[0], limits)[1]
    if field == "amount":
        return check_amount(raw, limits)[1]
    if field == "phone":
        return check_phone(raw, limits.default_phone)[1]
    checks = {"disco": check_disco, "vend_type": check_vend_type, "email": check_email, "name": check_name}
    return checks[field](raw)[1]
