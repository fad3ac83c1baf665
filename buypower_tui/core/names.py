"""Does the sheet's name for a meter look like BuyPower's customer for it? A check after the
lookup: two names that share no word are worth a look (a wrong meter number pays a
stranger), but only a warning: a tenant is rarely the name on the meter, so the row stays
payable.

Words are compared without case, accents or punctuation, and titles (Mr, Alhaji, Engr…),
flat and block words (Flat 4, Blk C, Shop 12…), numbers and initials are no name at all. A
name left with no word once those are gone says nothing, and is not compared.
"""

from __future__ import annotations

import re
import unicodedata

from buypower_tui.core.rules import escape_hidden

# Only words that are never a first name: "Prince" and "Justice" are names here.
TITLES = frozenset((
    "mr", "mrs", "miss", "ms", "mst", "master", "madam", "madame", "mdm", "sir", "dame", "esq", "dr", "prof",
    "professor", "chief", "alhaji", "alhaja", "alh", "hajia", "hajiya", "haji", "mallam", "malam", "engr",
    "eng", "arc", "barr", "barrister", "hon", "honourable", "honorable", "otunba", "oba", "baale", "hrh",
    "sen", "senator", "rev", "revd", "reverend", "pastor", "pst", "evang", "evangelist", "apostle", "bishop",
    "deacon", "deaconess", "dcn", "bro", "sis", "fr", "imam", "sheikh", "ustaz", "capt", "col", "gen", "lt",
    "maj", "cpl", "sgt", "rtd", "jnr", "jr", "snr", "sr", "late", "and",
))
# Where the sheet puts the flat or the shop, not who lives there.
PLACES = frozenset((
    "flat", "flats", "block", "blk", "bk", "apt", "apartment", "apartments", "room", "rm", "rooms", "shop",
    "shops", "plot", "house", "hse", "no", "num", "number", "nos", "unit", "suite", "ste", "floor", "flr",
    "duplex", "bq", "wing", "annex", "annexe", "office", "kiosk", "stall", "store", "compound", "tenant",
    "occupant",
))
_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits, any alphabet
_JOINERS = str.maketrans("", "", "'’‘`´")  # O'Neil is one word


def name_words(name: str | None) -> frozenset[str]:
    """The words of a name that say who it is: folded, without accents, titles, flat words or numbers."""
    if not name:
        return frozenset()
    # é is e, and a zero-width space or a direction mark splits no word
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", name.translate(_JOINERS))
                    if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf").casefold()
    return frozenset(w for w in _WORD.findall(plain)  # an initial (the A of A. Bello) neither matches nor differs
                     if len(w) > 1 and w not in TITLES and w not in PLACES and not any(ch.isdigit() for ch in w))


def names_differ(sheet: str | None, buypower: str | None) -> bool:
    """True when both names say something and share no word. Symmetric; a name never differs
    from itself."""
    ours, theirs = name_words(sheet), name_words(buypower)
    return bool(ours and theirs) and ours.isdisjoint(theirs)


# The warning's message starts so (the editor's "name differs" view finds it by this text).
PREFIX = "name differs: "


def name_warning(sheet: str | None, buypower: str | None) -> str | None:
    """The warning for a row whose sheet name and BuyPower's customer name differ, if they do."""
    if not names_differ(sheet, buypower):
        return None
    shown = [escape_hidden(" ".join(n.split())) for n in (sheet, buypower)]  # never a hidden character raw
    return f"{PREFIX}sheet {shown[0]}, BuyPower {shown[1]}"


def is_name_warning(warning: dict[str, str]) -> bool:
    return warning.get("field") == "name" and warning.get("message", "").startswith(PREFIX)


def with_name_warning(warnings: list[dict[str, str]] | None, sheet: str | None,
                      buypower: str | None) -> list[dict[str, str]] | None:
    """A row's warnings with its name warning as these names say now: the other warnings (a
    hidden character from the import) kept in their order, a previous name warning replaced."""
    kept = [w for w in warnings or () if not is_name_warning(w)]
    message = name_warning(sheet, buypower)
    if message:
        kept.append({"field": "name", "message": message})
    return kept or None
