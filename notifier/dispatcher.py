"""The dispatcher: alert changes and time in, notifications out — Alertmanager's pipeline
(inhibit → silence → group → wait/interval/repeat → route → time intervals) plus what its
users keep asking for: acknowledgements that stop repeats, escalation when nobody
acknowledges, and a rate limit that summarises a storm instead of sending 500 SMS.

Pure like the rule engine: no I/O, no wall clock. Every timer fires at its own due time,
whatever moment `advance` is called at, so a timeline test gives the same notifications
whether time is advanced every second or once. The runner snapshots `snapshot()` with
its journal cursor and the outbox rows in one transaction.

Grouping, as in Alertmanager: the first alert of a group waits `group_wait`, then the
group is looked at every `group_interval`; it is notified when an alert joined or was
resolved since the last notification, or when nothing changed but `repeat_interval` has
passed (not when every firing alert is acknowledged). A resolved alert is announced only
to whom its firing was announced.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from chargewatch.timeintervals import IntervalSpec, in_any
from notifier.config import NotificationsConfig, receiver_for
from notifier.groups import Group
from notifier.inhibition import InhibitRule, muted_by
from notifier.model import ESCALATION, NEW, REPEAT, UPDATE, AlertInfo, Notification
from notifier.ratelimit import RateLimiter, ReceiverPolicy
from notifier.routes import Route, build
from notifier.silences import Silence
from notifier.timers import Timers

FIRING, RESOLVED = "firing", "resolved"


class Dispatcher:
    def __init__(
        self,
        root: Route,
        receivers: Mapping[str, ReceiverPolicy],
        inhibit: Sequence[InhibitRule] = (),
        intervals: Mapping[str, Sequence[IntervalSpec]] | None = None,
    ) -> None:
        self.root = root
        self.routes = {r.path: r for r in _walk(root)}
        self.receivers = dict(receivers)
        self.inhibit = tuple(inhibit)
        self.intervals = dict(intervals or {})
        self.now = 0.0
        self.alerts: dict[str, AlertInfo] = {}  # firing, or resolved and not yet announced
        self.groups: dict[str, Group] = {}
        self.alert_groups: dict[str, list[str]] = {}  # fingerprint -> group keys
        self.silences: dict[str, Silence] = {}
        self.limits = RateLimiter(self.receivers)
        self._timers = Timers()

    # ---- input -------------------------------------------------------------------------
    def alert(self, info: AlertInfo, at: float) -> list[Notification]:
        """An alert fired, changed or resolved at `at` (pending and inactive are ignored)."""
        out = self.advance(at)
        if info.state == FIRING:
            self._firing(info, at)
        elif info.state == RESOLVED:
            self._resolved(info)
        return out + self.advance(at)  # group_wait 0: notified at once

    def acknowledge(self, fingerprint: str, by: str | None, at: float) -> list[Notification]:
        """Someone took the alert on (`by`), or gave it back (`by` None)."""
        out = self.advance(at)
        alert = self.alerts.get(fingerprint)
        if alert is not None and alert.state == FIRING:
            self.alerts[fingerprint] = replace(
                alert, acknowledged_by=by, acknowledged_at=at if by else None
            )
            for key in self.alert_groups.get(fingerprint, ()):
                self._schedule_escalation(self.groups[key])
        return out

    def silence(self, silence: Silence, at: float) -> list[Notification]:
        """A silence was set, changed or expired (an expired one has ends_at <= at)."""
        out = self.advance(at)
        if silence.ends_at <= at:
            self.silences.pop(silence.id, None)
        else:
            self.silences[silence.id] = silence
        return out

    def advance(self, now: float) -> list[Notification]:
        """Let time pass to `now`: every timer due by then fires at its own time."""
        out: list[Notification] = []
        for due, (kind, name) in self._timers.pop_due(now):
            at = self.now = max(self.now, due)
            if kind == "flush" and name in self.groups:
                out += self._flush(self.groups[name], at)
            elif kind == "escalate" and name in self.groups:
                out += self._escalate(self.groups[name], at)
            elif kind == "summary":
                out += self._summary(name, at)
        self.now = max(self.now, now)
        for sid in [s.id for s in self.silences.values() if s.ends_at <= self.now]:
            del self.silences[sid]
        return out

    def next_due(self) -> float | None:
        return self._timers.next_due()

    # ---- alerts into groups ------------------------------------------------------------
    def _firing(self, info: AlertInfo, at: float) -> None:
        known = self.alerts.get(info.fingerprint)
        if known is not None and known.state == FIRING and info.acknowledged_by is None:
            # a source that knows nothing of our acknowledgements (Alertmanager) keeps them
            info = replace(
                info, acknowledged_by=known.acknowledged_by, acknowledged_at=known.acknowledged_at
            )
        self.alerts[info.fingerprint] = info
        if info.fingerprint not in self.alert_groups:
            self.alert_groups[info.fingerprint] = keys = []
            for route in self.root.match(info.labels):
                group = self._group(route, info.labels, at)
                group.members[info.fingerprint] = None
                keys.append(group.key)
        for key in self.alert_groups[info.fingerprint]:
            self._schedule_escalation(self.groups[key])

    def _resolved(self, info: AlertInfo) -> None:
        if info.fingerprint not in self.alerts:
            return  # never fired here (or already announced as resolved)
        self.alerts[info.fingerprint] = info
        for key in self.alert_groups.get(info.fingerprint, ()):
            self._schedule_escalation(self.groups[key])
        self._forget(info.fingerprint)

    def _group(self, route: Route, labels: Mapping[str, str], at: float) -> Group:
        group_labels = dict(route.group_key(labels))
        key = route.path + "{" + ",".join(f'{k}="{v}"' for k, v in group_labels.items()) + "}"
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, route.path, group_labels)
            group.next_flush = at + route.group_wait
            self._timers.set(("flush", key), group.next_flush)
        return group

    def _forget(self, fingerprint: str) -> None:
        """Drop a resolved alert that no group still has to announce."""
        keys = self.alert_groups.get(fingerprint, [])
        keys[:] = [k for k in keys if k in self.groups and fingerprint in self.groups[k].members]
        alert = self.alerts.get(fingerprint)
        if not keys and alert is not None and alert.state == RESOLVED:
            del self.alerts[fingerprint]
            self.alert_groups.pop(fingerprint, None)

    # ---- flushing a group --------------------------------------------------------------
    def _flush(self, g: Group, at: float) -> list[Notification]:
        route = self.routes[g.route]
        receiver = self._receiver(route.receiver, g.labels)
        policy = self.receivers.get(receiver, ReceiverPolicy())
        firing, resolved, dropped = [], [], []
        for fp in g.members:
            alert = self.alerts[fp]
            muted = self._muted(alert, at)
            if alert.state == FIRING:
                if not muted:
                    firing.append(alert)
            elif muted or fp not in g.sent_firing:
                dropped.append(fp)  # nobody was told it fired
            else:
                resolved.append(alert)
        out: list[Notification] = []
        if not self._time_muted(route, at):
            out = self._decide(g, route, receiver, policy.send_resolved, firing, resolved, at)
        for fp in dropped:
            g.members.pop(fp, None)
            g.sent_firing.discard(fp)
            g.escalated.pop(fp, None)
            g.told_at.pop(fp, None)
        for fp in dropped + [a.fingerprint for a in resolved if a.fingerprint not in g.members]:
            self._forget(fp)
        if not g.members:
            del self.groups[g.key]
            self._timers.set(("escalate", g.key), None)
            return out
        g.next_flush = at + route.group_interval
        self._timers.set(("flush", g.key), g.next_flush)
        self._schedule_escalation(g)
        return out

    def _decide(
        self,
        g: Group,
        route: Route,
        receiver: str,
        send_resolved: bool,
        firing: list[AlertInfo],
        resolved: list[AlertInfo],
        at: float,
    ) -> list[Notification]:
        """The group's notification at this tick, if any; resolved alerts leave the group
        either way (announced, or not wanted)."""
        fire_set = {a.fingerprint for a in firing}
        told = resolved if send_resolved else []
        reason = None
        if fire_set - g.sent_firing or told:
            reason = NEW if g.last_sent_at is None else UPDATE
        elif (
            firing
            and g.last_sent_at is not None
            and at - g.last_sent_at >= route.repeat_interval
            and any(a.acknowledged_by is None for a in firing)
        ):
            reason = REPEAT
        out: list[Notification] = []
        if reason is not None:
            n = Notification(receiver, g.key, g.labels, reason, at, tuple(firing), tuple(told))
            out = self._emit(n)
            g.last_sent_at, g.sent_firing = at, fire_set
            for fp in fire_set:
                g.told_at.setdefault(fp, at)
        out += self._escalation_resolved(g, route, receiver, resolved, at)
        for alert in resolved:
            g.members.pop(alert.fingerprint, None)
            g.sent_firing.discard(alert.fingerprint)
            g.escalated.pop(alert.fingerprint, None)
            g.told_at.pop(alert.fingerprint, None)
        return out

    def _muted(self, alert: AlertInfo, at: float) -> bool:
        if any(s.mutes(alert.labels, at) for s in self.silences.values()):
            return True
        wider = self.alerts.get(alert.explained_by or "")
        if wider is not None and wider.state == FIRING:
            return True  # the site outage is the news; its chargers' alerts are not
        if not self.inhibit:
            return False
        firing = ((fp, a.labels) for fp, a in self.alerts.items() if a.state == FIRING)
        return muted_by(self.inhibit, alert.labels, firing, alert.fingerprint) is not None

    def _time_muted(self, route: Route, at: float) -> bool:
        if any(in_any(self.intervals[n], at) for n in route.mute_time_intervals):
            return True
        active = route.active_time_intervals
        return bool(active) and not any(in_any(self.intervals[n], at) for n in active)

    def _receiver(self, template: str, labels: Mapping[str, str]) -> str:
        """The receiver a (possibly label-templated) name gives; the root's when the name
        is not a receiver (the runner logs it with the notification)."""
        name = receiver_for(template, dict(labels))
        return name if name in self.receivers else self.root.receiver

    # ---- escalation --------------------------------------------------------------------
    def _escalation_candidates(self, g: Group, at: float) -> Iterator[tuple[int, AlertInfo]]:
        """(next step index, alert) of the notified, unacknowledged, unmuted firing alerts
        with escalation steps left."""
        steps = self.routes[g.route].escalate
        for fp in g.members:
            alert = self.alerts[fp]
            level = g.escalated.get(fp, 0)
            if (
                alert.state == FIRING
                and alert.acknowledged_by is None
                and fp in g.sent_firing
                and fp in g.told_at
                and level < len(steps)
                and not self._muted(alert, at)
            ):
                yield level, alert

    def _schedule_escalation(self, g: Group) -> None:
        steps = self.routes[g.route].escalate
        dues = [
            g.told_at[a.fingerprint] + steps[level].after
            for level, a in self._escalation_candidates(g, self.now)
        ]
        # never in the past: an alert unmuted late escalates now, not at its old due time
        g.escalate_at = max(min(dues), g.escalation_hold, self.now) if dues else None
        self._timers.set(("escalate", g.key), g.escalate_at)

    def _escalate(self, g: Group, at: float) -> list[Notification]:
        route = self.routes[g.route]
        if self._time_muted(route, at):
            g.escalation_hold = g.next_flush  # look again when the group is next looked at
            self._schedule_escalation(g)
            return []
        by_level: dict[int, list[AlertInfo]] = {}
        for level, alert in self._escalation_candidates(g, at):
            if g.told_at[alert.fingerprint] + route.escalate[level].after <= at:
                by_level.setdefault(level, []).append(alert)
                g.escalated[alert.fingerprint] = level + 1
        out: list[Notification] = []
        for level, alerts in sorted(by_level.items()):
            receiver = self._receiver(route.escalate[level].receiver, g.labels)
            n = Notification(
                receiver, g.key, g.labels, ESCALATION, at, tuple(alerts), escalation_level=level + 1
            )
            out += self._emit(n)
        self._schedule_escalation(g)
        return out

    def _escalation_resolved(
        self, g: Group, route: Route, main: str, resolved: list[AlertInfo], at: float
    ) -> list[Notification]:
        """Whoever an alert was escalated to hears that it resolved, too: once, whatever
        the route's own receiver wants, and not twice when a step names that receiver."""
        by_receiver: dict[str, dict[str, AlertInfo]] = {}
        for alert in resolved:
            for step in route.escalate[: g.escalated.get(alert.fingerprint, 0)]:
                receiver = self._receiver(step.receiver, g.labels)
                if (
                    receiver != main
                    and self.receivers.get(receiver, ReceiverPolicy()).send_resolved
                ):
                    by_receiver.setdefault(receiver, {})[alert.fingerprint] = alert
        out: list[Notification] = []
        for receiver, alerts in by_receiver.items():
            n = Notification(receiver, g.key, g.labels, UPDATE, at, (), tuple(alerts.values()))
            out += self._emit(n)
        return out

    # ---- rate limits -------------------------------------------------------------------
    def _emit(self, n: Notification) -> list[Notification]:
        admitted, summary_at = self.limits.admit(n)
        if summary_at is not None:
            self._timers.set(("summary", n.receiver), summary_at)
        return [n] if admitted else []

    def _summary(self, receiver: str, at: float) -> list[Notification]:
        n, retry_at = self.limits.summary(receiver, at)
        if retry_at is not None:
            self._timers.set(("summary", receiver), retry_at)
        return [n] if n is not None else []

    # ---- snapshots ---------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "alerts": [a.to_dict() for a in self.alerts.values()],
            "groups": [g.to_dict() for g in self.groups.values()],
            "silences": [s.to_dict() for s in self.silences.values()],
            "windows": self.limits.snapshot(),
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Continue from a snapshot, timers as they were. Groups whose route is gone (the
        config changed) are dropped."""
        self.now = data["now"]
        self.alerts = {a["fingerprint"]: AlertInfo.from_dict(a) for a in data["alerts"]}
        self.silences = {s["id"]: Silence.from_dict(s) for s in data["silences"]}
        self.groups, self.alert_groups = {}, {}
        for d in data["groups"]:
            g = Group.from_dict(d)
            if g.route not in self.routes:
                continue
            self.groups[g.key] = g
            for fp in g.members:
                self.alert_groups.setdefault(fp, []).append(g.key)
            self._timers.set(("flush", g.key), g.next_flush)
            self._timers.set(("escalate", g.key), g.escalate_at)
        for fp in [fp for fp in self.alerts if fp not in self.alert_groups]:
            alert = self.alerts.pop(fp)
            if alert.state == FIRING:  # its route is gone (the config changed): route anew
                self._firing(alert, self.now)
        for receiver, due in self.limits.restore(data["windows"], self.now).items():
            self._timers.set(("summary", receiver), due)


def _walk(route: Route) -> Iterator[Route]:
    yield route
    for child in route.routes:
        yield from _walk(child)


def dispatcher_for(cfg: NotificationsConfig) -> Dispatcher:
    """The dispatcher a validated `notifications:` section describes."""
    assert cfg.route is not None, "validated configs with receivers have a route"
    receivers = {
        r.name: ReceiverPolicy(
            r.send_resolved,
            r.rate_limit.count if r.rate_limit else None,
            r.rate_limit.per if r.rate_limit else 0.0,
        )
        for r in cfg.receivers
    }
    return Dispatcher(
        build(cfg.route),
        receivers,
        [InhibitRule.of(spec) for spec in cfg.inhibit_rules],
        {i.name: i.time_intervals for i in cfg.time_intervals},
    )
