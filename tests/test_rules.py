"""Table-driven cases for every recipient rule (issue 2, section 4), plus property tests.

Contract checked throughout: a rule returns `(value, None)` or `(None, message)`, and every
message names its field (the field's name appears in the message).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buypower_tui.core.rules import (
    DISCOS,
    FIELDS,
    CheckedRow,
    Limits,
    ValidRecipient,
    check_amount,
    check_disco,
    check_email,
    check_meter,
    check_name,
    check_phone,
    check_row,
    check_vend_type,
    duplicate_warning,
    escape_hidden,
    naira,
)

DEFAULT = Limits()


def accepted(result):
    value, message = result
    assert message is None, message
    return value


def rejected(result, field: str) -> str:
    value, message = result
    assert value is None
    assert isinstance(message, str) and message.strip()
    assert field in message, f"message does not name the field {field!r}: {message!r}"
    return message


# -- meter ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "vend_type", "limits", "expected"),
    [
        ("04271892301", "PREPAID", DEFAULT, "04271892301"),
        ("0427 189 2301", "PREPAID", DEFAULT, "04271892301"),
        ("0427-189-2301", "PREPAID", DEFAULT, "04271892301"),
        (" 0427 - 189 - 2301 ", "PREPAID", DEFAULT, "04271892301"),
        ("00000000001", "PREPAID", DEFAULT, "00000000001"),  # leading zeros kept
        ("45067198783", None, DEFAULT, "45067198783"),  # unknown vend type checks as PREPAID
        ("0123456789012", "PREPAID", DEFAULT, "0123456789012"),
        ("01234567890", "PREPAID", Limits(prepaid_lengths=(11, 13)), "01234567890"),
        ("012345", "POSTPAID", DEFAULT, "012345"),  # 6: postpaid minimum
        ("0123456789012345", "POSTPAID", DEFAULT, "0123456789012345"),  # 16: maximum
        ("0123-4567 89", "POSTPAID", DEFAULT, "0123456789"),
        ("0123", "POSTPAID", Limits(postpaid_min=4, postpaid_max=4), "0123"),
    ],
)
def test_meter_accepted(raw, vend_type, limits, expected):
    assert accepted(check_meter(raw, vend_type, limits)) == expected


@pytest.mark.parametrize(
    ("raw", "vend_type", "limits", "hint"),
    [
        ("", "PREPAID", DEFAULT, "empty"),
        ("   ", "PREPAID", DEFAULT, "empty"),
        ("0427189230", "PREPAID", DEFAULT, "10 digits"),  # 10 digits: too short
        ("042718923011", "PREPAID", DEFAULT, "12 digits"),
        ("0123456789012", "PREPAID", Limits(prepaid_lengths=(11,)), "13 digits"),  # 13 refused when only 11 is allowed
        ("012345678901", "PREPAID", Limits(prepaid_lengths=(11, 13)), "12 digits"),
        ("0427189230A", "PREPAID", DEFAULT, "only digits"),
        ("04271892301.0", "PREPAID", DEFAULT, "only digits"),
        ("4.271892301E10", "PREPAID", DEFAULT, "only digits"),
        ("0427_189_2301", "PREPAID", DEFAULT, "only digits"),
        ("０４２７１８９２３０１", "PREPAID", DEFAULT, "only digits"),  # full-width digits
        ("٠٤٢٧١٨٩٢٣٠١", "PREPAID", DEFAULT, "only digits"),  # Arabic-Indic digits
        ("+04271892301", "PREPAID", DEFAULT, "only digits"),
        ("01234", "POSTPAID", DEFAULT, "5 digits"),  # below postpaid minimum
        ("01234567890123456", "POSTPAID", DEFAULT, "17 digits"),  # above maximum
        ("01234x", "POSTPAID", DEFAULT, "only digits"),
    ],
)
def test_meter_rejected(raw, vend_type, limits, hint):
    message = rejected(check_meter(raw, vend_type, limits), "meter")
    assert hint in message


def test_meter_lost_leading_zero_hint():
    message = rejected(check_meter("4271892301", "PREPAID", DEFAULT), "meter")
    assert "leading 0" in message
    # No such hint when one more digit would still not make a valid length.
    assert "leading 0" not in rejected(check_meter("427189230", "PREPAID", DEFAULT), "meter")


def test_meter_message_lists_allowed_lengths():
    message = rejected(check_meter("012345678901", "PREPAID", Limits(prepaid_lengths=(11, 13))), "meter")
    assert "11 or 13" in message
    message = rejected(check_meter("01234", "POSTPAID", Limits(postpaid_min=7, postpaid_max=9)), "meter")
    assert "7 to 9" in message


# -- disco ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[(code, code) for code in DISCOS],
        ("ikeja", "IKEJA"),
        ("  Eko  ", "EKO"),
        ("aBuJa", "ABUJA"),
        ("IKEDC", "IKEJA"),
        ("ikedc", "IKEJA"),
        ("Ikeja Electric", "IKEJA"),
        ("IKEJA ELECTRIC", "IKEJA"),
        ("Ikeja Electric Plc", "IKEJA"),
        ("EKEDC", "EKO"),
        ("AEDC", "ABUJA"),
        ("PHED", "PH"),
        ("Port Harcourt", "PH"),
        ("port harcourt", "PH"),
        ("IBEDC", "IBADAN"),
        ("EEDC", "ENUGU"),
        ("JED", "JOS"),
        ("KAEDCO", "KADUNA"),
        ("KEDCO", "KANO"),
        ("BEDC", "BENIN"),
        ("YEDC", "YOLA"),
        (" yedc ", "YOLA"),
    ],
)
def test_disco_accepted(raw, expected):
    assert accepted(check_disco(raw)) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "LAGOS", "BH", "XYZ", "IKEJAA", "Electric", "Power Company Plc", "1234", "IKEJA EKO"],
)
def test_disco_rejected(raw):
    rejected(check_disco(raw), "disco")


# -- amount --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1000", "1000.00"),
        ("1,000", "1000.00"),
        ("1000.50", "1000.50"),
        ("1000.5", "1000.50"),
        ("₦1,000", "1000.00"),
        ("₦ 1,000.25", "1000.25"),
        ("NGN 1000", "1000.00"),
        ("ngn1000", "1000.00"),
        (" 1000 ", "1000.00"),
        ("100", "100.00"),  # lower bound inclusive
        ("100.00", "100.00"),
        ("100000", "100000.00"),  # upper bound inclusive
        ("100,000.00", "100000.00"),
        ("99,999.99", "99999.99"),
    ],
)
def test_amount_accepted(raw, expected):
    value = accepted(check_amount(raw, DEFAULT))
    assert type(value) is Decimal
    assert value == Decimal(expected)
    assert str(value) == expected  # held to the kobo


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("0", "below the minimum"),
        ("0.00", "below the minimum"),
        ("-1000", "negative"),
        ("-1,000.00", "negative"),
        ("₦-1000", "negative"),
        ("1000.505", "more than 2 decimals"),
        ("1,000.123", "more than 2 decimals"),
        ("ten thousand", "not a naira amount"),
        ("abc", "not a naira amount"),
        ("1000 naira", "not a naira amount"),
        ("1.000,00", "dots for thousands"),
        ("1.000.000", "dots for thousands"),
        ("1,00", "not a naira amount"),
        ("1e3", "not a naira amount"),
        ("NaN", "not a naira amount"),
        ("Infinity", "not a naira amount"),
        ("99.99", "below the minimum"),
        ("100000.01", "above the maximum"),
        ("1,000,000", "above the maximum"),
        ("１０００", "not a naira amount"),  # full-width digits
        ("١٠٠٠", "not a naira amount"),  # Arabic-Indic digits
    ],
)
def test_amount_rejected(raw, hint):
    message = rejected(check_amount(raw, DEFAULT), "amount")
    assert hint in message


@pytest.mark.parametrize(
    ("raw", "limits", "ok"),
    [
        ("50", Limits(amount_min=Decimal("50")), True),
        ("49.99", Limits(amount_min=Decimal("50")), False),
        ("200000", Limits(amount_max=Decimal("200000")), True),
        ("200000.01", Limits(amount_max=Decimal("200000")), False),
        ("100", Limits(amount_min=Decimal("500"), amount_max=Decimal("1000")), False),
        ("1000", Limits(amount_min=Decimal("500"), amount_max=Decimal("1000")), True),
        ("1000.01", Limits(amount_min=Decimal("500"), amount_max=Decimal("1000")), False),
    ],
)
def test_amount_bounds_are_configurable(raw, limits, ok):
    result = check_amount(raw, limits)
    if ok:
        assert accepted(result) == Decimal(raw)
    else:
        message = rejected(result, "amount")
        assert naira(limits.amount_min) in message or naira(limits.amount_max) in message


def test_amount_is_exact_decimal_not_float():
    # 0.1 + 0.2 style drift would show here if a float were involved anywhere.
    value = accepted(check_amount("1000.10", DEFAULT)) + accepted(check_amount("1000.20", DEFAULT))
    assert value == Decimal("2000.30")
    assert not isinstance(accepted(check_amount("1000.10", DEFAULT)), float)


def test_naira_formatting():
    assert naira(Decimal("1234.5")) == "₦1,234.50"
    assert naira(Decimal("100000")) == "₦100,000.00"


# -- phone ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("08031234567", "08031234567"),
        ("07031234567", "07031234567"),
        ("08131234567", "08131234567"),
        ("09031234567", "09031234567"),
        ("09131234567", "09131234567"),
        ("+2348031234567", "08031234567"),
        ("2348031234567", "08031234567"),
        ("+234 803 123 4567", "08031234567"),
        ("+234-803-123-4567", "08031234567"),
        ("+234 (0) 803 123 4567", "08031234567"),
        ("(0803) 123-4567", "08031234567"),
        ("0803 123 4567", "08031234567"),
        ("0803-123-4567", "08031234567"),
        ("  08031234567  ", "08031234567"),
        ("8031234567", "08031234567"),  # a numeric cell lost its leading 0
    ],
)
def test_phone_accepted(raw, expected):
    assert accepted(check_phone(raw)) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "08231234567",  # 082 is not a mobile prefix
        "06031234567",
        "01234567890",
        "+2346031234567",
        "0803123456",  # 10 digits
        "080312345678",  # 12 digits
        "+23480312345",
        "2348031234567890",
        "0803123456a",
        "o8031234567",
        "phone",
        "+44 20 7946 0958",
        "0803 123 4567 ext 2",
        "０８０３１２３４５６７",  # full-width digits
    ],
)
def test_phone_rejected(raw):
    rejected(check_phone(raw), "phone")


def test_phone_empty_takes_default_or_is_an_error():
    assert accepted(check_phone("", "08031234567")) == "08031234567"
    assert accepted(check_phone("   ", "08031234567")) == "08031234567"
    message = rejected(check_phone(""), "phone")
    assert "empty" in message
    # A non-empty cell is checked even when a default exists.
    rejected(check_phone("123", "08031234567"), "phone")


# -- vend type, email, name ------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "PREPAID"),
        ("   ", "PREPAID"),
        ("PREPAID", "PREPAID"),
        ("prepaid", "PREPAID"),
        ("Prepaid", "PREPAID"),
        (" pre-paid ", "PREPAID"),
        ("POSTPAID", "POSTPAID"),
        ("postpaid", "POSTPAID"),
        ("Post Paid", "POSTPAID"),
        ("post_paid", "POSTPAID"),
    ],
)
def test_vend_type_accepted(raw, expected):
    assert accepted(check_vend_type(raw)) == expected


@pytest.mark.parametrize("raw", ["PRE", "PAID", "monthly", "token", "PREPAIDX", "0", "prepaid postpaid"])
def test_vend_type_rejected(raw):
    rejected(check_vend_type(raw), "vend_type")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", None),
        ("   ", None),
        ("ada@example.com", "ada@example.com"),
        ("  ada.obi+bills@mail.example.ng ", "ada.obi+bills@mail.example.ng"),
    ],
)
def test_email_accepted(raw, expected):
    assert check_email(raw) == (expected, None)


@pytest.mark.parametrize(
    "raw", ["ada", "ada@", "@example.com", "ada@example", "ada@@example.com", "ada @example.com", "ada@example."]
)
def test_email_rejected(raw):
    rejected(check_email(raw), "email")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", None),
        ("   ", None),
        ("  Ada   Obi ", "Ada Obi"),
        ("Ngozi\tEze", "Ngozi Eze"),
        ("Ọlá Adébáyọ̀", "Ọlá Adébáyọ̀"),  # any Unicode
        ("李雷", "李雷"),
    ],
)
def test_name(raw, expected):
    assert check_name(raw) == (expected, None)


def test_duplicate_warning_names_meter_and_count():
    field, message = duplicate_warning("04271892301", 3)
    assert field == "meter"
    assert "meter" in message and "04271892301" in message and "3" in message


# -- whole row -----------------------------------------------------------------------------

VALID_ROW = {
    "meter": "0427 189-2301",
    "disco": "Ikeja Electric",
    "amount": "₦1,000.50",
    "phone": "+234 803 123 4567",
    "vend_type": "",
    "name": "  Ada   Obi ",
    "email": " ada@example.com ",
}


def test_row_valid():
    checked = check_row(dict(VALID_ROW), DEFAULT)
    assert isinstance(checked, CheckedRow)
    assert checked.valid and checked.errors == []
    assert checked.values == {
        "meter": "04271892301", "disco": "IKEJA", "amount": Decimal("1000.50"),
        "phone": "08031234567", "vend_type": "PREPAID", "name": "Ada Obi", "email": "ada@example.com",
    }
    recipient = ValidRecipient.from_checked(checked)
    assert recipient.amount == Decimal("1000.50") and recipient.meter == "04271892301"


def test_row_missing_optional_keys_is_valid():
    checked = check_row({"meter": "04271892301", "disco": "EKO", "amount": "5000", "phone": "08031234567"}, DEFAULT)
    assert checked.valid
    assert checked.values["vend_type"] == "PREPAID"
    assert checked.values["name"] is None and checked.values["email"] is None


def test_row_postpaid_uses_postpaid_lengths():
    row = dict(VALID_ROW, meter="123456", vend_type="postpaid")
    checked = check_row(row, DEFAULT)
    assert checked.valid, checked.errors
    assert checked.values["meter"] == "123456" and checked.values["vend_type"] == "POSTPAID"
    assert not check_row(dict(VALID_ROW, meter="123456"), DEFAULT).valid  # PREPAID: 11 digits


def test_row_every_bad_field_has_one_message():
    row = {"meter": "abc", "disco": "XYZ", "amount": "ten", "phone": "123",
           "vend_type": "monthly", "name": "Ada", "email": "not-an-email"}
    checked = check_row(row, DEFAULT)
    assert not checked.valid
    fields = [f for f, _ in checked.errors]
    assert sorted(fields) == sorted(["meter", "disco", "amount", "phone", "vend_type", "email"])
    for field, message in checked.errors:
        assert field in message, (field, message)
    assert all(checked.values[f] is None for f in fields)
    assert checked.values["name"] == "Ada"
    with pytest.raises(ValueError):
        ValidRecipient.from_checked(checked)


@pytest.mark.parametrize(
    ("changes", "bad"),
    [
        ({"meter": "4271892301"}, {"meter"}),
        ({"disco": "LAGOS"}, {"disco"}),
        ({"amount": "99.99"}, {"amount"}),
        ({"phone": "08231234567"}, {"phone"}),
        ({"vend_type": "monthly"}, {"vend_type"}),
        ({"email": "ada@"}, {"email"}),
        ({"meter": "", "amount": ""}, {"meter", "amount"}),
        ({"disco": "", "phone": "", "email": "x"}, {"disco", "phone", "email"}),
    ],
)
def test_row_errors_name_their_fields(changes, bad):
    checked = check_row(dict(VALID_ROW, **changes), DEFAULT)
    assert [f for f, _ in checked.errors] and {f for f, _ in checked.errors} == bad
    assert len(checked.errors) == len(bad)  # one message per bad field
    for field, message in checked.errors:
        assert field in message, (field, message)


def test_row_missing_keys_count_as_empty():
    checked = check_row({}, DEFAULT)
    assert {f for f, _ in checked.errors} == {"meter", "disco", "amount", "phone"}
    checked = check_row({}, Limits(default_phone="08031234567"))
    assert {f for f, _ in checked.errors} == {"meter", "disco", "amount"}
    assert checked.values["phone"] == "08031234567"


@pytest.mark.parametrize("junk", ["\x00", "\ufffd", "\x1b", "\x7f", "\x08"])
@pytest.mark.parametrize("field", FIELDS)
def test_row_junk_characters(field, junk):
    row = dict(VALID_ROW)
    row[field] = (row[field] or "x")[:3] + junk + (row[field] or "x")[3:]
    checked = check_row(row, DEFAULT)
    assert len(checked.errors) == 1, checked.errors  # no second "empty" message for that cell
    (efield, message), = checked.errors
    assert efield == field and field in message
    if junk == "\ufffd":  # bytes that were not text
        assert "unreadable characters (junk bytes or a wrong encoding)" in message
    else:  # a control character is named, not called junk bytes
        assert f"a control character (U+{ord(junk):04X})" in message and "unreadable" not in message
    if field != "name":
        assert checked.values[field] is None


def test_row_junk_phone_is_not_replaced_by_the_default():
    checked = check_row(dict(VALID_ROW, phone="0803\x001234567"), Limits(default_phone="08099999999"))
    assert [f for f, _ in checked.errors] == ["phone"]
    assert checked.values["phone"] is None


def test_row_junk_in_several_fields():
    row = dict(VALID_ROW, meter="0427\x00189", amount="1000\ufffd", disco="NOPE")
    checked = check_row(row, DEFAULT)
    by_field = dict(checked.errors)
    assert set(by_field) == {"meter", "amount", "disco"}
    assert "a control character (U+0000)" in by_field["meter"] and "unreadable" in by_field["amount"]
    assert "unreadable" not in by_field["disco"] and "control" not in by_field["disco"]
    for field, message in checked.errors:
        assert field in message


# -- characters that cannot be seen (issue 10, point 14f) --------------------------------------

HIDDEN = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
          "\u200e", "\u200f", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\x85", "\x9b", "\t", "\n"]


@pytest.mark.parametrize("char", HIDDEN)
@pytest.mark.parametrize("field", ["name", "email"])
def test_a_hidden_character_is_a_warning_naming_the_field_and_the_code_point(field, char):
    row = dict(VALID_ROW)
    row[field] = row[field][:4] + char + row[field][4:]
    checked = check_row(row, DEFAULT)
    # still payable (the operator should look); an email cannot hold a space-like character
    assert checked.valid or (field == "email" and char.isspace()), checked.errors
    (wfield, message), = checked.warnings
    assert wfield == field and message.startswith(f"{field} contains")
    assert f"U+{ord(char):04X}" in message and char not in message


def test_a_right_to_left_override_is_named_and_never_quoted_raw():
    row = dict(VALID_ROW, name="Ada \u202eibO", meter="0427\u202e1892301")
    checked = check_row(row, DEFAULT)
    warnings, errors = dict(checked.warnings), dict(checked.errors)
    assert set(warnings) == {"name", "meter"}
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in warnings["name"]
    assert set(errors) == {"meter"} and "'0427⟨U+202E⟩1892301'" in errors["meter"]  # escaped, not raw
    assert all("\u202e" not in m for _, m in checked.errors + checked.warnings)


@pytest.mark.parametrize("name", ["Adébáyọ̀ Renée", "Ọlá, Adé; \"Jr\"", "Ada\u00a0Obi", "Zainab Ibrahim", "李雷"])
def test_ordinary_names_have_no_warning(name):
    assert check_row(dict(VALID_ROW, name=name), DEFAULT).warnings == []


def test_junk_is_still_an_error_not_a_warning():
    checked = check_row(dict(VALID_ROW, name="Ada\x00\u202e"), DEFAULT)
    assert [f for f, _ in checked.errors] == ["name"] and checked.warnings == []


def test_escape_hidden_shows_code_points():
    assert escape_hidden("Ada\u202eObi\u200b\t") == "Ada⟨U+202E⟩Obi⟨U+200B⟩⟨U+0009⟩"
    assert escape_hidden("Adébáyọ̀ Renée") == "Adébáyọ̀ Renée"


@pytest.mark.parametrize("char", ["\u3164", "\u115f", "\u1160", "\uffa0"])
def test_hangul_fillers_are_flagged_like_other_invisible_characters(char):
    # They are letters (Lo) that show as nothing, so str.isprintable() lets them through: a
    # name of fillers alone looks empty, one with a filler looks like another name.
    for name in (char, f"Ada{char}Obi", f"Adébáyọ̀{char}"):
        checked = check_row(dict(VALID_ROW, name=name), DEFAULT)
        assert checked.valid, checked.errors
        (field, message), = checked.warnings
        assert field == "name" and f"U+{ord(char):04X} " in message and "HANGUL" in message and char not in message
    assert escape_hidden(f"Ada{char}Obi") == f"Ada⟨U+{ord(char):04X}⟩Obi"


@pytest.mark.parametrize("char", ["\x1b", "\x07", "\x00", "\x7f"])
def test_a_control_character_is_named_not_called_junk_bytes(char):
    checked = check_row(dict(VALID_ROW, name=f"Ada{char}[31mObi"), DEFAULT)
    (field, message), = checked.errors
    assert field == "name" and f"a control character (U+{ord(char):04X})" in message
    assert "junk bytes" not in message and "encoding" not in message
    # U+FFFD does stand for bytes that were not text: both are said
    (field, message), = check_row(dict(VALID_ROW, name=f"Ad\ufffda{char}"), DEFAULT).errors
    assert "junk bytes or a wrong encoding" in message and f"a control character (U+{ord(char):04X})" in message


# -- properties ----------------------------------------------------------------------------

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
texts = st.text(max_size=40)
vend_types = st.sampled_from([None, "PREPAID", "POSTPAID"])
limits_st = st.sampled_from([DEFAULT, Limits(prepaid_lengths=(11, 13)), Limits(postpaid_min=1, postpaid_max=30)])


def _meter_like():
    digits = st.text(alphabet="0123456789", min_size=1, max_size=20)
    return st.one_of(digits, digits.map(lambda d: " ".join(d[i:i + 3] for i in range(0, len(d), 3))),
                     digits.map(lambda d: "-".join(d[i:i + 4] for i in range(0, len(d), 4))), texts)


@FAST
@given(_meter_like(), vend_types, limits_st)
def test_meter_normalising_twice_changes_nothing(raw, vend_type, limits):
    value, _ = check_meter(raw, vend_type, limits)
    if value is not None:
        assert check_meter(value, vend_type, limits) == (value, None)


@FAST
@given(st.one_of(st.sampled_from(DISCOS), st.sampled_from(["ikedc", "Ikeja Electric", "Port Harcourt", "kedco"]),
                 texts))
def test_disco_normalising_twice_changes_nothing(raw):
    value, _ = check_disco(raw)
    if value is not None:
        assert value in DISCOS
        assert check_disco(value) == (value, None)


def _amount_like():
    number = st.decimals(min_value=0, max_value=200000, places=2, allow_nan=False, allow_infinity=False)
    return st.one_of(number.map(str), number.map(lambda d: f"₦{d:,}"), number.map(lambda d: f"NGN {d}"), texts)


@FAST
@given(_amount_like(), limits_st)
def test_amount_normalising_twice_changes_nothing(raw, limits):
    value, _ = check_amount(raw, limits)
    if value is not None:
        assert isinstance(value, Decimal)
        assert limits.amount_min <= value <= limits.amount_max
        assert check_amount(str(value), limits) == (value, None)
        assert str(check_amount(str(value), limits)[0]) == str(value)


def _phone_like():
    local = st.tuples(st.sampled_from(["070", "080", "081", "090", "091", "082", "060"]),
                      st.text(alphabet="0123456789", min_size=6, max_size=10))
    return st.one_of(local.map("".join), local.map(lambda t: "+234 " + t[0][1:] + " " + t[1]),
                     local.map(lambda t: "234" + t[0][1:] + t[1]), texts)


@FAST
@given(_phone_like(), st.sampled_from(["", "08031234567"]))
def test_phone_normalising_twice_changes_nothing(raw, default):
    value, _ = check_phone(raw, default)
    if value is not None:
        assert len(value) == 11 and value[:3] in ("070", "080", "081", "090", "091")
        assert check_phone(value, default) == (value, None)


@FAST
@given(st.one_of(st.sampled_from(["prepaid", "Post-Paid", "POSTPAID", "", " pre paid "]), texts))
def test_vend_type_normalising_twice_changes_nothing(raw):
    value, _ = check_vend_type(raw)
    if value is not None:
        assert check_vend_type(value) == (value, None)


RULES = {
    "meter": lambda raw, limits: check_meter(raw, "PREPAID", limits),
    "meter (postpaid)": lambda raw, limits: check_meter(raw, "POSTPAID", limits),
    "disco": lambda raw, limits: check_disco(raw),
    "amount": lambda raw, limits: check_amount(raw, limits),
    "phone": lambda raw, limits: check_phone(raw, limits.default_phone),
    "vend_type": lambda raw, limits: check_vend_type(raw),
    "email": lambda raw, limits: check_email(raw),
    "name": lambda raw, limits: check_name(raw),
}


@FAST
@given(st.sampled_from(sorted(RULES)), st.text(), limits_st)
def test_rules_never_raise_and_rejections_carry_a_message(rule, raw, limits):
    value, message = RULES[rule](raw, limits)
    field = rule.split()[0]
    assert (value is None) or (message is None)
    if message is not None:
        assert message.strip()
        assert field in message
    elif field not in ("email", "name"):  # optional fields may be None without an error
        assert value is not None


@FAST
@given(st.dictionaries(st.sampled_from([*FIELDS, "other"]), st.text(max_size=20)), limits_st)
def test_row_never_raises_and_every_error_names_its_field(raw, limits):
    checked = check_row(raw, limits)
    assert checked.valid == (not checked.errors)
    fields = [f for f, _ in checked.errors]
    assert len(fields) == len(set(fields))  # one message per field
    for field, message in checked.errors + checked.warnings:
        assert field in FIELDS
        assert message.strip() and field in message
        assert escape_hidden(message) == message  # a message never carries a hidden character raw
    if checked.valid:
        ValidRecipient.from_checked(checked)  # a valid row always makes a ValidRecipient
