"""Tokens in the order the customer types them, what the money bought, and times with their
offset: the helpers the results view, the copy, the export and the CLI share (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from buypower_tui.core.models import Event
from buypower_tui.core.times import local_iso, local_minute, local_second, offset_now
from buypower_tui.core.tokens import copy_text, export_columns, extra_tokens, inline_text, tokens_in_order
from buypower_tui.ui.wording import what_the_money_bought

TOKEN, KCT1, KCT2, BONUS = ("31720458991622035547", "51208874120366550912", "88410097332144702288",
                            "11112222333344445555")
# As a 2024 sandbox requery listed them (§13): the credit token first, KCT last, grouped.
SANDBOX_ORDER = [{"type": "TOKEN", "content": "3172-0458-9916-2203-5547"},
                 {"type": "BONUS", "content": "1111-2222-3333-4444-5555"},
                 {"type": "KCT1", "content": "5120-8874-1203-6655-0912"},
                 {"type": "KCT2", "content": "88410097332144702288"}]


def test_tokens_come_in_typing_order_labelled_grouped_and_once():
    tokens = tokens_in_order(TOKEN, SANDBOX_ORDER)
    assert [(t.kind, t.label) for t in tokens] == [("KCT1", "KCT1"), ("KCT2", "KCT2"), ("TOKEN", "Token"),
                                                   ("BONUS", "Bonus")]
    assert [t.grouped for t in tokens] == ["5120-8874-1203-6655-0912", "8841-0097-3321-4470-2288",
                                           "3172-0458-9916-2203-5547", "1111-2222-3333-4444-5555"]
    assert [t.kind for t in extra_tokens({"token": TOKEN, "parcels": SANDBOX_ORDER})] == ["KCT1", "KCT2", "BONUS"]


def test_a_token_only_in_parcels_or_only_in_token_is_listed_once():
    assert [t.content for t in tokens_in_order(None, [{"type": "TOKEN", "content": TOKEN}])] == [TOKEN]
    assert [t.content for t in tokens_in_order(TOKEN, None)] == [TOKEN]
    twice = [{"type": "KCT1", "content": KCT1}, {"type": "KCT1", "content": KCT1}]
    assert [t.kind for t in tokens_in_order(TOKEN, twice)] == ["KCT1", "TOKEN"]
    assert tokens_in_order(None, []) == []


def test_a_parcel_we_do_not_know_is_kept_after_the_known_ones():
    tokens = tokens_in_order(TOKEN, [{"type": "free", "content": BONUS}, {"type": "KCT2", "content": KCT2}])
    assert [(t.kind, t.label) for t in tokens] == [("KCT2", "KCT2"), ("TOKEN", "Token"), ("FREE", "Free")]


def test_copy_is_the_bare_token_alone_or_one_labelled_line_each():
    assert copy_text(tokens_in_order(TOKEN, [{"type": "TOKEN", "content": TOKEN}])) == "3172-0458-9916-2203-5547"
    assert copy_text(tokens_in_order(TOKEN, SANDBOX_ORDER)) == (
        "KCT1: 5120-8874-1203-6655-0912\nKCT2: 8841-0097-3321-4470-2288\n"
        "Token: 3172-0458-9916-2203-5547\nBonus: 1111-2222-3333-4444-5555")
    assert inline_text(tokens_in_order(TOKEN, SANDBOX_ORDER)) == (
        "KCT1 5120-8874-1203-6655-0912, KCT2 8841-0097-3321-4470-2288, token 3172-0458-9916-2203-5547, "
        "bonus 1111-2222-3333-4444-5555")


def test_export_columns_are_grouped_and_empty_when_absent():
    assert export_columns(TOKEN, SANDBOX_ORDER) == {
        "kct1": "5120-8874-1203-6655-0912", "kct2": "8841-0097-3321-4470-2288",
        "token": "3172-0458-9916-2203-5547", "bonus_token": "1111-2222-3333-4444-5555", "other_tokens": ""}
    assert export_columns(None, None) == {"kct1": "", "kct2": "", "token": "", "bonus_token": "", "other_tokens": ""}
    odd = export_columns(TOKEN, [{"type": "KCT 1", "content": "9" * 20}, {"type": "=HYPERLINK(x)", "content": "12"}])
    assert odd["other_tokens"] == "KCT 1: 9999-9999-9999-9999-9999; =HYPERLINK(X): 12"  # nothing is lost


def test_what_the_money_bought_says_energy_vat_debt_and_units():
    row = {"amount_kobo": 100000, "amount_generated": Decimal("930.23"), "tax": Decimal("69.77"),
           "debt_amount": Decimal("0.00"), "debt_remaining": Decimal("1250.50"), "units": Decimal("4.4")}
    assert what_the_money_bought(row) == ("₦1,000.00 paid: ₦930.23 energy + ₦69.77 VAT, ₦0.00 to debt "
                                          "(₦1,250.50 left), 4.4 kWh")
    assert what_the_money_bought(row | {"debt_remaining": Decimal(0), "units": Decimal(0)}) == (
        "₦1,000.00 paid: ₦930.23 energy + ₦69.77 VAT, no debt, 0 kWh")
    old = {"amount_kobo": 100000, "amount_generated": None, "tax": None, "debt_amount": None,
           "debt_remaining": None, "units": None}  # paid before BuyPower's split was stored
    assert what_the_money_bought(old) == "₦1,000.00 paid"


def test_times_are_local_with_their_offset(lagos):
    utc = datetime(2026, 12, 1, 8, 14, 3, tzinfo=UTC)
    naive = utc.replace(tzinfo=None)  # as SQLite hands it back: UTC without a zone
    for at in (utc, naive):
        assert local_iso(at) == "2026-12-01T09:14:03+01:00"
        assert local_minute(at) == "2026-12-01 09:14 +01:00"
        assert local_second(at) == "2026-12-01 09:14:03 +01:00"
    assert offset_now() == "+01:00"
    assert local_minute(utc, header_offset="+01:00") == "2026-12-01 09:14"  # the header names it
    assert local_minute(utc, header_offset="+00:00") == "2026-12-01 09:14 +01:00"
    assert local_iso(None) == local_minute(None) == ""


def test_history_shows_local_time_with_its_offset(lagos):
    from rich.console import Console

    from buypower_tui.ui.modals.history import history_table

    event = Event(at=datetime(2026, 12, 1, 8, 14, 3), operator="ade", old_state="SENDING", new_state="SUCCESS",
                  http_status=200, note="vend: success")
    console = Console(width=120, record=True)
    console.print(history_table([event]))
    assert "2026-12-01 09:14:03 +01:00" in console.export_text()


@pytest.mark.parametrize("rate,text", [(0.9965, "99.65%"), (1.0, "100%"), (0.99999, "99.99%"), (0.0, "0%"),
                                       (0.00001, "0.01%"), (0.5, "50%"), (0.123, "12.3%")])
def test_a_rate_is_never_rounded_to_all_or_nothing(rate, text):
    from buypower_tui.core.values import percent

    assert percent(rate) == text
