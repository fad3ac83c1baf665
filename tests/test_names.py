"""Issue 13: the name check after the lookup. The comparison itself (core/names.py), then a
batch looked up at the sandbox: the warning, the editor's "name differs" view, the plan's
count, the CLI's summary, and an edit followed by a new lookup."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buypower_tui.cli import main
from buypower_tui.core import editing
from buypower_tui.core.names import PREFIX, name_warning, names_differ, with_name_warning
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from tests.ui_support import services


@pytest.mark.parametrize("sheet, buypower, differ", [
    ("Adebayo Musa Okon", "ADEBAYO MUSA OKON", False),
    ("Mr. adebayo", "ADEBAYO MUSA OKON", False),  # one shared word is enough
    ("Alhaji Dr. Musa, Flat 4 Blk C", "MUSA YUSUF", False),
    ("Adébáyọ̀ Okon", "ADEBAYO OKON", False),  # accents (Yoruba tone marks) are no difference
    ("Ade\u200bbayo", "ADEBAYO", False),  # nor a zero-width space
    ("Adeyemi-Bello", "BELLO TUNDE", False),
    ("O'Neil John", "ONEIL JOHN", False),
    ("Mrs. Grace Johnson, Flat 4", "ADEBAYO MUSA OKON", True),
    ("Chief Engr. Okon", "CHIEF ENGR. BELLO", True),  # titles are no name: they match nothing
    ("Shop 12, Plot 4", "ADEBAYO OKON", False),  # no name left: nothing to compare
    ("A. B.", "ADEBAYO BELLO", False),  # initials neither match nor differ
    ("", "ADEBAYO", False),
    ("Tunde", None, False),
    ("Prince Okoro", "PRINCE EZE", False),  # Prince is a first name here, not a title
])
def test_names_compare_by_their_words(sheet, buypower, differ):
    assert names_differ(sheet, buypower) is differ
    assert names_differ(buypower, sheet) is differ
    assert (name_warning(sheet, buypower) is not None) is differ


def test_the_warning_quotes_both_names_and_keeps_the_other_warnings():
    hidden = {"field": "name", "message": "name contains characters that cannot be seen"}
    stale = {"field": "name", "message": f"{PREFIX}sheet Old, BuyPower OTHER"}
    warnings = with_name_warning([hidden, stale], "Grace  Johnson\u202e", "ADEBAYO OKON")
    assert warnings == [hidden, {"field": "name", "message":
                                 "name differs: sheet Grace Johnson⟨U+202E⟩, BuyPower ADEBAYO OKON"}]
    assert with_name_warning([hidden, stale], "Adebayo", "ADEBAYO OKON") == [hidden]
    assert with_name_warning([stale], "Adebayo", "ADEBAYO OKON") is None


NAME = st.text(st.sampled_from("abcAB éÉ.,-'0"), max_size=12)
DECOR = st.sampled_from(["Mr. ", "MRS ", "Alhaji ", "Dr ", "chief ", "Engr. "])


@settings(max_examples=60, deadline=None)
@given(a=NAME, b=NAME, title=DECOR, flat=st.sampled_from(["", ", Flat 4", " (Blk C, room 2)", " No. 7"]))
def test_the_comparison_is_symmetric_and_a_name_matches_itself(a, b, title, flat):
    assert names_differ(a, b) == names_differ(b, a)
    assert not names_differ(a, a)
    # case, punctuation, titles and flat words change nothing
    assert names_differ(title + a.upper() + flat + "!", b) == names_differ(a, b)


@pytest.fixture
def sandbox(monkeypatch):
    with SandboxServer(SandboxConfig(seed=13, delay=(0,))) as server:
        monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", server.key)
        yield server


# Fixture meters and what the sandbox calls their customers (core/sandbox/fixtures.py).
SHEET = ("meter,disco,amount,phone,name\n"
         "12345678910,ABUJA,1000,08031234567,Mrs. Grace\u200b Johnson\n"  # ADEBAYO MUSA OKON; a hidden character
         "04271892301,IKEJA,1000,08031234567,\"Mr. Tunde Ogunleye, Flat 2\"\n"  # TUNDE OGUNLEYE
         "62010000001,EKO,1000,08031234567,\n"  # FUNMILAYO ADEBISI; no name in the sheet
         "62050000005,PH,1000,08031234567,Chief Ifeoma Obi\n")  # BLESSING ETIM


def test_a_lookup_warns_of_names_that_differ_and_the_views_and_plan_count_them(sandbox, tmp_path, capsys):
    path = tmp_path / "estate.csv"
    path.write_text(SHEET, encoding="utf-8")
    s = services("--sandbox", "--base-url", sandbox.url)
    try:
        batch = s.import_sheet(path).batch_id
        s.lookup(batch, lambda *_: None)
        rows = {r["row_number"]: r for r in s.grid_rows(batch)}
        assert {n: r["state"] for n, r in rows.items()} == dict.fromkeys((2, 3, 4, 5), "VERIFIED")  # still payable
        hidden, name = rows[2]["warnings"]  # the import's warning is kept, first
        assert hidden["message"].startswith("name contains characters") and name == {
            "field": "name", "message": "name differs: sheet Mrs. Grace⟨U+200B⟩ Johnson, BuyPower ADEBAYO MUSA OKON"}
        assert rows[3]["warnings"] is rows[4]["warnings"] is None
        assert editing.row_status(rows[5], {}) == ("warning", "name differs: sheet Chief Ifeoma Obi, "
                                                              "BuyPower BLESSING ETIM")
        differing = [rows[2]["id"], rows[5]["id"]]
        assert s.view_ids(batch, "name differs") == differing and s.view_counts(batch)["name differs"] == 2
        plan = s.plan(batch)
        assert plan.preflight.count == 4 and plan.preflight.name_differs == differing

        assert main(["--sandbox", sandbox.url, "run", str(batch)]) != 0  # not a terminal: not confirmed
        assert "2 rows: the name differs from BuyPower's (sheet rows 2, 5)" in capsys.readouterr().err

        # An edit clears what the lookup said; the next lookup says it again, as the names are now.
        s.edit_row(rows[2]["id"], {"name": "Adebayo Okon"})
        s.edit_row(rows[3]["id"], {"name": "Somebody Else"})
        assert s.view_ids(batch, "name differs") == [rows[5]["id"]]
        s.lookup(batch, lambda *_: None)
        assert s.view_ids(batch, "name differs") == [rows[3]["id"], rows[5]["id"]]
        assert s.row(rows[2]["id"]).warnings is None
    finally:
        s.close()
