"""Settings: defaults, then `config.toml`, then `BUYPOWER_*` env vars, then CLI flags.

The layering is written by hand rather than with pydantic-settings because a bad value
must be reported with where it came from (file and key, or env var) and what is allowed,
and the API key must never be a setting at all (it lives in the keyring or the env).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from buypower_tui.core.endpoint import LIVE_URL, SANDBOX_URL, key_destination_problem
from buypower_tui.paths import AppPaths

ENV_PREFIX = "BUYPOWER_"
# Settings an older buypower-tui had: a file or env var that still names one is read without
# it, and says so once (`notices`), rather than refusing to start after an upgrade.
RETIRED = {"requery_budget": "the requery budget is now a time: requery_budget_s (seconds from the first "
                             "send, default 21600 = 6 h); remove requery_budget"}
# BUYPOWER_* variables that are not settings (the key, the home override, the sandbox's key).
NOT_SETTINGS = {"BUYPOWER_API_KEY", "BUYPOWER_SANDBOX_API_KEY", "BUYPOWER_TUI_HOME", "BUYPOWER_SANDBOX_KEY"}


# Settings that bound a range: the first may not be above the second.
ORDERED_PAIRS = (("amount_min", "amount_max"), ("postpaid_min_length", "postpaid_max_length"),
                 ("requery_first_wait", "requery_max_wait"))


class ConfigError(Exception):
    """A setting could not be used; the message is meant for the operator as it is."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    mode: Literal["live", "sandbox"] = Field("live", description="live or sandbox")
    base_url: str | None = Field(
        None, description="an http(s) URL; empty means the URL of the mode"
    )
    database_url: str | None = Field(
        None, description="an SQLAlchemy URL such as sqlite:///path/to/file.db; empty means "
                          "the SQLite file in the data folder"
    )
    connect_timeout: float = Field(5.0, gt=0, le=120, description="seconds, above 0, at most 120")
    read_timeout: float = Field(60.0, gt=0, le=600, description="seconds, above 0, at most 600")
    concurrency: int = Field(4, ge=1, le=64, description="a whole number from 1 to 64")
    rate_limit: float = Field(5.0, ge=0, le=100, description="requests per second, at most 100; 0 means no limit")
    breaker_threshold: int = Field(5, ge=1, le=100, description="a whole number from 1 to 100")
    breaker_cooldown: float = Field(60.0, ge=1, le=3600, description="seconds, from 1 to 3600")
    breaker_half_open_probes: int = Field(3, ge=1, le=20, description="a whole number from 1 to 20")
    requery_first_wait: float = Field(120.0, ge=0.1, le=86400, description="seconds, from 0.1 to 86400")
    requery_max_wait: float = Field(1800.0, ge=1, le=86400, description="seconds, from 1 to 86400")
    requery_budget_s: float = Field(21600.0, ge=1, le=30 * 86400,
                                    description="seconds from the first send, from 1 to 2592000 (30 days)")
    amount_min: Decimal = Field(Decimal("100"), ge=1, le=10_000_000, decimal_places=2,
                                description="naira, from 1 to 10,000,000, at most 2 decimals")
    amount_max: Decimal = Field(Decimal("100000"), ge=1, le=10_000_000, decimal_places=2,
                                description="naira, from 1 to 10,000,000, at most 2 decimals")
    prepaid_meter_lengths: list[int] = Field(
        default_factory=lambda: [11, 13], min_length=1,
        description="a list of digit counts from 6 to 16, e.g. [11, 13]",
    )
    postpaid_min_length: int = Field(6, ge=1, le=30, description="a whole number from 1 to 30")
    postpaid_max_length: int = Field(16, ge=1, le=30, description="a whole number from 1 to 30")
    lookup_cache_ttl: float = Field(600.0, ge=0, le=86400, description="seconds, from 0 to 86400")
    verify_signature: bool = Field(False, description="true or false")
    duplicate_window_days: int = Field(7, ge=0, le=365, description="days, from 0 to 365")
    low_wallet_threshold: Decimal = Field(Decimal("10000"), ge=0, le=1_000_000_000, decimal_places=2,
                                          description="naira, from 0 (never warn) to 1,000,000,000, at most 2 "
                                                      "decimals")
    approval: Literal["single", "two-person"] = Field(
        "single", description='"single" (whoever prepared a batch may pay it) or "two-person" (no operator who '
                              'imported or edited a batch can confirm it; another operator must)'
    )
    default_phone: str = Field(
        "", description="empty, or a Nigerian mobile number such as 08031234567"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="DEBUG, INFO, WARNING or ERROR"
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        try:
            parts = urlsplit(v)
            parts.port  # noqa: B018 - raises for a port out of range or not a number
        except ValueError as exc:
            raise ValueError(f"not a usable URL: {exc}") from None
        if not parts.hostname:
            raise ValueError("has no host name")
        return v

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str | None) -> str | None:
        if not v or not v.strip():
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(v.strip())
        except ArgumentError:
            raise ValueError("not a database URL") from None
        return v.strip()

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("mode", "approval", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("prepaid_meter_lengths")
    @classmethod
    def _lengths(cls, v: list[int]) -> list[int]:
        if any(not 6 <= n <= 16 for n in v):
            raise ValueError("each length must be from 6 to 16")
        return sorted(set(v))

    @field_validator("default_phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        from buypower_tui.core.rules import check_phone

        if not v.strip():
            return ""
        value, error = check_phone(v, default="")
        if error:
            raise ValueError(error)
        return value

    @model_validator(mode="after")
    def _ranges(self) -> Settings:
        for low, high in ORDERED_PAIRS:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} must not be above {high}")
        return self

    @property
    def effective_base_url(self) -> str:
        if self.base_url:
            return self.base_url
        return SANDBOX_URL if self.mode == "sandbox" else LIVE_URL

    @property
    def key_destination_problem(self) -> str | None:
        """Why this mode's key must not go to the base URL in use (None: it may)."""
        return key_destination_problem(self.mode, self.effective_base_url)


FIELDS = tuple(Settings.model_fields)


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


class LoadedSettings(BaseModel):
    """The effective settings plus where each value came from (for `buypower-tui config`)."""

    settings: Settings
    sources: dict[str, str]
    config_file: Path
    notices: list[str] = []  # retired settings found (see RETIRED)


def load_settings(
    paths: AppPaths,
    flags: dict[str, Any] | None = None,
    environ: dict[str, str] | os._Environ[str] | None = None,
    config_file: Path | None = None,
) -> LoadedSettings:
    """Merge the layers; raise ConfigError with one message an operator can act on."""
    env = os.environ if environ is None else environ
    path = config_file or paths.config_file
    values: dict[str, Any] = {}
    sources: dict[str, str] = {name: "default" for name in FIELDS}
    notices: list[str] = []

    for key, value in _read_toml(path, must_exist=config_file is not None).items():
        if key in RETIRED:
            notices.append(f"Config file {path}: key '{key}' is no longer used: {RETIRED[key]}.")
            continue
        if key not in FIELDS:
            raise ConfigError(_unknown_key(path, key, value))
        if not _toml_type_ok(key, value):
            allowed = Settings.model_fields[key].description
            raise ConfigError(f"Config file {path}: key '{key}' = {value!r} has the wrong type "
                              f"({_toml_kind(value)}). Allowed: {allowed}.")
        values[key] = value
        sources[key] = f"file {path}"

    notices += [f"Environment variable {env_name(key)} is no longer used: {why}."
                for key, why in RETIRED.items() if env_name(key) in env]
    for name in FIELDS:
        var = env_name(name)
        if var in env:
            values[name] = _from_env(name, env[var])
            sources[name] = f"env {var}"

    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = value
            sources[name] = "flag"

    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, values, sources)) from None
    return LoadedSettings(settings=settings, sources=sources, config_file=path, notices=notices)


def _read_toml(path: Path, *, must_exist: bool) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        if must_exist:
            raise ConfigError(f"Config file {path} does not exist; check the --config path.") from None
        return {}
    except UnicodeDecodeError:
        raise ConfigError(f"Config file {path} is not UTF-8 text; save it as UTF-8 (not UTF-16).") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"Config file {path} is not valid TOML: {exc}. "
            'Write one setting per line, like: concurrency = 4 or mode = "sandbox".'
        ) from None
    except OSError as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc.strerror}.") from None
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError(
                f"Config file {path}: [{key}] is a table, but settings are plain keys at "
                f"the top of the file (e.g. concurrency = 4)."
            )
    return data


def _default(name: str) -> Any:
    info = Settings.model_fields[name]
    return info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]


def _toml_type_ok(name: str, value: Any) -> bool:
    """TOML has types, so a file says 4, not "4" (env vars are text and are converted)."""
    default = _default(name)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, float | Decimal):
        return isinstance(value, int | float)
    if isinstance(default, list):
        return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    return isinstance(value, str)  # text settings (None defaults are text too)


def _toml_kind(value: Any) -> str:
    kinds = {bool: "true/false", int: "a whole number", float: "a decimal number", str: "text", list: "a list"}
    return kinds.get(type(value), type(value).__name__)


def _unknown_key(path: Path, key: str, value: Any) -> str:
    if key.lower() in {"api_key", "key", "apikey", "token"}:
        return (
            f"Config file {path}: key '{key}' is not allowed: the API key never goes in a "
            "file. Remove it and run `buypower-tui key set` (or set BUYPOWER_API_KEY)."
        )
    close = difflib.get_close_matches(key, FIELDS, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return (
        f"Config file {path}: unknown key '{key}' (value {value!r}).{hint} "
        f"Allowed keys: {', '.join(FIELDS)}."
    )


def _from_env(name: str, raw: str) -> Any:
    """Env vars are strings; split lists ("11,13") so pydantic can check each item."""
    if name == "prepaid_meter_lengths":
        return [part.strip() for part in raw.strip("[] ").split(",") if part.strip()]
    return raw


def _explain(exc: ValidationError, values: dict[str, Any], sources: dict[str, str]) -> str:
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else None
    if field is None:  # a rule across fields: name both, their values and where they come from
        low, high = next(pair for pair in ORDERED_PAIRS if f"{pair[0]} must not be above" in err["msg"])
        parts = [f"{name} = {values.get(name, Settings.model_fields[name].default)!r} ({sources[name]})"
                 for name in (low, high)]
        return f"Settings are inconsistent: {parts[0]} is above {parts[1]}. Allowed: {low} <= {high}."
    source = sources.get(field, "default")
    if source.startswith("file "):
        where = f"Config file {source[5:]}: key '{field}'"
    elif source.startswith("env "):
        where = f"Environment variable {source[4:]}"
    else:
        where = f"Option for '{field}'"
    allowed = Settings.model_fields[field].description or ""
    reason = err["msg"].removeprefix("Value error, ")
    return f"{where} = {values.get(field)!r} is not allowed ({reason}). Allowed: {allowed}."
