"""SLA conditions: rolling availability below a target, and response times.

Availability follows the NEVI idea of "up": the charger is connected and neither the port
nor the whole charger (connector 0) reports Faulted or Unavailable. It is measured over the
rolling window, counting only time the port was watched, and recomputed every `resolution`
while a port is down or has downtime in the window (a continuous quantity, so a timer).

Response time watches alerts of the given severities: one that is still unacknowledged
(or unresolved) that long after it fired breaches the SLA, until it is acknowledged
(or resolved).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from chargewatch import events as ev
from chargewatch.alerts import FIRING, Alert, Key
from chargewatch.durations import format_duration
from rules.conditions.base import INACTIVE, Condition, Context, Params, Verdict, resolve
from rules.schema import SlaSpec

DOWN_STATUSES = frozenset({"Faulted", "Unavailable"})


@dataclass(slots=True)
class PortHistory:
    observed_since: float
    down_since: float | None = None
    downs: list[list[float]] = field(default_factory=list)  # closed [start, end] intervals


class AvailabilityCondition(Condition):
    kinds = frozenset({"status", "connected", "disconnected", "booted"})
    details = ("availability", "target", "window", "downtime_min")

    def __init__(self, rule: int, scope: str, ctx: Context, spec: SlaSpec) -> None:
        super().__init__(rule, scope, ctx)
        self.spec = spec
        self.ports: dict[tuple[str, int], PortHistory] = {}
        self.ports_of: dict[str, list[int]] = {}  # charger -> its watched ports

    def _is_up(self, charger_id: str, port: int) -> bool:
        charger = self.ctx.facts.chargers[charger_id]
        if charger.connected is False:  # None (unknown, we were down) is not the port's fault
            return False
        for cid in (0, port):
            c = charger.connectors.get(cid)
            if c is not None and c.status in DOWN_STATUSES:
                return False
        return True

    def observe_event(self, e: ev.Event, now: float) -> Iterable[Key]:
        ports = self.ports_of.get(e.charger_id, [])
        connector = getattr(e, "connector_id", 0)
        if e.kind == "status" and connector > 0 and connector not in ports:
            ports.append(connector)
            self.ports_of[e.charger_id] = ports
            self.ports[(e.charger_id, connector)] = PortHistory(now)
        keys: dict[Key, None] = {}
        for port in ports:
            history = self.ports[(e.charger_id, port)]
            up = self._is_up(e.charger_id, port)
            if up and history.down_since is not None:
                history.downs.append([history.down_since, now])
                history.down_since = None
            elif not up and history.down_since is None:
                history.down_since = now
            key = self.ctx.key(self.scope, e.charger_id, port)
            if key is not None:
                keys[key] = None
        return keys

    def _ports(self, key: Key) -> list[tuple[str, int]]:
        if self.scope == "connector":
            return [key] if key in self.ports else []  # type: ignore[list-item]
        chargers = (
            [key[0]] if self.scope == "charger" else self.ctx.chargers_of_site.get(key[0], [])
        )
        return [(c, p) for c in chargers for p in self.ports_of.get(c, [])]

    def evaluate(self, key: Key, now: float, params: Params) -> Verdict:
        window = resolve(self.spec.window, params)
        start = now - window
        observed = down = 0.0
        degraded = False
        for port in self._ports(key):
            h = self.ports[port]
            h.downs = [d for d in h.downs if d[1] > start]
            since = max(h.observed_since, start)
            observed += now - since
            for begin, end in h.downs:
                down += end - max(begin, since)
            if h.down_since is not None:
                down += now - max(h.down_since, since)
            degraded = degraded or bool(h.downs) or h.down_since is not None
        if not degraded or observed <= 0:
            return INACTIVE
        recheck = now + resolve(self.spec.resolution, params)
        min_observed = resolve(self.spec.min_observed, params)
        if observed < min_observed:
            # judged from the moment it has been watched long enough (sooner with more ports)
            return Verdict(False, recheck=min(recheck, now + min_observed - observed))
        availability = 100.0 * (1.0 - down / observed)
        target = resolve(self.spec.availability_below, params)
        if availability >= target:
            return Verdict(False, recheck=recheck)
        details = {
            "availability": f"{availability:.2f}",
            "target": f"{target:g}",
            "window": format_duration(window),
            "downtime_min": round(down / 60),
        }
        return Verdict(True, availability, details, recheck)

    def dump(self) -> Any:
        return [[c, p, h.observed_since, h.down_since, h.downs] for (c, p), h in self.ports.items()]

    def load(self, data: Any) -> None:
        for charger, port, observed_since, down_since, downs in data or []:
            self.ports[(charger, port)] = PortHistory(observed_since, down_since, downs)
            self.ports_of.setdefault(charger, []).append(port)


@dataclass(slots=True)
class Watched:
    alertname: str
    labels: dict[str, str]
    fired_at: float
    acknowledged: bool = False
    resolved: bool = False


class ResponseCondition(Condition):
    """Keyed by the fingerprint of the watched alert; labels copied from it."""

    watches_alerts = True
    details = ("alert", "fired_at", "waited_min", "summary")

    def __init__(self, rule: int, scope: str, ctx: Context, spec: SlaSpec) -> None:
        super().__init__(rule, scope, ctx)
        self.spec = spec
        self.severities = frozenset(spec.severities)
        self.ack = spec.unacknowledged_for is not None
        self.limit = spec.unacknowledged_for if self.ack else spec.unresolved_for
        self.watched: dict[Key, Watched] = {}
        self.summaries: dict[Key, str] = {}
        self.own_rules: frozenset[str] = frozenset()  # set by the engine: SLA rules themselves

    def observe_alert(self, alert: Alert, previous: str | None, now: float) -> Iterable[Key]:
        if alert.severity not in self.severities or alert.rule in self.own_rules:
            return ()
        key = (alert.fingerprint,)
        w = self.watched.get(key)
        if w is None:
            if alert.state != FIRING:
                return ()
            labels = {k: v for k, v in alert.labels.items() if k not in ("alertname", "severity")}
            w = self.watched[key] = Watched(alert.rule, labels, alert.fired_at or now)
        w.acknowledged = alert.acknowledged_at is not None
        w.resolved = alert.state != FIRING
        self.summaries[key] = alert.annotations.get("summary", "")
        return (key,)

    def labels(self, key: Key) -> dict[str, str] | None:
        w = self.watched.get(key)
        return None if w is None else {**w.labels, "alert": w.alertname}

    def evaluate(self, key: Key, now: float, params: Params) -> Verdict:
        w = self.watched.get(key)
        if w is None or w.resolved or (self.ack and w.acknowledged):
            return INACTIVE
        due = w.fired_at + resolve(self.limit, params)
        if now < due:
            return Verdict(False, recheck=due)
        details = {
            "alert": w.alertname,
            "fired_at": w.fired_at,
            "waited_min": round((now - w.fired_at) / 60),
            "summary": self.summaries.get(key, ""),
        }
        return Verdict(True, now - w.fired_at, details)

    def forget(self, key: Key) -> None:
        w = self.watched.get(key)
        if w is not None and w.resolved:
            del self.watched[key]
            self.summaries.pop(key, None)

    def dump(self) -> Any:
        return [[k[0], asdict(w), self.summaries.get(k, "")] for k, w in self.watched.items()]

    def load(self, data: Any) -> None:
        for fp, w, summary in data or []:
            self.watched[(fp,)] = Watched(**w)
            self.summaries[(fp,)] = summary
