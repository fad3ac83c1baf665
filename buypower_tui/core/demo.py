"""The demo's world: a private home, a sandbox BuyPower in a thread, and a sample batch.

Headless so that `buypower-tui --demo` (the TUI) and the tests share it. Nothing of the
operator's is touched: the home is a fresh folder, the key lives in memory only.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from buypower_tui.core.importing import import_file
from buypower_tui.core.rules import Limits
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from buypower_tui.core.sandbox.fixtures import lookup
from buypower_tui.core.store import Store

# (meter, disco, amount, phone, vend type, name): every branch the sandbox can play, the
# shapes real sheets come in, invalid rows to fix, duplicates to accept, markup to survive,
# and the shapes of production's answers: key-change and bonus tokens, a 13-digit meter, debt.
# A name says the row's scenario, then a name that shares a word with the sandbox's customer
# for the meter, so that a lookup finds the names agree on every row but one (row 3, which
# shows the "name differs" warning). "{}" is a generated customer, whose name depends on the
# sandbox's seed: demo_rows() fills it in.
DEMO_ROWS = [
    ("12345678910", "ABUJA", "5000", "08034210294", "", "Adebayo Musa Okon"),
    ("62010000001", "Eko Electric", "₦2,500", "+234 803 123 4567", "prepaid",
     "Tunde Bakare (tenant; name differs from BuyPower's)"),  # the one row whose name differs
    ("04271892301", "IKEDC", "NGN 10000", "0803-765-4321", "", "Mr. T. Ogunleye"),
    ("62030000003", "IBEDC", "1500.50", "07051112222", "", "Seun Adeyemi"),
    ("62040000004", "EEDC", "3000", "08121234567", "", "Chinedu Okafor"),
    ("62050000005", "Port Harcourt", "7500", "(0816) 222 3333", "", "Mrs Blessing Etim"),
    ("62060000006", "JED", "1200", "09031234567", "", "Engr. Danjuma Lawal"),
    ("62070000007", "KAEDCO", "4000", "08091234567", "", "Hajiya Hauwa Umar"),
    ("62080000008", "KEDCO", "2000", "07011223344", "", "Alhaji Ibrahim Bello"),
    ("62090000009", "BEDC", "6000", "08055556666", "", "Osagie Idahosa"),
    ("62100000011", "YEDC", "1000", "08066667777", "", "Aisha Abubakar"),
    ("62110000012", "ABA", "2500", "08077778888", "", "Emeka Nwosu, Flat 2"),
    ("55500000001", "ABUJA", "3000", "08031112222", "", "Pending then paid: Adebayo Okon"),
    ("55500000002", "ABUJA", "3000", "08031113333", "", "Pending then failed: A. M. Okon"),
    ("55500000003", "ABUJA", "2000", "08031114444", "", "Error 500 but paid: Adebayo Okon"),
    ("55500000005", "ABUJA", "2000", "08031115555", "", "Connection dropped but paid: Musa Okon"),
    ("55500000007", "ABUJA", "1500", "08031116666", "", "Meter needs maintenance: Adebayo Okon"),
    ("5550000008", "ABUJA", "20000", "08031117777", "POSTPAID", "Postpaid with debt: Chioma Eze"),
    ("55500000009", "ABUJA", "600", "08031118888", "", "Below this meter's minimum: Adebayo Okon"),
    ("55500000010", "ABUJA", "1000", "08031119999", "", "Paid, token on requery: Adebayo Musa"),
    ("45143922321", "ABUJA", "2500", "08037654321", "", "[/x] markup in a name: {}"),
    ("31180000015", "IBADAN", "5000", "08129876543", "", "[b]Bold[/b] markup in a name: {}"),
    ("71120000018", "KANO", "1200", "07011223344", "", "Duplicate meter (1): {}"),
    ("71120000018", "KANO", "1200", "07011223344", "", "Duplicate meter (2): {}"),
    ("81330000016", "JOS", "600", "09112345678", "", "{}"),
    ("54150000029", "PH", "750", "09031234568", "", "{}"),
    ("12345670000", "EKO", "1000", "08031234560", "", "Meter not found: Kemi Adewale"),
    ("4271892311", "IKEJA", "1000", "08031234561", "", "Lost its leading zero: {}"),
    ("62010000101", "LAGOS", "1000", "08031234562", "", "Unknown disco: {}"),
    ("62030000013", "IBADAN", "50", "08031234563", "", "Amount too small: {}"),
    ("62030000023", "IBADAN", "1.000,00", "08031234564", "", "European decimal comma: {}"),
    ("62030000033", "IBADAN", "2000", "0803123", "", "Phone too short: {}"),
    ("62030000043", "IBADAN", "250000", "08031234565", "", "Amount too large: {}"),
    ("62030000053", "IBADAN", "", "08031234566", "", "Amount missing: {}"),
    # What production answers look like (buypower-api.md §13).
    ("55500000011", "ABUJA", "3000", "08031120011", "", "Key change, KCT1 and KCT2 first: Ngozi Ibekwe"),
    ("55500000012", "ABUJA", "2000", "08031120012", "", "Bonus token: Musa Danjuma"),
    ("0159006592509", "IBEDC", "4000", "08031120013", "", "13-digit IBADAN meter: Adewale Oyelaran"),
    ("55500000013", "ABUJA", "2000", "08031120014", "", "Prepaid with debt: Fatima Bello"),
]
# Generated customers fill the batch to fifty rows.
DEMO_ROWS += [(f"7{i:010d}", ["IKEJA", "EKO", "ABUJA", "KANO"][i % 4], str(500 + 250 * (i % 9)),
               f"080{31000000 + i:08d}", "", "{}") for i in range(1, 13)]
DEMO_SEED = 1  # `buypower-tui --demo`'s sandbox seed unless --demo-seed says otherwise
# The meter and disco of a row the import rejects, as the operator fixes them (the lost
# leading zero put back, Lagos's meter at EKO): its name is the customer the lookup then finds.
_FIXED = {"4271892311": ("04271892311", "IKEJA"), "62010000101": ("62010000101", "EKO")}


def demo_rows(seed: int = DEMO_SEED) -> list[tuple[str, ...]]:
    """DEMO_ROWS with each "{}" made the first and last name of the customer the sandbox with
    this seed generates for the row's meter (fixtures.lookup, so the two cannot drift apart)."""
    out = []
    for meter, disco, amount, phone, vend_type, name in DEMO_ROWS:
        if "{}" in name:
            words = lookup(*_FIXED.get(meter, (meter, disco)), vend_type.upper() or "PREPAID", seed).name.split()
            name = name.format(f"{words[0]} {words[-1]}".title())
        out.append((meter, disco, amount, phone, vend_type, name))
    return out


@dataclass
class Demo:
    home: Path
    sandbox: SandboxServer
    store: Store
    batch_id: int

    @property
    def key(self) -> str:
        return self.sandbox.key

    def close(self) -> None:
        self.store.close()
        self.sandbox.stop()


def write_demo_sheet(path: Path, seed: int = DEMO_SEED) -> Path:
    """The demo's sheet, its names agreeing with the sandbox's customers for `seed`."""
    import csv

    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Meter Number", "Disco", "Amount (NGN)", "Phone Number", "Meter Type", "Customer Name"])
        writer.writerows(demo_rows(seed))
    return path


def start_demo(home: Path, seed: int = DEMO_SEED) -> Demo:
    """A sandbox on a free loopback port, a store in `home`, and the demo batch imported."""
    sandbox = SandboxServer(SandboxConfig(seed=seed, key=secrets.token_hex(32), requery_cooldown_s=2,
                                          delay=(2, 2, 2), hold_s=5)).start()
    home.mkdir(parents=True, exist_ok=True)
    store = Store.open(f"sqlite:///{home / 'demo.db'}")
    report = import_file(write_demo_sheet(home / "demo-recipients.csv", seed), store, Limits(),
                         name="Demo estate (sandbox)", mode="sandbox")
    return Demo(home, sandbox, store, report.batch_id)
