"""What the sandbox is made of: its settings, fixture meters, generated customers, prices,
BuyPower's message texts and the rules a request must follow.

Every branch of the vend state machine (buypower-api.md §6.1) has a fixed meter number, so
a test or a demo asks for a behaviour by choosing a meter (§11). Any other well-formed
meter resolves to a customer generated from the seed and the meter: the same meter always
shows the same name, and no list of customers has to be kept.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

# /discos/status key set (§4.1), plus ABA, which clients vend although the snapshot lacks it.
STATUS_KEYS = (
    "ABUJA", "EKO", "IKEJA", "IBADAN", "ENUGU", "PH", "JOS", "KADUNA", "KANO", "BH",
    "PROTOGY", "PHISBOND", "ACCESSPOWER", "APLE", "BENIN", "YOLA", "KOIOS", "KAIDA", "ABA",
    "MTN", "GLO", "9MOBILE", "DSTV", "GOTV", "STARTIMES",
)
# Codes a vend or a meter check accepts: the electricity distributors of §7.1. `BH` is
# left out because its meaning is unknown (probably an asset provider, not a disco).
DISCOS = tuple(c for c in STATUS_KEYS[:STATUS_KEYS.index("MTN")] if c != "BH")
VEND_TYPES = ("PREPAID", "POSTPAID")

# Behaviours. Faults by configuration never touch the scripted ones: a test that picks
# "500-but-vended" must get exactly that, whatever fail_rate says.
OK = "ok"
PENDING_SUCCESS = "pending-then-success"
PENDING_FAIL = "pending-then-fail"
VENDED_500 = "500-but-vended"
VENDED_502 = "502-but-vended"
VENDED_DROP = "drop-but-vended"
VENDED_HANG = "hang-then-vended"
MAINTENANCE = "maintenance"
POSTPAID_DEBT = "postpaid-with-debt"
BELOW_MINIMUM = "below-minimum"
NO_TOKEN = "200-without-token"
KEY_CHANGE = "key-change"  # past the STS key change: KCT1 and KCT2 parcels with the credit token
BONUS = "bonus-token"  # a BONUS parcel after the credit token
KEY_CHANGE_BONUS = "key-change-and-bonus"  # all four, listed as a 2024 sandbox capture had them (§13)
PREPAID_DEBT = "prepaid-with-debt"
THIRTEEN_DIGITS = "13-digit-meter"  # production's IBADAN prepaid meter shape (§13)
PENDING_PLAIN_429 = "pending-plain-429"  # 202; its first requery gets a plain-text 429 with Retry-After
GENERATED = "generated"
SUCCESS, PENDING, FAILED = "SUCCESS", "PENDING", "FAILED"
# What a scripted meter's vend answers (200, 202, 500, 502, drop, hold) and where its order ends.
SCRIPTS = {PENDING_SUCCESS: ("202", SUCCESS), PENDING_FAIL: ("202", FAILED), VENDED_500: ("500", SUCCESS),
           VENDED_502: ("502", SUCCESS), VENDED_DROP: ("drop", SUCCESS), VENDED_HANG: ("hold", SUCCESS),
           NO_TOKEN: ("200-no-token", SUCCESS), PENDING_PLAIN_429: ("202", SUCCESS)}
SCRIPTED = frozenset(SCRIPTS) | {MAINTENANCE}
# Parcels a meter's tokens come with besides the credit token, in the order BuyPower lists them:
# the credit token first (§8), so a client that types them in list order gets it wrong.
EXTRA_PARCELS = {KEY_CHANGE: ("KCT1", "KCT2"), BONUS: ("BONUS",), KEY_CHANGE_BONUS: ("BONUS", "KCT1", "KCT2")}

# Naira per kWh by service band (NERC's 2024 order: Band A 209.50; the others rounded).
BAND_RATES = {"A": Decimal("209.50"), "B": Decimal("63.00"), "C": Decimal("50.00"),
              "D": Decimal("43.00"), "E": Decimal("40.00")}
BAND_HOURS = {"A": 20, "B": 16, "C": 12, "D": 8, "E": 4}
VAT = Decimal("0.075")
CENT = Decimal("0.01")
MIN_PREPAID, MIN_POSTPAID, MAX_VEND = Decimal(500), Decimal(100), Decimal(10_000_000)

# Where the server finds its key: its own variable, and the one the client sends in sandbox
# mode, so that one variable can serve both sides. Never argv: `ps` shows it to everyone.
KEY_ENVS = ("BUYPOWER_SANDBOX_KEY", "BUYPOWER_SANDBOX_API_KEY")
_RATES = ("fail_rate", "timeout_rate", "drop_rate", "pending_rate")
_SECONDS = ("latency_ms", "jitter_ms", "requery_cooldown_s", "hold_s")
RUNTIME_FIELDS = frozenset(_RATES + _SECONDS + ("down", "delay", "pending_requeries", "wallet"))


def _number(name: str, value: Any, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"{name} must be a number")
    value = float(value)
    if not (math.isfinite(value) and value >= 0 and (high is None or value <= high)):
        raise ValueError(f"{name} must be between 0 and {high}" if high is not None else f"{name} must be >= 0")
    return value


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that shapes the sandbox's answers. Faults draw from one roll per vend in
    the order fail, timeout, drop, pending, so their rates must add up to at most 1."""

    port: int = 0  # 0: any free port
    key: str | None = None  # else $BUYPOWER_SANDBOX_KEY or $BUYPOWER_SANDBOX_API_KEY, else a generated 64-hex key
    seed: int | str | None = None  # all randomness (tokens, faults, keys, customers) from it
    wallet: Decimal = Decimal(1_000_000)  # NGN; restored by reset
    latency_ms: float = 0.0  # every /v2 answer leaves this long after its request arrived
    jitter_ms: float = 0.0  # ... plus or minus up to this much
    fail_rate: float = 0.0  # 500/502/503 on vend, half before vending, half after
    timeout_rate: float = 0.0  # vend, then hold the answer hold_s
    drop_rate: float = 0.0  # vend, then close the socket without an answer
    pending_rate: float = 0.0  # 202, then pending requeries, then success
    requery_cooldown_s: float = 2.0  # 0 disables the 429; matches the 202's `delay`
    down: frozenset[str] = frozenset()  # codes reported false by /discos/status, answering 503
    delay: tuple[int, ...] = (2, 2, 2)  # `delay` of a 202
    pending_requeries: int = 2
    hold_s: float = 90.0
    ledger: str | os.PathLike[str] | None = None  # a SQLite file that keeps the ledger across restarts

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError("port must be an integer from 0 to 65535")
        if self.key is not None and (not isinstance(self.key, str) or not self.key.strip()
                                     or any(c.isspace() for c in self.key)):
            raise ValueError("key must be a non-empty string without spaces")
        for name in _RATES:
            put(name, _number(name, getattr(self, name), 1.0))
        if sum(getattr(self, n) for n in _RATES) > 1 + 1e-9:
            raise ValueError("fail_rate + timeout_rate + drop_rate + pending_rate must be at most 1")
        for name in _SECONDS:
            put(name, _number(name, getattr(self, name)))
        try:
            wallet = Decimal(str(self.wallet))
        except InvalidOperation:
            raise ValueError("wallet must be a naira amount") from None
        if isinstance(self.wallet, bool) or not wallet.is_finite() or wallet < 0 or wallet.adjusted() > 15:
            raise ValueError("wallet must be a naira amount of 0 or more")
        put("wallet", wallet.quantize(Decimal("0.01")))
        down = self.down.split(",") if isinstance(self.down, str) else self.down
        if not all(isinstance(c, str) for c in down):
            raise ValueError("down must be a list of disco codes")
        down = frozenset(c.strip().upper() for c in down if c.strip())
        if down - set(STATUS_KEYS):
            raise ValueError(f"down: unknown codes {', '.join(sorted(down - set(STATUS_KEYS)))}")
        put("down", down)
        if isinstance(self.delay, str | bytes) or not self.delay or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in self.delay):
            raise ValueError("delay must be a non-empty list of whole seconds")
        put("delay", tuple(self.delay))
        if isinstance(self.pending_requeries, bool) or not isinstance(self.pending_requeries, int) \
                or self.pending_requeries < 0:
            raise ValueError("pending_requeries must be a whole number >= 0")
        if self.ledger is not None:
            if not isinstance(self.ledger, str | os.PathLike) or not os.fspath(self.ledger).strip():
                raise ValueError("ledger must be a file path")
            put("ledger", Path(self.ledger))

    def resolve_key(self) -> tuple[str, bool]:
        """(key, generated): the configured key, else the one in KEY_ENVS, else 64 hex
        characters like a real key (§1), from the seed when there is one. Two variables
        holding different keys are refused: either choice would 401 someone."""
        if self.key:
            return self.key, False
        found = {name: os.environ[name].strip() for name in KEY_ENVS if os.environ.get(name, "").strip()}
        if len(set(found.values())) > 1:
            raise ValueError(f"{' and '.join(found)} hold different keys; unset one "
                             f"(the client sends ${KEY_ENVS[1]} in sandbox mode)")
        if found:
            return next(iter(found.values())), False
        if self.seed is not None:
            return f"{random.Random(f'{self.seed}:key').getrandbits(256):064x}", True
        return os.urandom(32).hex(), True

    def public(self) -> dict[str, Any]:
        """The settings as JSON (never the key)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "key"}
        out.update(wallet=float(self.wallet), down=sorted(self.down), delay=list(self.delay),
                   ledger=str(self.ledger) if self.ledger else None)
        return out


# BuyPower's texts (§4, §5).
UNAVAILABLE = "Service unavailable. Please try again later"
NOT_FOUND = "Unable to validate meter. Please check meter number and try again."
MAINTENANCE_TEXT = ("This account requires maintenance. Customer is advised to visit their service "
                    "provider to resolve.")
FAULTS = {500: "An unexpected error occurred. Please requery to get status.",
          502: "We received an unexpected response from your service provider",
          503: UNAVAILABLE}


@dataclass(frozen=True, slots=True)
class Customer:
    """What /check/meter says about a meter, and how the sandbox answers a vend to it."""

    meter: str
    disco: str
    vend_type: str
    name: str
    address: str
    behaviour: str = GENERATED
    band: str = "A"
    min_vend: Decimal = MIN_PREPAID
    max_vend: Decimal = MAX_VEND
    outstanding: Decimal = Decimal(0)
    debt_repayment: Decimal = Decimal(0)  # share of each net payment that goes to the debt (guess)
    # Where the debt share is counted (both are guesses, §8): left out of amountGenerated
    # (False), or inside it, so that amountGenerated + tax = totalAmountPaid as on production
    # records (§13) and only the units show what the debt took (True).
    debt_in_generated: bool = False
    note: str = ""

    @property
    def rate(self) -> Decimal:
        return BAND_RATES[self.band]

    @property
    def tariff_class(self) -> str:
        return f"NON MD BAND {self.band}"

    @property
    def tariff_desc(self) -> str:
        return f"Band {self.band} ({BAND_HOURS[self.band]}+ hours of supply a day)"

    @property
    def faultable(self) -> bool:
        return self.behaviour not in SCRIPTED

    @property
    def extra_parcels(self) -> tuple[str, ...]:
        return EXTRA_PARCELS.get(self.behaviour, ()) if self.vend_type == "PREPAID" else ()


def _fixture(meter: str, disco: str, behaviour: str, note: str, *, vend_type: str = "PREPAID",
             name: str = "ADEBAYO MUSA OKON", address: str = "12 SAMPLE CLOSE, KUBWA, ABUJA",
             **extra) -> Customer:
    return Customer(meter, disco, vend_type, name, address, behaviour, note=note, **extra)


_PER_DISCO = {  # one always-succeeding PREPAID meter per main disco (11 digits): meter, name, address
    "ABUJA": ("12345678910", "ADEBAYO MUSA OKON", "12 SAMPLE CLOSE, KUBWA, ABUJA"),
    "EKO": ("62010000001", "FUNMILAYO ADEBISI", "4 ADEOLA ODEKU STREET, VICTORIA ISLAND, LAGOS"),
    "IKEJA": ("04271892301", "TUNDE OGUNLEYE", "9 ALLEN AVENUE, IKEJA, LAGOS"),  # leading 0 kept (§10)
    "IBADAN": ("62030000003", "OLUWASEUN ADEYEMI", "21 BODIJA ROAD, BODIJA, IBADAN"),
    "ENUGU": ("62040000004", "CHINEDU OKAFOR", "7 OKPARA AVENUE, INDEPENDENCE LAYOUT, ENUGU"),
    "PH": ("62050000005", "BLESSING ETIM", "15 ABA ROAD, GRA PHASE 2, PORT HARCOURT"),
    "JOS": ("62060000006", "DANJUMA LAWAL", "3 RAYFIELD ROAD, RAYFIELD, JOS"),
    "KADUNA": ("62070000007", "HAUWA UMAR", "11 ALI AKILU ROAD, MALALI, KADUNA"),
    "KANO": ("62080000008", "IBRAHIM BELLO", "5 BOMPAI ROAD, NASSARAWA GRA, KANO"),
    "BENIN": ("62090000009", "OSAGIE IDAHOSA", "18 AIRPORT ROAD, GRA, BENIN CITY"),
    "YOLA": ("62100000011", "AISHA ABUBAKAR", "2 MUBI ROAD, JIMETA, YOLA"),
    "ABA": ("62110000012", "EMEKA NWOSU", "30 FAULKS ROAD, OGBOR HILL, ABA"),
}

_FIXTURES = [
    _fixture(meter, disco, OK, "always succeeds (PREPAID, min 500, max 10,000,000)", name=name, address=address)
    for disco, (meter, name, address) in _PER_DISCO.items()
] + [
    _fixture("55500000001", "ABUJA", PENDING_SUCCESS,
             "202, the requery stays pending (rc 201) pending_requeries times, then SUCCESS"),
    _fixture("55500000002", "ABUJA", PENDING_FAIL,
             "202, pending requeries, then 400 rc 202 'Transaction failed.' and a refund"),
    _fixture("55500000003", "ABUJA", VENDED_500, "vends, then answers 500; the requery finds the token"),
    _fixture("55500000004", "ABUJA", VENDED_502, "vends, then answers 502; the requery finds the token"),
    _fixture("55500000005", "ABUJA", VENDED_DROP, "vends, then closes the socket without an answer"),
    _fixture("55500000006", "ABUJA", VENDED_HANG, "vends, then holds the answer hold_s seconds, then 200"),
    _fixture("55500000007", "ABUJA", MAINTENANCE, "501 'This account requires maintenance…' (nothing vended)"),
    _fixture("5550000008", "ABUJA", POSTPAID_DEBT,
             "POSTPAID account, outstanding 15,234.75; 25 % of each net payment repays the debt",
             vend_type="POSTPAID", name="CHIOMA GRACE EZE", address="8 AMINU KANO CRESCENT, WUSE II, ABUJA",
             min_vend=MIN_POSTPAID, outstanding=Decimal("15234.75"), debt_repayment=Decimal("0.25")),
    _fixture("55500000009", "ABUJA", BELOW_MINIMUM, "minimum vend 1,000: below it answers 400", min_vend=Decimal(1000)),
    _fixture("55500000010", "ABUJA", NO_TOKEN, "vends, answers 200 with token null; the requery has the token"),
    _fixture("55500000011", "ABUJA", KEY_CHANGE, "past the STS key change: parcels TOKEN, KCT1, KCT2 (the customer "
             "types KCT1, KCT2, then the token); ungrouped on /vend, grouped on /transaction",
             name="NGOZI AMAKA IBEKWE", address="3 UNITY STREET, GWARINPA, ABUJA"),
    _fixture("55500000012", "ABUJA", BONUS, "parcels TOKEN, then BONUS (free units, typed last)",
             name="MUSA YUSUF DANJUMA", address="40 MARKET ROAD, GARKI, ABUJA"),
    _fixture("55500000013", "ABUJA", PREPAID_DEBT, "PREPAID, outstanding 1,250.50; 25 % of each payment net of VAT "
             "repays it, inside amountGenerated (amountGenerated + tax = totalAmountPaid), so fewer kWh",
             name="FATIMA ZAINAB BELLO", address="17 CRESCENT WAY, WUSE II, ABUJA",
             outstanding=Decimal("1250.50"), debt_repayment=Decimal("0.25"), debt_in_generated=True),
    _fixture("55500000014", "ABUJA", PENDING_PLAIN_429, "202; its first requery gets 429 'Too Many Requests' in plain "
             "text with Retry-After, then pending requeries, then SUCCESS"),
    _fixture("55500000015", "ABUJA", KEY_CHANGE_BONUS, "parcels TOKEN, BONUS, KCT1, KCT2, as a 2024 sandbox "
             "capture listed them (typed KCT1, KCT2, token, bonus)", name="AMAKA CHIOMA OBI",
             address="9 PALM GROVE, KUBWA, ABUJA"),
    _fixture("0159006592509", "IBADAN", THIRTEEN_DIGITS, "13 digits with a leading 0 (production's IBADAN prepaid); "
             "name and address with trailing and repeated spaces", name="ADEWALE  KOLAWOLE OYELARAN  ",
             address="14  RING ROAD,   IBADAN "),
]
FIXTURE_METERS: dict[str, Customer] = {c.meter: c for c in _FIXTURES}

_FIRST = ("ADEBAYO", "CHIOMA", "EMEKA", "FATIMA", "IBRAHIM", "NGOZI", "OLUWASEUN", "AISHA", "TUNDE",
          "AMAKA", "MUSA", "FUNMILAYO", "YUSUF", "BLESSING", "CHINEDU", "HAUWA", "SEGUN", "ZAINAB")
_LAST = ("OKON", "EZE", "BELLO", "ADEYEMI", "OKAFOR", "ABUBAKAR", "NWOSU", "OGUNLEYE", "DANJUMA",
         "IBEKWE", "LAWAL", "ADEBISI", "UMAR", "OBI", "ETIM", "OYELARAN")
_STREETS = ("SAMPLE CLOSE", "MARKET ROAD", "UNITY STREET", "CHURCH STREET", "STATION ROAD",
            "HOSPITAL ROAD", "ZION AVENUE", "PALM GROVE", "CRESCENT WAY", "INDEPENDENCE ROAD")
_AREAS = {
    "ABUJA": ("KUBWA", "WUSE II", "GARKI", "GWARINPA"), "EKO": ("LEKKI", "AJAH", "SURULERE"),
    "IKEJA": ("IKEJA GRA", "IKORODU", "AGEGE", "MAGODO"), "IBADAN": ("BODIJA", "RING ROAD", "DUGBE"),
    "ENUGU": ("NEW HAVEN", "TRANS-EKULU"), "PH": ("RUMUOLA", "TRANS-AMADI"), "JOS": ("RAYFIELD", "BUKURU"),
    "KADUNA": ("BARNAWA", "MALALI"), "KANO": ("SABON GARI", "NASSARAWA"), "BENIN": ("UGBOWO", "GRA"),
    "YOLA": ("JIMETA",), "ABA": ("OGBOR HILL",),
}
_CITIES = {"EKO": "LAGOS", "IKEJA": "LAGOS", "PH": "PORT HARCOURT", "BENIN": "BENIN CITY"}


def well_formed(meter: str) -> bool:
    """The sandbox's meter rule (§10): digits only, 6 to 13 long."""
    return meter.isascii() and meter.isdigit() and 6 <= len(meter) <= 13


def lookup(meter: str, disco: str, vend_type: str, seed: object = None) -> Customer | None:
    """The customer behind a meter, or None where BuyPower would say "Unable to validate meter".

    A fixture meter only answers to its own disco and vend type; a meter ending in 0000
    is "not found"; any other well-formed meter is a generated customer of that disco.
    """
    fixture = FIXTURE_METERS.get(meter)
    if fixture is not None:
        return fixture if (fixture.disco, fixture.vend_type) == (disco, vend_type) else None
    if not well_formed(meter) or meter.endswith("0000"):
        return None
    rng = random.Random(f"{seed}:{disco}:{meter}")  # str seeds hash with sha512: stable across runs
    area = rng.choice(_AREAS.get(disco, (disco,)))
    city = _CITIES.get(disco, disco)
    name = " ".join(rng.sample(_FIRST, 2) + [rng.choice(_LAST)])
    address = f"{rng.randint(1, 120)} {rng.choice(_STREETS)}, {area}, {city}"
    band = rng.choice("AAABBCDE")
    minimum = MIN_PREPAID if vend_type == "PREPAID" else MIN_POSTPAID
    return Customer(meter, disco, vend_type, name, address, GENERATED, band, minimum)


@dataclass(frozen=True, slots=True)
class Price:
    """The split of a payment: generated + tax (+ debt, unless it is inside generated) = total (§8)."""

    total: Decimal
    tax: Decimal
    debt: Decimal
    generated: Decimal
    units: Decimal | None
    debt_remaining: Decimal


def price(amount: Decimal, customer: Customer, outstanding: Decimal) -> Price:
    """7.5 % VAT inside the amount, then the debt share, then kWh at the band's rate for what is left."""
    tax = (amount * VAT / (1 + VAT)).quantize(CENT, ROUND_HALF_UP)
    net = amount - tax
    debt = min(outstanding, (net * customer.debt_repayment).quantize(CENT, ROUND_HALF_UP))
    energy = net - debt
    units = (energy / customer.rate).quantize(CENT, ROUND_HALF_UP) if customer.vend_type == "PREPAID" else None
    return Price(amount, tax, debt, net if customer.debt_in_generated else energy, units, outstanding - debt)


def grouped(token: str) -> str:
    """20 digits as 4-4-4-4-4, the way BuyPower shows tokens."""
    return "-".join(token[i:i + 4] for i in range(0, len(token), 4))
