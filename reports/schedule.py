"""When monthly reports are due: the `reports.schedule` config and pure functions of time.

A month's report is due at `time` on `day_of_month` of the FOLLOWING month, in `timezone`
(2026-11 is due 2026-12-01 00:30 by default). Everything here is a pure function of `now`,
the config and what `report_runs` says was done, so the scheduler (reports/scheduler.py),
a restart and the tests all agree on what is due. Nothing is produced twice: a (month,
scope) that is `done` is never due again; a failed one is retried every `retry_after`
until `max_attempts`; a month is only produced while it is one of the `catch_up_months`
latest due months, and only when the journal holds data from before its end.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from chargewatch.durations import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")

# report_runs.state
RUNNING, DONE, ERROR, FAILED = "running", "done", "error", "failed"
NETWORK = ""  # report_runs.site of the whole network's report


class ReportScheduleConfig(BaseModel):
    """`reports.schedule`: when `chargewatch run` produces last month's report, and who
    gets it (names of `notifications.receivers`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # None: on as soon as receivers are named (a report nobody gets is not worth the CPU
    # of every test run and fresh install); true without receivers: files only
    enabled: bool | None = None
    day_of_month: int = Field(1, ge=1, le=28)  # 28: every month has the day
    time: str = "00:30"  # HH:MM, local time in `timezone`
    timezone: str = "UTC"  # IANA name
    receivers: list[str] = Field(default_factory=list)
    catch_up_months: int = Field(3, ge=1, le=24)  # latest due months still produced
    out_dir: Path | None = None  # default DATA_DIR/reports; relative: to the config file
    sites: bool = False  # also one report per site of `sites:`
    retry_after: Duration = Field(3600.0, gt=0)  # a failed run is tried again after this
    max_attempts: int = Field(24, ge=1)  # then it is `failed` for good (logged)
    timeout: Duration = Field(3600.0, gt=0)  # one generator run; killed after this

    @property
    def active(self) -> bool:
        return self.enabled if self.enabled is not None else bool(self.receivers)

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        if not _TIME.match(value):
            raise ValueError(f"{value!r} is not a time of day: write HH:MM, e.g. 00:30")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone, e.g. Europe/Berlin") from None
        return value

    @field_validator("receivers")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"receiver {name!r} is listed twice")
        return names


def check_receivers(schedule: ReportScheduleConfig, receiver_names: Iterable[str]) -> None:
    """ValueError unless every receiver of the schedule is defined in
    notifications.receivers (for the Config validator: a typo must stop start-up, not
    lose a report)."""
    known = set(receiver_names)
    for i, name in enumerate(schedule.receivers):
        if name not in known:
            have = ", ".join(sorted(known)) or "none are defined"
            raise ValueError(
                f"reports.schedule.receivers[{i}]: receiver {name!r} is not defined in "
                f"notifications.receivers ({have})"
            )


# ---- months ---------------------------------------------------------------------------------
def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def shift(month: str, by: int) -> str:
    """`month` moved by `by` months: shift("2026-01", -1) == "2025-12"."""
    year, mon = (int(p) for p in month.split("-"))
    index = year * 12 + (mon - 1) + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_start(month: str, tz: str = "UTC") -> datetime:
    """Midnight at the start of `month` in `tz`, as an aware datetime."""
    year, mon = (int(p) for p in month.split("-"))
    return datetime(year, mon, 1, tzinfo=ZoneInfo(tz))


def due_at(month: str, schedule: ReportScheduleConfig) -> datetime:
    """When `month`'s report is due (UTC). A local time that a DST change skips is read
    with the offset before the change (02:30 on a spring-forward night: 03:30 new time);
    one that happens twice is the first."""
    nxt = month_start(shift(month, 1), schedule.timezone)
    hour, minute = (int(p) for p in schedule.time.split(":"))
    local = nxt.replace(day=schedule.day_of_month, hour=hour, minute=minute, fold=0)
    return local.astimezone(UTC)


def latest_due(now: datetime, schedule: ReportScheduleConfig) -> str:
    """The newest month whose report is due at `now` (aware datetime)."""
    local = now.astimezone(ZoneInfo(schedule.timezone))
    last = shift(month_of(local.date()), -1)
    return last if due_at(last, schedule) <= now else shift(last, -1)


def due_months(
    now: datetime,
    schedule: ReportScheduleConfig,
    done: Collection[str] = (),
    data_since: float | None = None,
) -> list[str]:
    """Months to produce at `now`, oldest first: the `catch_up_months` latest due ones
    that are not `done` and that ended after `data_since` (the first journal event; a
    month before ChargeWatch ran has nothing to report). `data_since` None: no data yet,
    nothing is due."""
    if data_since is None:
        return []
    newest = latest_due(now, schedule)
    window = [shift(newest, -i) for i in reversed(range(schedule.catch_up_months))]
    return [
        m
        for m in window
        if m not in done and month_start(shift(m, 1), schedule.timezone).timestamp() > data_since
    ]


def next_due(now: datetime, schedule: ReportScheduleConfig) -> datetime:
    """When the next month becomes due (strictly after `now`)."""
    return due_at(shift(latest_due(now, schedule), 1), schedule)


# ---- runs -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Run:
    """A row of report_runs: one month and scope (site, or NETWORK)."""

    month: str
    site: str
    state: str
    started: float | None = None
    finished: float | None = None
    attempts: int = 0
    error: str | None = None


def scopes(schedule: ReportScheduleConfig, site_ids: Iterable[str]) -> list[str]:
    """NETWORK first, then each site when `sites` is on."""
    return [NETWORK, *(list(site_ids) if schedule.sites else [])]


def pending(
    now: datetime,
    schedule: ReportScheduleConfig,
    site_ids: Iterable[str],
    runs: Mapping[tuple[str, str], Run],
    data_since: float | None,
) -> list[tuple[str, str]]:
    """(month, site) pairs to run now, oldest month first, the network before its sites.
    A `running` row was interrupted (ChargeWatch stopped mid-report): it runs again."""
    wanted = scopes(schedule, site_ids)
    done = {m for m in {k[0] for k in runs} if all(_settled(runs.get((m, s))) for s in wanted)}
    out = []
    for month in due_months(now, schedule, done, data_since):
        for site in wanted:
            run = runs.get((month, site))
            if run is None or run.state == RUNNING or _retry_due(run, now, schedule):
                out.append((month, site))
    return out


def _retry_due(run: Run, now: datetime, schedule: ReportScheduleConfig) -> bool:
    return (
        run.state == ERROR
        and run.attempts < schedule.max_attempts
        and now.timestamp() >= (run.finished or 0.0) + schedule.retry_after
    )


def _settled(run: Run | None) -> bool:
    return run is not None and run.state in (DONE, FAILED)


def next_wakeup(
    now: datetime,
    schedule: ReportScheduleConfig,
    site_ids: Iterable[str],
    runs: Mapping[tuple[str, str], Run],
    data_since: float | None,
) -> float:
    """Unix time of the next moment `pending` may change: the next month due, or the
    retry of a failed run."""
    at = next_due(now, schedule).timestamp()
    window = set(due_months(now, schedule, (), data_since))
    for run in runs.values():
        if run.state == ERROR and run.month in window and run.attempts < schedule.max_attempts:
            at = min(at, (run.finished or 0.0) + schedule.retry_after)
    return at


def out_dir_for(
    schedule: ReportScheduleConfig, data_dir: Path, base_dir: Path, month: str, site: str
) -> Path:
    """DATA_DIR/reports/2026-11/ for the network, .../2026-11/sites/<site>/ for a site."""
    if schedule.out_dir is None:
        root = Path(data_dir) / "reports"
    else:
        root = schedule.out_dir.expanduser()
        root = root if root.is_absolute() else Path(base_dir) / root
    folder = root / month
    return folder / "sites" / _SAFE.sub("_", site) if site else folder


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
