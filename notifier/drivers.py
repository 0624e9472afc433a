"""Driver notices: a driver hears about their own sessions — started, finished (energy,
duration), interrupted by a fault, and a warning when the car still occupies the bay after
charging ended — and never about anyone else's.

Pure like the dispatcher: journal events and time in, notifications out, with snapshots.
A session is tied to its idTag at SessionStarted; only that idTag's driver, if registered
and opted in to that notice, is told. idTags compare case-insensitively (OCPP's CiString).
A fault is told only if it lasts `fault_grace` (chargers clear many faults on their own).
A connector-0 fault interrupts every session of the charger, and each driver is told about
their own session only.

The registry is the config's drivers plus those set through the API (journaled as
`DriverSet`); the config's entries cannot be changed through the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from chargewatch import events as ev
from chargewatch.durations import format_duration
from notifier.model import DRIVER, Notification
from notifier.templates_text import clock
from notifier.timers import Timers

STARTED, FINISHED, INTERRUPTED, IDLE = "started", "finished", "interrupted", "idle"
IDLE_STATUSES = frozenset({"SuspendedEV", "Finishing"})  # charged, car still plugged in
RECEIVER_PREFIX = "driver:"


@dataclass(frozen=True, slots=True)
class Driver:
    id_tag: str
    name: str
    targets: tuple[str, ...]
    notify: frozenset[str]
    from_config: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "targets": list(self.targets), "notify": sorted(self.notify)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Driver:
        return cls(d["id_tag"], d["name"], tuple(d["targets"]), frozenset(d["notify"]))


@dataclass(slots=True)
class Visit:
    """A session on a connector, from its start until the car leaves the bay."""

    session_id: str
    id_tag: str
    started_at: float
    charged: bool = False  # Charging was seen
    stopped: bool = False  # StopTransaction came; the car may still be plugged in
    interrupted: bool = False  # the driver was told of a fault already
    idle_warned: bool = False
    fault_code: str | None = None  # a fault waiting out `fault_grace` before it is told
    fault_at: float = 0.0
    fault_whole_charger: bool = False  # reported on connector 0


def receiver_name(id_tag: str) -> str:
    return RECEIVER_PREFIX + id_tag


def public_name(receiver: str) -> str:
    """A receiver as metrics and logs may name it: drivers' idTags are personal data."""
    return "driver" if receiver.startswith(RECEIVER_PREFIX) else receiver


class DriverNotifier:
    def __init__(
        self,
        drivers: Mapping[str, Driver],
        idle_warning_after: float,
        site_of: Mapping[str, str] | None = None,
        tz_of_site: Mapping[str, str] | None = None,
        fault_grace: float = 0.0,
    ) -> None:
        # idTags compare case-insensitively, as OCPP's CiString does
        self.config_drivers = {tag.upper(): d for tag, d in drivers.items()}
        self.api_drivers: dict[str, Driver] = {}
        self.idle_after, self.fault_grace = idle_warning_after, fault_grace
        self.site_of, self.tz_of_site = dict(site_of or {}), dict(tz_of_site or {})
        self.visits: dict[tuple[str, int], Visit] = {}
        self._timers = Timers()
        self.now = 0.0
        # the owner of a card in the idTag registry (chargewatch/idtags.py), set by the app:
        # a session started with any of a driver's cards is that driver's
        self.owner_of: Callable[[str], str | None] = lambda _tag: None

    def registered_as(self, id_tag: str) -> Driver | None:
        """The driver registered under exactly this idTag."""
        tag = id_tag.upper()
        return self.config_drivers.get(tag) or self.api_drivers.get(tag)

    def driver(self, id_tag: str | None) -> Driver | None:
        """The driver of a card: registered under it, or its owner in the idTag registry."""
        if not id_tag:
            return None
        found = self.registered_as(id_tag)
        if found is None:
            owner = self.owner_of(id_tag)
            found = self.registered_as(owner) if owner else None
        return found

    def in_config(self, id_tag: str) -> bool:
        return id_tag.upper() in self.config_drivers

    def set_through_api(self, id_tag: str) -> bool:
        return id_tag.upper() in self.api_drivers

    # ---- input -------------------------------------------------------------------------
    def event(self, e: ev.Event) -> list[Notification]:
        out = self.advance(e.ts)
        if isinstance(e, ev.SessionStarted):
            out += self._started(e)
        elif isinstance(e, ev.SessionStopped):
            out += self._stopped(e)
        elif isinstance(e, ev.StatusReported):
            out += self._status(e)
        elif isinstance(e, ev.DriverSet):
            self._registry(e)
        return out

    def advance(self, now: float) -> list[Notification]:
        out: list[Notification] = []
        for due, timer in self._timers.pop_due(now):
            self.now = max(self.now, due)
            kind, charger, connector = timer  # type: ignore[misc]
            key = (charger, connector)
            visit = self.visits.get(key)
            if visit is None:
                continue
            if kind == IDLE and not visit.idle_warned:
                visit.idle_warned = True
                out += self._notice(IDLE, key, visit, self.now, self._idle_text(key, visit))
            elif kind == INTERRUPTED:
                out += self._interrupted(key, visit)
        self.now = max(self.now, now)
        return out

    def next_due(self) -> float | None:
        return self._timers.next_due()

    # ---- sessions ----------------------------------------------------------------------
    def _started(self, e: ev.SessionStarted) -> list[Notification]:
        key = (e.charger_id, e.connector_id)
        self._cancel(key)
        if self.driver(e.id_tag) is None:
            self.visits.pop(key, None)  # a session nobody is to hear about: not followed
            return []
        visit = Visit(e.session_id, e.id_tag or "", e.started_at or e.ts)
        self.visits[key] = visit
        text = f"Charging started at {self._where(key)} at {self._clock(key, visit.started_at)}."
        return self._notice(STARTED, key, visit, e.ts, text)

    def _stopped(self, e: ev.SessionStopped) -> list[Notification]:
        key = self._find(e.charger_id, e.session_id, e.connector_id)
        if key is None:
            return []  # started before we knew it, or already told
        visit = self.visits[key]
        if visit.stopped:
            return []
        visit.stopped = True
        started = e.started_at or visit.started_at
        parts = [f"Charging finished at {self._where(key)}"]
        if e.energy_wh is not None:
            parts.append(f": {e.energy_wh / 1000:.2f} kWh")
        stopped = e.stopped_at or e.ts
        parts.append(f" in {format_duration(round(max(0.0, stopped - started) / 60) * 60)}.")
        return self._notice(FINISHED, key, visit, e.ts, "".join(parts))

    def _status(self, e: ev.StatusReported) -> list[Notification]:
        keys = [k for k in self.visits if k[0] == e.charger_id]
        if e.connector_id:
            keys = [k for k in keys if k[1] == e.connector_id]
        for key in keys:
            visit = self.visits[key]
            if e.status == "Faulted":
                if not (visit.stopped or visit.interrupted or visit.fault_code):
                    code = e.error_code if e.error_code and e.error_code != "NoError" else ""
                    visit.fault_code, visit.fault_at = code or "a fault", e.ts
                    visit.fault_whole_charger = not e.connector_id
                    self._timers.set((INTERRUPTED, *key), e.ts + self.fault_grace)
            elif visit.fault_code and (e.connector_id or visit.fault_whole_charger):
                visit.fault_code = None  # cleared within the grace: a blip, not news
                self._timers.set((INTERRUPTED, *key), None)
        out = self.advance(e.ts)  # a grace of 0 tells at once
        key = (e.charger_id, e.connector_id)
        visit = self.visits.get(key)
        if visit is None or not e.connector_id:
            return out
        if e.status == "Charging":
            visit.charged = True
            self._timers.set((IDLE, *key), None)
        elif e.status in IDLE_STATUSES:
            waiting = self._timers.get((IDLE, *key)) is not None or visit.idle_warned
            if (visit.charged or visit.stopped) and not waiting:
                self._timers.set((IDLE, *key), e.ts + self.idle_after)
        elif e.status == "Available" or (e.status == "Preparing" and visit.stopped):
            self._timers.set((IDLE, *key), None)  # the car left (or the next one plugged in)
            if visit.stopped:
                self._cancel(key)
                del self.visits[key]
        return out

    def _interrupted(self, key: tuple[str, int], visit: Visit) -> list[Notification]:
        if visit.fault_code is None or visit.stopped or visit.interrupted:
            return []
        visit.interrupted = True
        text = (
            f"Your charging at {self._where(key)} was interrupted by {visit.fault_code} at "
            f"{self._clock(key, visit.fault_at)}. We are on it; please try another connector."
        )
        return self._notice(INTERRUPTED, key, visit, self.now, text)

    def _cancel(self, key: tuple[str, int]) -> None:
        for kind in (IDLE, INTERRUPTED):
            self._timers.set((kind, *key), None)

    def _find(self, charger: str, session_id: str, connector: int) -> tuple[str, int] | None:
        for key, visit in self.visits.items():
            if key[0] == charger and visit.session_id == session_id:
                return key
        return None

    def _registry(self, e: ev.DriverSet) -> None:
        if e.removed:
            self.api_drivers.pop(e.id_tag.upper(), None)
        else:
            self.api_drivers[e.id_tag.upper()] = Driver(
                e.id_tag, e.name, tuple(e.targets), frozenset(e.notify)
            )

    # ---- messages ----------------------------------------------------------------------
    def _notice(
        self, notice: str, key: tuple[str, int], visit: Visit, at: float, text: str
    ) -> list[Notification]:
        driver = self.driver(visit.id_tag)
        if driver is None or notice not in driver.notify:
            return []
        labels = {"charger": key[0], "connector": str(key[1]), "notice": notice}
        site = self.site_of.get(key[0])
        if site:
            labels["site"] = site
        group = f"{receiver_name(driver.id_tag)}:{visit.session_id}"
        return [Notification(receiver_name(driver.id_tag), group, labels, DRIVER, at, text=text)]

    def _idle_text(self, key: tuple[str, int], visit: Visit) -> str:
        minutes = format_duration(round(self.idle_after / 60) * 60 or self.idle_after)
        return (
            f"Your car at {self._where(key)} finished charging {minutes} ago and still "
            "occupies the charger. Please move it so others can charge; idle fees may apply."
        )

    def _where(self, key: tuple[str, int]) -> str:
        return f"{key[0]} connector {key[1]}"

    def _clock(self, key: tuple[str, int], ts: float) -> str:
        tz = self.tz_of_site.get(self.site_of.get(key[0], ""), "UTC")
        return clock(ts, tz, ts, abbrev=True)

    # ---- snapshots ---------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "api_drivers": [d.to_dict() for d in self.api_drivers.values()],
            "visits": [
                {
                    "charger": k[0],
                    "connector": k[1],
                    **asdict(v),
                    "idle_due": self._timers.get((IDLE, *k)),
                    "fault_due": self._timers.get((INTERRUPTED, *k)),
                }
                for k, v in self.visits.items()
            ],
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        self.now = data["now"]
        self.api_drivers = {d["id_tag"].upper(): Driver.from_dict(d) for d in data["api_drivers"]}
        self.visits, self._timers = {}, Timers()
        for v in data["visits"]:
            v = dict(v)
            key = (v.pop("charger"), v.pop("connector"))
            self._timers.set((IDLE, *key), v.pop("idle_due"))
            self._timers.set((INTERRUPTED, *key), v.pop("fault_due"))
            self.visits[key] = Visit(**v)

    def registered(self) -> Iterator[Driver]:
        yield from self.config_drivers.values()
        yield from (d for t, d in self.api_drivers.items() if t not in self.config_drivers)
