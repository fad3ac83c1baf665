"""The store's tables. Statistics are never stored: they are queried from row states.

Every change here is a new migration in buypower_tui/migrations/versions (core/schema.py
runs them), and a test checks that the migrations make what these models say."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, String, false, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from buypower_tui.core.values import RowState, from_kobo, to_kobo, utcnow  # noqa: F401 - named here too


class DecimalText(TypeDecorator[Decimal]):
    """BuyPower's loose numbers (units, debt, tax) as exact decimal text: read back as Decimal.

    Text, not NUMERIC: SQLite keeps NUMERIC as a float, and these are shown and exported to
    the kobo exactly as BuyPower said them."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None or value == "":
            return None
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)  # 4.4, not 4.4000000000000003552…
        return str(number) if number.is_finite() else None

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        try:
            number = None if value is None else Decimal(value)
        except InvalidOperation:  # not written by us; nothing to show rather than a crash
            return None
        # an absurd one stored before answers were bounded ("1E+999999999") would become a
        # billion-digit string on screen or in an export
        return number if number is None or not number or abs(number.adjusted()) <= 18 else None


def decimal_field() -> Any:
    return Field(default=None, sa_type=DecimalText)


class UTCDateTime(TypeDecorator[datetime]):
    """Every time in the store is UTC and comes back aware. SQLite keeps no zone (it hands back
    naive values); without this type each reader had to patch them back to UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def time_field(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class Batch(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    source_file: str | None = None
    mode: str = Field(default="live")  # live | sandbox: a batch never changes environment
    created_at: datetime = time_field(default_factory=utcnow)
    # Set when the import read the whole file; None means it was cut short (killed) and
    # the batch must not be paid as if it held the whole sheet.
    imported_at: datetime | None = time_field(default=None)
    # Who prepared the batch, for two-person approval (core/approval.py; migration 0006): the
    # operator of the last change that decided what it pays (its import, an edit of its rows),
    # written in that change's own transaction, and when.
    prepared_by: str | None = None
    prepared_at: datetime | None = time_field(default=None)


class Recipient(SQLModel, table=True):
    __table_args__ = (
        Index("ix_recipient_batch_state", "batch_id", "state"),
        Index("ix_recipient_batch_meter", "batch_id", "meter"),
        Index("ix_recipient_batch_row", "batch_id", "row_number", unique=True),
        # Partial indexes: only rows that carry an orderId or were paid are indexed, so
        # importing 100,000 fresh rows does not pay for two indexes of NULLs.
        Index("ux_recipient_order_id", "order_id", unique=True,
              sqlite_where=text("order_id IS NOT NULL"), postgresql_where=text("order_id IS NOT NULL")),
        Index("ix_recipient_paid_meter_amount_time", "meter", "amount_kobo", "updated_at",
              sqlite_where=text("state = 'SUCCESS'"), postgresql_where=text("state = 'SUCCESS'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id")
    row_number: int  # the spreadsheet's row number (header = 1)
    state: str = Field(default=RowState.IMPORTED)

    # What the sheet said, as text.
    meter_raw: str = ""
    disco_raw: str = ""
    amount_raw: str = ""
    phone_raw: str = ""
    vend_type_raw: str = ""
    name_raw: str = ""
    email_raw: str = ""
    # The sheet's other columns, kept as they were: {header as written: cell text, stripped},
    # in the sheet's order, empty cells left out; None when the row has none (migration 0005).
    # headers.py bounds how many columns and how long a name.
    extras: dict[str, str] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))

    # Normalised by the rules (None where the field is invalid). Money in kobo: exact.
    meter: str | None = None
    disco: str | None = None
    amount_kobo: int | None = None
    phone: str | None = None
    vend_type: str | None = None
    name: str | None = None
    email: str | None = None
    errors: list[dict[str, str]] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    warnings: list[dict[str, str]] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    # Server defaults: an import leaves these columns out of its INSERT (fewer values to bind).
    duplicate_accepted: bool = Field(default=False, sa_column_kwargs={"server_default": false()})

    # Vending (used by the engine).
    order_id: str | None = None  # UNIQUE where set (ux_recipient_order_id)
    customer_name: str | None = None
    customer_address: str | None = None
    # From check/meter. Decimal columns are exact decimal text (DecimalText).
    customer_debt: Decimal | None = decimal_field()  # BuyPower's `outstanding`
    debt_repayment: Decimal | None = decimal_field()  # migration 0003
    min_vend: Decimal | None = decimal_field()
    max_vend: Decimal | None = decimal_field()
    token: str | None = None  # 20 digits, no separators; KCT1/KCT2/BONUS are in `parcels`
    # What the money bought, from /vend or /transaction (migration 0003 but units): energy net
    # of VAT, the VAT, the debt taken from this payment and the debt left after it.
    units: Decimal | None = decimal_field()
    amount_generated: Decimal | None = decimal_field()
    tax: Decimal | None = decimal_field()
    debt_amount: Decimal | None = decimal_field()
    debt_remaining: Decimal | None = decimal_field()
    receipt_no: str | None = None
    vend_ref: str | None = None
    provider_code: str | None = None
    provider_message: str | None = None
    parcels: list[dict[str, str]] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    vend_time: str | None = None  # BuyPower's, as it came (its zone differs between /vend and /transaction)
    paid_at: datetime | None = time_field(default=None)  # ours: when SUCCESS was committed (UTC); migration 0002
    response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    # When the last POST for this orderId left. A POST is made again only when BuyPower
    # provably never had the order (NOT_SENT), so the requery budget runs from here.
    sent_at: datetime | None = time_field(default=None)
    # The provider's own requery schedule (a 202's `delay`, seconds): the i-th requery waits
    # the i-th value, the last one repeating (0003).
    requery_schedule: list[float] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    post_count: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    next_requery_at: datetime | None = time_field(default=None)
    requery_count: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})

    created_at: datetime = time_field(default_factory=utcnow)
    updated_at: datetime = time_field(default_factory=utcnow)

    @property
    def amount(self) -> Decimal | None:
        return from_kobo(self.amount_kobo)


class Event(SQLModel, table=True):
    """Append-only history. Never holds a secret: no key, no headers, no full token."""

    id: int | None = Field(default=None, primary_key=True)
    # Plain columns, not foreign keys: recovery must be able to report events whose
    # row or batch is missing, so the database may not refuse them.
    recipient_id: int | None = Field(default=None, index=True)
    batch_id: int | None = Field(default=None, index=True)
    at: datetime = time_field(default_factory=utcnow)
    operator: str
    old_state: str | None = None
    new_state: str | None = None
    http_status: int | None = None
    provider_code: str | None = None
    provider_message: str | None = None
    note: str | None = None
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))


class StoreSetting(SQLModel, table=True):
    """A rule the store itself keeps for every operator who opens it (migration 0006): today
    `approval`. Set with `buypower-tui db approval`; on PostgreSQL only the roles granted
    UPDATE on this table can change it, so an operator cannot turn two-person approval off by
    their own config."""

    __tablename__ = "store_setting"
    name: str = Field(primary_key=True)
    value: str
    set_by: str
    set_at: datetime = time_field(default_factory=utcnow)


class MeterLookup(SQLModel, table=True):
    """Cached check/meter answers, so revalidating a batch does not ask BuyPower again."""

    meter: str = Field(primary_key=True)
    disco: str = Field(primary_key=True)
    vend_type: str = Field(primary_key=True)
    fetched_at: datetime = time_field()
    info: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
