"""The results view after a sandbox run of meters past the key change and with a bonus token:
what it shows and what `c` copies (issue 11, point 2)."""

from __future__ import annotations

import pytest

from buypower_tui.cli import main
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.screens.results import ResultsScreen
from tests.ui_support import SIZE, screen_text, services, settle, steady_screen  # noqa: F401 - autouse fixture

KCT, BONUS, KCT_AND_BONUS, PLAIN = "55500000011", "55500000012", "55500000015", "12345678910"


def grouped(digits: str) -> str:
    return "-".join(digits[i:i + 4] for i in range(0, 20, 4))


@pytest.fixture
def paid(tmp_path, monkeypatch, capsys):
    """Batch 1, paid by `buypower-tui run` against the sandbox: one row per meter above."""
    with SandboxServer(SandboxConfig(seed=9, requery_cooldown_s=0, delay=(0,))) as server:
        monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", server.key)
        sheet = tmp_path / "estate.csv"
        sheet.write_text("meter,disco,amount,phone\n" + "".join(
            f"{m},ABUJA,1000,08031234567\n" for m in (PLAIN, KCT, BONUS, KCT_AND_BONUS)))
        assert main(["--sandbox", server.url, "import", str(sheet)]) == 0
        assert main(["--sandbox", server.url, "run", "1", "--yes"]) == 0
        capsys.readouterr()
        orders = {v["meter"]: server.ledger.order(v["orderId"]) for v in server.ledger.vends()}
        yield server, orders


def expected_copy(order) -> str:
    extra = {p["type"]: grouped(p["content"]) for p in order.extra_parcels}
    lines = [(label, extra.get(kind)) for kind, label in (("KCT1", "KCT1"), ("KCT2", "KCT2"))]
    lines += [("Token", grouped(order.token)), ("Bonus", extra.get("BONUS"))]
    return "\n".join(f"{label}: {value}" for label, value in lines if value)


async def test_copy_puts_every_token_of_the_row_in_one_copy_in_typing_order(paid):
    server, orders = paid
    app = BuyPowerApp(services("--sandbox", "--base-url", server.url), recover=False)
    copies: list[str] = []
    copy = app.copy_to_clipboard
    app.copy_to_clipboard = lambda text: (copies.append(text), copy(text))[-1]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, quiet=True)
        app.push_screen(ResultsScreen(1))
        await pilot.pause(0.3)
        table = app.screen.table
        by_meter = {r["meter"]: r for r in map(app.screen.row, table.ids)}

        async def copy_row(meter: str) -> None:
            table.move_cursor(row=table.get_row_index(by_meter[meter]["id"]))
            await pilot.pause()
            await pilot.press("c")
            await pilot.pause()

        await copy_row(KCT_AND_BONUS)  # BuyPower listed TOKEN, BONUS, KCT1, KCT2
        four = expected_copy(orders[KCT_AND_BONUS])
        assert copies == [four] and app.clipboard == four
        assert [line.split(":")[0] for line in four.splitlines()] == ["KCT1", "KCT2", "Token", "Bonus"]
        shown = screen_text(app)
        assert "Type in this order: KCT1 " + grouped(orders[KCT_AND_BONUS].extra_parcels[1]["content"]) in shown
        assert "+KCT" in shown and "+bonus" in shown  # the table marks the rows with more than one token
        assert any("The 4 tokens of row 5 (KCT1, KCT2, Token, Bonus)" in n.message for n in app._notifications)

        await copy_row(KCT)
        assert copies[-1] == expected_copy(orders[KCT]) and copies[-1].count("\n") == 2
        await copy_row(BONUS)
        assert copies[-1].splitlines() == [f"Token: {grouped(orders[BONUS].token)}",
                                           f"Bonus: {grouped(orders[BONUS].extra_parcels[0]['content'])}"]
        await copy_row(PLAIN)  # one token: just the token, as before
        assert copies[-1] == grouped(orders[PLAIN].token) and len(copies) == 4
