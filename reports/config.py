"""The `reports:` section of chargewatch.yaml: targets, response-time SLAs, session
success thresholds, tariffs, the EV-ChART export and the monthly schedule.

Sites' operating hours and commissioning dates live with the sites (chargewatch.config).
Every model of the section is here, apart from the schedule's, and none needs pandas: the
collector loads the config without paying for the report libraries it never calls.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from chargewatch.durations import parse_duration
from reports.schedule import ReportScheduleConfig

Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- sessions (reports.kpis) ----------------------------------------------------------

# OCPP 1.6 Reason / OCPP 2.0.1 ReasonEnumType values that mean the equipment or the grid ended
# the session, not the driver. "Other" is left out: many chargers send it for ordinary stops.
DEFAULT_FAILURE_STOP_REASONS = frozenset(
    {
        "EmergencyStop",
        "PowerLoss",
        "Reboot",
        "HardReset",
        "SoftReset",
        "ImmediateReset",
        "GroundFault",
        "OvercurrentFault",
        "PowerQuality",
    }
)


class SessionSuccessConfig(BaseModel):
    """When a session counts as successful, and how plug-ins are matched to sessions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # ChargeX: "a meaningful amount of energy (commonly ≥ 0.5–1 kWh)"
    min_energy_wh: float = Field(500.0, ge=0)
    # ... "for more than a couple of minutes"; a session must last strictly longer
    min_duration: Duration = 120.0
    failure_stop_reasons: frozenset[str] = DEFAULT_FAILURE_STOP_REASONS
    # status error codes that are not faults (OCPP 1.6 sends NoError with every status)
    ignored_error_codes: frozenset[str] = frozenset({"NoError"})
    # a plug-in is followed by a session only if it starts within this many seconds
    attempt_window: Duration = Field(600.0, gt=0)


# ---- tariffs (reports.tariffs) --------------------------------------------------------
# ISO 4217 minor units that differ from 2 (the others, USD, EUR, GBP, ..., have 2)
MINOR_UNITS = {
    **dict.fromkeys(["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"], 0),
    **dict.fromkeys(["RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    "CLF": 4,
    "UYW": 4,
}
Money = Annotated[Decimal, Field(ge=0)]


class TariffConfig(BaseModel):
    """One price list: per kWh, per charging minute, per parked minute, idle fee, session fee."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    sites: list[str] = Field(default_factory=list)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    valid_from: datetime | date
    valid_to: datetime | date | None = None
    per_kwh: Money = Decimal(0)
    per_minute: Money = Decimal(0)
    parked_per_minute: Money | None = None
    idle_fee_per_minute: Money = Decimal(0)
    idle_grace_minutes: float = Field(0.0, ge=0)
    session_fee: Money = Decimal(0)
    tax_rate: Decimal = Field(Decimal(0), ge=0, le=1)
    minute_rounding: Literal["exact", "up", "down"] = "exact"
    # overrides the ISO 4217 minor unit of the currency (e.g. 3 for sub-cent energy prices)
    minor_units: int | None = Field(None, ge=0, le=4)

    @model_validator(mode="after")
    def _validity(self) -> TariffConfig:
        for name in ("valid_from", "valid_to"):
            value = getattr(self, name)
            if isinstance(value, datetime) and value.tzinfo is not None:
                raise ValueError(f"{name} is site-local wall-clock time: drop the UTC offset")
        if self.valid_to is not None and self.end <= self.start:
            raise ValueError("valid_to must be after valid_from")
        return self

    @property
    def start(self) -> datetime:
        """valid_from as a naive site-local datetime."""
        return _as_datetime(self.valid_from)

    @property
    def end(self) -> datetime:
        """valid_to as a naive site-local datetime (datetime.max when open-ended)."""
        return datetime.max if self.valid_to is None else _as_datetime(self.valid_to)

    @property
    def quantum(self) -> Decimal:
        """The currency's minor unit as a Decimal exponent (0.01 for USD)."""
        units = (
            self.minor_units
            if self.minor_units is not None
            else currency_minor_units(self.currency)
        )
        return Decimal(1).scaleb(-units)


def _as_datetime(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time.min)


def currency_minor_units(currency: str) -> int:
    """Digits after the decimal point of an ISO 4217 currency (2 unless listed)."""
    return MINOR_UNITS.get(currency, 2)


def check_tariffs(tariffs: list[TariffConfig]) -> list[TariffConfig]:
    """Reject duplicate ids and overlapping validity for one site (or for two all-sites tariffs)."""
    seen: set[str] = set()
    for tariff in tariffs:
        if tariff.id in seen:
            raise ValueError(f"tariff id {tariff.id!r} is used twice")
        seen.add(tariff.id)
    scopes: dict[str, list[TariffConfig]] = {}
    for tariff in tariffs:
        for scope in tariff.sites or ["*"]:
            scopes.setdefault(scope, []).append(tariff)
    for scope, group in scopes.items():
        group = sorted(group, key=lambda t: t.start)
        for i, first in enumerate(group):
            for second in group[i + 1 :]:
                if second.start < first.end and first.start < second.end:
                    where = "all sites" if scope == "*" else f"site {scope!r}"
                    raise ValueError(
                        f"tariffs {first.id!r} and {second.id!r} overlap for {where} "
                        f"from {max(first.start, second.start).isoformat()}"
                    )
    return tariffs


# the `reports.tariffs` config key: a list checked as a whole
Tariffs = Annotated[list[TariffConfig], AfterValidator(check_tariffs)]


# ---- EV-ChART (reports.evchart) -------------------------------------------------------
class PaymentPrefix(BaseModel):
    """idTags starting with `prefix` were paid by `method` (e.g. "APP-" → mobile_app)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: str = Field(min_length=1, max_length=20)  # an OCPP 1.6 idTag is CiString20Type
    method: str = Field(min_length=1, max_length=255)
    other: str | None = Field(None, max_length=255)  # payment_other, e.g. when method is other


class EvChartConfig(BaseModel):
    """How module 2's payment_method is derived from a session's idTag."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tagged_payment_method: str = Field("rfid", min_length=1, max_length=255)
    untagged_payment_method: str = Field("other", min_length=1, max_length=255)
    untagged_payment_other: str | None = Field("no idTag recorded", max_length=255)
    id_tag_prefixes: list[PaymentPrefix] = Field(default_factory=list)

    @field_validator("id_tag_prefixes")
    @classmethod
    def _unique(cls, prefixes: list[PaymentPrefix]) -> list[PaymentPrefix]:
        seen: set[str] = set()
        for rule in prefixes:
            if rule.prefix in seen:
                raise ValueError(f"idTag prefix {rule.prefix!r} is listed twice")
            seen.add(rule.prefix)
        return prefixes

    def payment(self, id_tag: str | None) -> tuple[str, str]:
        """(payment_method, payment_other): the longest matching prefix, else tagged/untagged."""
        if not isinstance(id_tag, str) or not id_tag:
            return self.untagged_payment_method, self.untagged_payment_other or ""
        matches = [r for r in self.id_tag_prefixes if id_tag.startswith(r.prefix)]
        if matches:
            rule = max(matches, key=lambda r: len(r.prefix))
            return rule.method, rule.other or ""
        return self.tagged_payment_method, ""


class ResponseTarget(_Section):
    """How fast an alert of one severity must be acknowledged and resolved (None: no SLA)."""

    acknowledge: Duration | None = None
    resolve: Duration | None = None


# The default pack's response-time rules (rules/packs/sla.yaml) use the same figures.
DEFAULT_RESPONSE_TARGETS = {
    "critical": ResponseTarget(acknowledge=900, resolve=4 * 3600),
    "major": ResponseTarget(acknowledge=3600, resolve=24 * 3600),
    "warning": ResponseTarget(resolve=72 * 3600),
}


class ReportsConfig(_Section):
    uptime_target: float = Field(97.0, gt=0, le=100)  # percent; NEVI: > 97 % a year
    # the calendar of chargers in no site (a site's report uses the site's time zone)
    timezone: str = "UTC"
    response_targets: dict[str, ResponseTarget] = Field(
        default_factory=lambda: dict(DEFAULT_RESPONSE_TARGETS)
    )
    session_success: SessionSuccessConfig = Field(default_factory=SessionSuccessConfig)
    tariffs: Tariffs = Field(default_factory=list)
    evchart: EvChartConfig = Field(default_factory=EvChartConfig)
    schedule: ReportScheduleConfig = Field(default_factory=ReportScheduleConfig)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)


def check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (an IANA name like Europe/Berlin)") from None
    return value
