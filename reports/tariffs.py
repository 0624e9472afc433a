"""Tariffs, the price of each session, revenue summaries and invoice lines per idTag.

The tariff model (docs/reports-kpis.md, "Revenue"):

* A tariff applies to its `sites` (empty: every site without a tariff of its own) from
  `valid_from` (inclusive) to `valid_to` (exclusive, None: open-ended). Both are wall-clock time at
  the site (a date means local midnight), because a price change is posted at the station. A
  session is priced by the tariff valid at its started_at in its site's time zone; a tariff that
  names the site wins over an all-sites one. Two tariffs naming the same site (or two all-sites
  tariffs) must not overlap.
* Quantities: kWh = energy_wh / 1000 (NaN: 0); charging minutes = first_power_at → last_power_at
  (last_power_at NaN: stopped_at; no power: 0); parked (connected) minutes = started_at →
  stopped_at; idle minutes = last_power_at → stopped_at, billed after `idle_grace_minutes`; a
  session that never drew power is never billed idle time. `minute_rounding` applies to the
  three billed minute counts.
* Lines: energy_cost = kWh × per_kwh, time_cost = charging minutes × per_minute, parked_cost =
  parked minutes × parked_per_minute, idle_cost = billed idle minutes × idle_fee_per_minute, and
  session_fee. Prices are net of tax. Each line is rounded half-up to the currency's minor unit;
  subtotal = sum of the rounded lines; tax = subtotal × tax_rate rounded the same way; total =
  subtotal + tax. Decimal arithmetic throughout, so 0.125 rounds to 0.13 as a cashier would.
* Open sessions (stopped_at NaN) and sessions without a tariff are not priced: NaN costs,
  tariff_id None and `unpriced_reason` "open session" / "no tariff".
* A session's date and month are those of its started_at in the site's time zone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal
from zoneinfo import ZoneInfo

import pandas as pd

from reports.config import TariffConfig, check_tariffs, currency_minor_units

COST_COLUMNS = ["energy_cost", "time_cost", "parked_cost", "idle_cost", "session_fee"]
TOTAL_COLUMNS = [*COST_COLUMNS, "subtotal", "tax", "total"]


def _zone_of(site: str | None, site_tz: str | Mapping[str, str], default_tz: str | None) -> str:
    if isinstance(site_tz, str):
        return site_tz
    if site is not None and site in site_tz:
        return site_tz[site]
    if default_tz is None:
        raise ValueError(f"no time zone for site {site!r}: add it to site_tz or pass default_tz")
    return default_tz


def select_tariff(
    tariffs: Sequence[TariffConfig], site: str | None, local_start: datetime
) -> TariffConfig | None:
    """The tariff valid at a session's local start: the site's own first, else an all-sites one."""
    valid = [t for t in tariffs if t.start <= local_start < t.end]
    own = [t for t in valid if site is not None and site in t.sites]
    if own:
        return own[0]
    fallback = [t for t in valid if not t.sites]
    return fallback[0] if fallback else None


def _minutes(seconds: float) -> Decimal:
    if seconds is None or math.isnan(seconds):
        return Decimal(0)
    return Decimal(repr(max(0.0, float(seconds)))) / 60


def _billed(minutes: Decimal, how: str) -> Decimal:
    if how == "up":
        return minutes.to_integral_value(ROUND_CEILING)
    if how == "down":
        return minutes.to_integral_value(ROUND_FLOOR)
    return minutes


def _nan(value: float) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _price_one(row, tariff: TariffConfig) -> dict[str, object]:
    """The cost lines of one completed session under one tariff."""
    q = tariff.quantum

    def money(amount: Decimal) -> Decimal:
        return amount.quantize(q, rounding=ROUND_HALF_UP)

    kwh = Decimal(0) if _nan(row.energy_wh) else Decimal(repr(float(row.energy_wh))) / 1000
    charged_until = row.stopped_at if _nan(row.last_power_at) else row.last_power_at
    has_power = not _nan(row.first_power_at)
    charging = _minutes(charged_until - row.first_power_at) if has_power else Decimal(0)
    parked = _minutes(row.stopped_at - row.started_at)
    idle = _minutes(row.stopped_at - charged_until) if has_power else Decimal(0)
    grace = Decimal(repr(tariff.idle_grace_minutes))
    idle_billed = _billed(max(Decimal(0), idle - grace), tariff.minute_rounding)
    lines = {
        "energy_cost": money(kwh * tariff.per_kwh),
        "time_cost": money(_billed(charging, tariff.minute_rounding) * tariff.per_minute),
        "parked_cost": money(
            _billed(parked, tariff.minute_rounding) * (tariff.parked_per_minute or 0)
        ),
        "idle_cost": money(idle_billed * tariff.idle_fee_per_minute),
        "session_fee": money(tariff.session_fee),
    }
    subtotal = sum(lines.values(), Decimal(0))
    tax = money(subtotal * tariff.tax_rate)
    result: dict[str, object] = {k: float(v) for k, v in lines.items()}
    result.update(
        tariff_id=tariff.id,
        currency=tariff.currency,
        idle_minutes_billed=float(idle_billed),
        subtotal=float(subtotal),
        tax=float(tax),
        total=float(subtotal + tax),
        unpriced_reason=None,
    )
    return result


def price_sessions(
    sessions: pd.DataFrame,
    tariffs: Sequence[TariffConfig],
    site_tz: str | Mapping[str, str],
    default_tz: str | None = None,
) -> pd.DataFrame:
    """One row per session with its tariff, quantities and cost lines (NaN when unpriced)."""
    needed = ["session_id", "charger_id", "connector_id", "site", "id_tag", "started_at"]
    needed += ["stopped_at", "energy_wh", "first_power_at", "last_power_at"]
    missing = [c for c in needed if c not in sessions.columns]
    if missing:
        raise ValueError(f"sessions frame lacks column(s): {', '.join(missing)}")
    check_tariffs(list(tariffs))
    if sessions["started_at"].isna().any():
        raise ValueError("sessions.started_at must not be NaN")
    unpriced = dict.fromkeys([*TOTAL_COLUMNS, "idle_minutes_billed"], math.nan)
    rows = []
    for row in sessions[needed].itertuples(index=False):
        if not isinstance(row.site, str):
            row = row._replace(site=None)
        zone = ZoneInfo(_zone_of(row.site, site_tz, default_tz))
        local = datetime.fromtimestamp(row.started_at, UTC).astimezone(zone).replace(tzinfo=None)
        base = {
            "local_date": local.date().isoformat(),
            "month": local.strftime("%Y-%m"),
            "kwh": 0.0 if _nan(row.energy_wh) else row.energy_wh / 1000.0,
            "parked_minutes": (row.stopped_at - row.started_at) / 60.0,
        }
        tariff = select_tariff(tariffs, row.site, local)
        if _nan(row.stopped_at) or tariff is None:
            reason = "open session" if _nan(row.stopped_at) else "no tariff"
            base.update(unpriced, tariff_id=None, currency=None, unpriced_reason=reason)
        else:
            base.update(_price_one(row, tariff))
        rows.append(base)
    priced = pd.DataFrame(rows, index=sessions.index)
    order = ["local_date", "month", "kwh", "parked_minutes", "tariff_id", "currency"]
    order += [*COST_COLUMNS[:3], "idle_minutes_billed", *TOTAL_COLUMNS[3:], "unpriced_reason"]
    if priced.empty:
        priced = pd.DataFrame(columns=order, index=sessions.index)
    return pd.concat([sessions[needed], priced[order]], axis=1).reset_index(drop=True)


def _round_money(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Round summed money columns to each row's currency minor unit (sums of floats drift)."""
    digits = frame["currency"].map(lambda c: currency_minor_units(c) if isinstance(c, str) else 2)
    for column in columns:
        frame[column] = [
            v if math.isnan(v) else round(v, int(d))
            for v, d in zip(frame[column], digits, strict=True)
        ]
    return frame


REVENUE_KEYS: dict[str, list[str]] = {
    "network": [],
    "site": ["site"],
    "charger": ["site", "charger_id"],
    "month": ["month"],
}


def revenue_summary(
    priced: pd.DataFrame, by: Literal["network", "site", "charger", "month"] = "site"
) -> pd.DataFrame:
    """Revenue per site / charger / month and currency; unpriced sessions in currency None rows."""
    if by not in REVENUE_KEYS:
        raise ValueError(f"by must be one of {sorted(REVENUE_KEYS)}, not {by!r}")
    keys = [*REVENUE_KEYS[by], "currency"]
    frame = priced.assign(_unpriced=priced["unpriced_reason"].notna())
    sums = {c: (c, lambda s: s.sum(min_count=1)) for c in TOTAL_COLUMNS}
    out = frame.groupby(keys, dropna=False, sort=True).agg(
        sessions=("session_id", "size"),
        unpriced=("_unpriced", "sum"),
        energy_kwh=("kwh", "sum"),
        **sums,
    )
    out = out.reset_index()
    for key in keys:
        out[key] = out[key].astype(object).where(out[key].notna(), None)
    out["unpriced"] = out["unpriced"].astype(int)
    return _round_money(out, TOTAL_COLUMNS)


def unpriced_count(priced: pd.DataFrame) -> int:
    """How many sessions could not be priced (open, or no tariff valid at their start)."""
    return int(priced["unpriced_reason"].notna().sum())


def invoices(priced: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Invoice lines (one per priced session with an idTag) and the totals per idTag, currency."""
    done = priced[priced["id_tag"].notna() & priced["unpriced_reason"].isna()]
    done = done.sort_values(["id_tag", "started_at", "session_id"], kind="stable")
    lines = pd.DataFrame(
        {
            "id_tag": done["id_tag"],
            "date": done["local_date"],
            "session_id": done["session_id"],
            "charger_id": done["charger_id"],
            "connector_id": done["connector_id"],
            "kwh": done["kwh"].astype(float).round(3),
            "minutes": done["parked_minutes"].astype(float).round(1),
            **{c: done[c] for c in TOTAL_COLUMNS},
            "currency": done["currency"],
            "tariff_id": done["tariff_id"],
        }
    ).reset_index(drop=True)
    totals = (
        lines.groupby(["id_tag", "currency"], sort=True)
        .agg(
            sessions=("session_id", "size"),
            kwh=("kwh", "sum"),
            minutes=("minutes", "sum"),
            subtotal=("subtotal", "sum"),
            tax=("tax", "sum"),
            total=("total", "sum"),
        )
        .reset_index()
    )
    totals["kwh"] = totals["kwh"].round(3)
    totals["minutes"] = totals["minutes"].round(1)
    return lines, _round_money(totals, ["subtotal", "tax", "total"])
