"""Rule engine benchmark: events/s through the whole default pack for a large fleet.

One run, side by side:
* facts only: the engine with no rules (updating what it knows per charger; the baseline),
* the default pack, 10,000 chargers x 2 connectors (sites of 10),
* the default pack, 1,000 chargers: the cost per event must not grow with the fleet.
Then the time and size of a snapshot of the 10,000-charger engine (taken every
`rules.snapshot_interval` by `chargewatch run`).

The events are generated before timing, deterministically (seeded): a fleet reporting
MeterValues of 10 sampled values once a minute per charger, with heartbeats, status changes,
sessions, rejected tags, faults and boots mixed in. Receive times advance as that fleet's
message rate, so timers (silences, windows, `for`) run as they would in production.

Run from the repository root: `.venv/bin/python bench/rules.py [--events N] [--seed S]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chargewatch import events as ev
from rules import loader
from rules.engine import Engine

T0 = 1_767_225_600.0
METER_EVERY_S = 60.0  # per charger: a MeterValues a minute while charging


def fleet(chargers: int) -> tuple[list[str], dict[str, str]]:
    ids = [f"CP-{i:05d}" for i in range(chargers)]
    return ids, {cid: f"site-{i // 10:04d}" for i, cid in enumerate(ids)}


def samples(t: float, energy: float, power: float, rng: random.Random) -> tuple[ev.Sample, ...]:
    volts = [rng.uniform(228, 234) for _ in range(3)]
    amps = [power / 3 / v for v in volts]
    return (
        ev.Sample(
            t, "Energy.Active.Import.Register", energy, "Wh", None, "Sample.Periodic", "Outlet"
        ),
        ev.Sample(t, "Power.Active.Import", power, "W", None, "Sample.Periodic", "Outlet"),
        *(ev.Sample(t, "Current.Import", a, "A", f"L{i + 1}") for i, a in enumerate(amps)),
        *(ev.Sample(t, "Voltage", v, "V", f"L{i + 1}-N") for i, v in enumerate(volts)),
        ev.Sample(t, "SoC", rng.uniform(10, 90), "%", None, None, "EV"),
        ev.Sample(t, "Temperature", rng.uniform(25, 55), "degC", None, None, "Body"),
    )


def generate(chargers: int, count: int, seed: int) -> list[ev.Event]:
    """Set-up events for every charger, then `count` events of a fleet at work."""
    rng = random.Random(seed)
    ids, _ = fleet(chargers)
    out: list[ev.Event] = []
    t = T0
    for cid in ids:
        out.append(ev.Connected(cid, t, remote="10.0.0.1:1000", protocol="ocpp1.6"))
        out.append(ev.Booted(cid, t, vendor="Acme", model="DC50", heartbeat_interval=300))
        for connector in (0, 1, 2):
            out.append(
                ev.StatusReported(
                    cid, t, connector_id=connector, status="Available", error_code="NoError"
                )
            )
        t += 0.001
    energy = dict.fromkeys(ids, 0.0)
    sessions: dict[tuple[str, int], str] = {}
    step = METER_EVERY_S / chargers  # the whole fleet's message rate
    for n in range(count):
        t += step
        cid = ids[n % chargers] if rng.random() < 0.9 else rng.choice(ids)
        connector = 1 + rng.randrange(2)
        r = rng.random()
        if r < 0.78:
            power = 0.0 if rng.random() < 0.02 else rng.uniform(5000, 50000)
            energy[cid] += power * METER_EVERY_S / 3600
            session = sessions.get((cid, connector))
            out.append(
                ev.MeterValuesReported(
                    cid, t, connector, session, samples(t, energy[cid], power, rng)
                )
            )
        elif r < 0.86:
            out.append(ev.HeartbeatReceived(cid, t))
        elif r < 0.92:
            status = rng.choice(["Preparing", "Charging", "SuspendedEV", "Finishing", "Available"])
            out.append(
                ev.StatusReported(
                    cid, t, connector_id=connector, status=status, error_code="NoError"
                )
            )
        elif r < 0.955:
            key = (cid, connector)
            if key in sessions:
                out.append(
                    ev.SessionStopped(
                        cid,
                        t,
                        session_id=sessions.pop(key),
                        meter_stop_wh=energy[cid],
                        stopped_at=t,
                        connector_id=connector,
                    )
                )
            else:
                sessions[key] = f"s{n}"
                out.append(
                    ev.SessionStarted(
                        cid,
                        t,
                        session_id=f"s{n}",
                        transaction_id=str(n),
                        connector_id=connector,
                        id_tag="TAG",
                        meter_start_wh=energy[cid],
                        started_at=t,
                    )
                )
        elif r < 0.975:
            out.append(
                ev.Authorized(
                    cid,
                    t,
                    id_tag=f"T{n % 97}",
                    status="Accepted" if rng.random() < 0.8 else "Invalid",
                )
            )
        elif r < 0.99:
            out.append(
                ev.StatusReported(
                    cid,
                    t,
                    connector_id=connector,
                    status="Faulted",
                    error_code="GroundFailure",
                    fault_category="safety",
                )
            )
        else:
            out.append(ev.Booted(cid, t, vendor="Acme", model="DC50", heartbeat_interval=300))
    return out


def timed(engine: Engine, events: list[ev.Event]) -> tuple[float, int]:
    gc.collect()
    transitions = 0
    started = time.perf_counter()
    for e in events:
        transitions += len(engine.process(e))
    return time.perf_counter() - started, transitions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events after set-up")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    specs = [r.spec for r in loader.load(loader.default_files())[0]]
    rows = []
    engine_10k = None
    for label, chargers, rules in (
        ("facts only (no rules), 10,000 chargers", 10_000, []),
        (f"default pack ({len(specs)} rules), 10,000 chargers", 10_000, specs),
        (f"default pack ({len(specs)} rules), 1,000 chargers", 1_000, specs),
    ):
        print(f"generating events for {label} ...", file=sys.stderr, flush=True)
        events = generate(chargers, args.events, args.seed)
        setup = len(events) - args.events
        _, site_of = fleet(chargers)
        engine = Engine(rules, site_of=site_of, known_chargers=frozenset(site_of))
        timed(engine, events[:setup])  # set-up is not part of the figure
        print(f"timing {label} ...", file=sys.stderr, flush=True)
        seconds, transitions = timed(engine, events[setup:])
        rows.append((label, args.events / seconds, seconds / args.events * 1e6, transitions))
        if chargers == 10_000 and rules:
            engine_10k = engine
    base = rows[0][1]
    print(
        f"rules benchmark: {args.events:,} events (seed {args.seed}), python "
        f"{platform.python_version()}, {platform.machine()}"
    )
    print(f"{'':52} {'events/s':>10} {'us/event':>9} {'vs facts':>9} {'transitions':>12}")
    for label, rate, us, transitions in rows:
        print(f"{label:52} {rate:10,.0f} {us:9.1f} {rate / base:8.2f}x {transitions:12,}")
    assert engine_10k is not None
    started = time.perf_counter()
    data = json.dumps(engine_10k.snapshot(), separators=(",", ":"))
    snap_s = time.perf_counter() - started
    print(
        f"snapshot of the 10,000-charger engine: {len(data) / 1e6:.1f} MB JSON in {snap_s:.2f} s; "
        f"{len(engine_10k.active()):,} active alerts; peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
