"""The `reports:` section of chargewatch.yaml: targets, response-time SLAs, session
success thresholds, tariffs, the EV-ChART export and the monthly schedule.

Sites' operating hours and commissioning dates live with the sites (chargewatch.config).
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from chargewatch.durations import parse_duration
from reports.evchart import EvChartConfig
from reports.kpis import SessionSuccessConfig
from reports.schedule import ReportScheduleConfig
from reports.tariffs import TariffConfig, check_tariffs

Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    tariffs: list[TariffConfig] = Field(default_factory=list)
    evchart: EvChartConfig = Field(default_factory=EvChartConfig)
    schedule: ReportScheduleConfig = Field(default_factory=ReportScheduleConfig)

    @field_validator("tariffs")
    @classmethod
    def _tariffs(cls, tariffs: list[TariffConfig]) -> list[TariffConfig]:
        return check_tariffs(tariffs)

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
