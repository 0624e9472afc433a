"""Session outcomes and session KPIs (ChargeX customer KPIs) for the monthly report.

Pure functions on the loader's frames (columns as in docs/reports-kpis.md); times are UTC epoch
seconds, NaN when unknown. The definitions, exactly as computed:

* duration = stopped_at − started_at. A session whose stopped_at is NaN is *open*: it counts as
  a session and an attempt, but it is neither successful nor failed, and it is left out of the
  session-success denominator (its outcome is not known yet).
* A completed session is *successful* when all hold: no fault was reported on its port during
  the session (error_code empty or in `ignored_error_codes`), its stop reason is not in
  `failure_stop_reasons`, energy_wh ≥ `min_energy_wh` (NaN energy counts as 0: nothing metered)
  and duration > `min_duration` ("more than a couple of minutes": the bound itself fails).
  Otherwise it *failed*, with failure_reason = the error code, else the failing stop reason,
  else "insufficient energy", else "too short" (first that applies). A normal stop reason (Local,
  EVDisconnected, Remote, ...) is never the reason: "insufficient energy" says more.
* Plug-in = a port going to Preparing. A plug-in is *followed by* the first session that starts
  on the same port at or after it, before the port's next plug-in and within `attempt_window`.
  Each session is matched to at most one plug-in and vice versa.
* Charge attempts = sessions started + plug-ins not followed by a session. A session without a
  recorded plug-in (remote start, a charger that skips Preparing) is one attempt by itself, so
  neither ratio below can exceed 1.
* Session success = successful sessions / (charge attempts − open sessions).
* Charge start success = sessions that delivered power (first_power_at known) / charge attempts.
  This is ChargeX's "sessions that delivered power / plug-ins", where every session counts its
  own plug-in when none was recorded.
* Charge start time = first_power_at − started_at, mean and median over sessions with both.
* Idle time = stopped_at − last_power_at (clipped at 0) over completed sessions with power: the
  time the car blocked the bay after charging ended.
* Month attribution: a session belongs to the month of its started_at (the loader filters);
  its energy is the whole session's, also when it ends in the next month.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from reports.config import SessionSuccessConfig

# seconds, or text as in the rest of chargewatch.yaml ("2m", "10m")
Level = Literal["network", "site", "charger", "port"]
GROUP_KEYS: dict[str, list[str]] = {
    "network": [],
    "site": ["site"],
    "charger": ["site", "charger_id"],
    "port": ["site", "charger_id", "connector_id"],
}
SESSION_COLUMNS = (
    "session_id",
    "charger_id",
    "connector_id",
    "site",
    "started_at",
    "stopped_at",
    "energy_wh",
    "peak_power_w",
    "first_power_at",
    "last_power_at",
    "stop_reason",
    "error_code",
)
PLUG_IN_COLUMNS = ("charger_id", "connector_id", "site", "ts")


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} frame lacks column(s): {', '.join(missing)}")


def _present(values: pd.Series) -> pd.Series:
    """True where a str column holds a non-empty value (None, NaN and '' are absent)."""
    return values.notna() & (values.astype("string").str.strip().fillna("") != "")


def classify_sessions(sessions: pd.DataFrame, config: SessionSuccessConfig) -> pd.DataFrame:
    """Add duration_s, outcome (successful / failed / open), failure_reason, delivered_power."""
    _require(sessions, SESSION_COLUMNS, "sessions")
    if sessions["started_at"].isna().any():
        bad = sessions.loc[sessions["started_at"].isna(), "session_id"].tolist()
        raise ValueError(f"sessions without started_at: {bad[:5]}")
    out = sessions.copy()
    out["duration_s"] = out["stopped_at"] - out["started_at"]
    is_open = out["stopped_at"].isna()
    error = out["error_code"].where(
        _present(out["error_code"]) & ~out["error_code"].isin(config.ignored_error_codes)
    )
    stop = out["stop_reason"].where(out["stop_reason"].isin(config.failure_stop_reasons))
    low_energy = out["energy_wh"].fillna(0.0) < config.min_energy_wh
    too_short = ~(out["duration_s"] > config.min_duration)
    reason = np.select(
        [error.notna(), stop.notna(), low_energy, too_short],
        [error, stop, "insufficient energy", "too short"],
        default=None,
    )
    reason = pd.Series(reason, index=out.index, dtype=object).where(~is_open, None)
    out["failure_reason"] = reason
    out["outcome"] = np.where(is_open, "open", np.where(reason.isna(), "successful", "failed"))
    out["delivered_power"] = out["first_power_at"].notna()
    return out


def match_plug_ins(
    sessions: pd.DataFrame, plug_ins: pd.DataFrame, config: SessionSuccessConfig
) -> pd.DataFrame:
    """The plug-ins with the session_id that followed each (None: an attempt without session)."""
    _require(plug_ins, PLUG_IN_COLUMNS, "plug_ins")
    _require(sessions, ("session_id", "charger_id", "connector_id", "started_at"), "sessions")
    if plug_ins["ts"].isna().any() or sessions["started_at"].isna().any():
        raise ValueError("plug_ins.ts and sessions.started_at must not be NaN")
    plugs = plug_ins.reset_index(drop=True).copy()
    plugs["_plug"] = np.arange(len(plugs))
    plugs["session_id"] = None
    if plugs.empty or sessions.empty:
        return plugs.drop(columns="_plug")
    port = ["charger_id", "connector_id"]
    plugs = plugs.sort_values([*port, "ts"], kind="stable")
    next_plug = plugs.groupby(port, sort=False)["ts"].shift(-1)
    plugs["_until"] = np.fmin(next_plug.fillna(np.inf), plugs["ts"] + config.attempt_window)
    left = sessions[["session_id", *port, "started_at"]].sort_values("started_at")
    left = left.astype({"connector_id": plugs["connector_id"].dtype})
    right = plugs[[*port, "ts", "_until", "_plug"]].sort_values("ts")
    matched = pd.merge_asof(
        left, right, left_on="started_at", right_on="ts", by=port, direction="backward"
    )
    matched = matched[matched["_plug"].notna() & (matched["started_at"] < matched["_until"])]
    first = matched.sort_values("started_at").drop_duplicates("_plug", keep="first")
    by_plug = dict(zip(first["_plug"].astype(int), first["session_id"], strict=True))
    plugs["session_id"] = plugs["_plug"].map(by_plug).astype(object)
    plugs["session_id"] = plugs["session_id"].where(plugs["session_id"].notna(), None)
    return plugs.sort_values("_plug").drop(columns=["_plug", "_until"]).reset_index(drop=True)


def _group(frame: pd.DataFrame, keys: list[str]):
    if keys:
        return frame.groupby(keys, dropna=False, sort=True)
    return frame.assign(_all=0).groupby("_all")


def session_kpis(
    sessions: pd.DataFrame,
    plug_ins: pd.DataFrame,
    config: SessionSuccessConfig,
    by: Level = "network",
) -> pd.DataFrame:
    """One row per site / charger / port (or one for the network) with the session KPIs."""
    if by not in GROUP_KEYS:
        raise ValueError(f"by must be one of {sorted(GROUP_KEYS)}, not {by!r}")
    keys = GROUP_KEYS[by]
    s = classify_sessions(sessions, config)
    s["_completed"] = s["outcome"] != "open"
    s["_successful"] = s["outcome"] == "successful"
    s["_failed"] = s["outcome"] == "failed"
    s["_open"] = s["outcome"] == "open"
    s["_duration_min"] = s["duration_s"] / 60.0
    s["_idle_min"] = ((s["stopped_at"] - s["last_power_at"]).clip(lower=0.0)) / 60.0
    s["_start_s"] = s["first_power_at"] - s["started_at"]
    s["_kwh"] = s["energy_wh"] / 1000.0
    s["_kw"] = s["peak_power_w"] / 1000.0
    agg = _group(s, keys).agg(
        sessions=("session_id", "size"),
        completed=("_completed", "sum"),
        successful=("_successful", "sum"),
        failed=("_failed", "sum"),
        open=("_open", "sum"),
        delivered_power=("delivered_power", "sum"),
        energy_kwh=("_kwh", "sum"),
        peak_kw=("_kw", "max"),
        mean_duration_min=("_duration_min", "mean"),
        idle_min_total=("_idle_min", "sum"),
        idle_min_mean=("_idle_min", "mean"),
        charge_start_s_mean=("_start_s", "mean"),
        charge_start_s_median=("_start_s", "median"),
    )
    plugs = match_plug_ins(sessions, plug_ins, config)
    plugs["_unmatched"] = plugs["session_id"].isna()
    pagg = _group(plugs, keys).agg(
        plug_ins=("ts", "size"), unmatched_plug_ins=("_unmatched", "sum")
    )
    out = agg.join(pagg, how="outer")
    if not keys and out.empty:  # the network always has its row, even in an empty month
        out = out.reindex([0])
    counts = ["sessions", "completed", "successful", "failed", "open", "delivered_power"]
    counts += ["plug_ins", "unmatched_plug_ins"]
    out[counts] = out[counts].fillna(0).astype(int)
    out["energy_kwh"] = out["energy_kwh"].fillna(0.0)
    out["idle_min_total"] = out["idle_min_total"].fillna(0.0)
    out["attempts"] = out["sessions"] + out["unmatched_plug_ins"]
    assessed = (out["attempts"] - out["open"]).astype(float)
    out["session_success"] = out["successful"] / assessed.where(assessed > 0)
    out["charge_start_success"] = out["delivered_power"] / out["attempts"].where(
        out["attempts"] > 0
    ).astype(float)
    out = out.reset_index()
    if not keys:
        out = out.drop(columns="_all")
    for key in keys:
        out[key] = out[key].astype(object).where(out[key].notna(), None)
    return out


def failure_breakdown(classified: pd.DataFrame, by: Level = "network") -> pd.DataFrame:
    """Failed sessions counted per failure_reason (and site / charger / port), most first."""
    keys = GROUP_KEYS[by]
    failed = classified[classified["outcome"] == "failed"]
    counts = failed.groupby([*keys, "failure_reason"], dropna=False).size()
    out = counts.rename("sessions").reset_index()
    return out.sort_values([*keys, "sessions"], ascending=[True] * len(keys) + [False]).reset_index(
        drop=True
    )
