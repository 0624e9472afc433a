"""Run a fleet of simulated chargers against a central system until told to stop."""

from __future__ import annotations

import asyncio
import logging
import random

from collector.simulator.charger import EventHook, SimulatedCharger
from collector.simulator.charger_v201 import SimulatedChargerV201
from collector.simulator.options import OCPP_201, FleetOptions, FleetStats

LOG = logging.getLogger("collector.simulator")

STAGGER_MAX = 0.02  # seconds between two chargers' starts
STAGGER_SPREAD = 5.0  # ...but a large fleet is spread over at most this long


def stagger_delay(chargers: int) -> float:
    """Gap between charger starts so 1000 chargers don't all connect in the same millisecond."""
    return min(STAGGER_MAX, STAGGER_SPREAD / max(1, chargers))


async def _start_later(charger: SimulatedCharger, delay: float) -> None:
    await asyncio.sleep(delay)
    await charger.run()


async def run_fleet(
    opts: FleetOptions,
    stop: asyncio.Event | None = None,
    on_event: EventHook | None = None,
) -> FleetStats:
    """Simulate `opts.chargers` chargers until `opts.duration` elapses or `stop` is set.

    Every connection is closed before returning; open sessions are left as they are. With
    `opts.seed` unset a seed is drawn at random and reported in `FleetStats.seed`, so any
    run can be replayed.
    """
    opts.validate()
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**31)
    stats = FleetStats(seed=seed)
    stop = stop if stop is not None else asyncio.Event()
    gap = stagger_delay(opts.chargers)
    chargers = [
        (SimulatedChargerV201 if opts.protocol_of(index) == OCPP_201 else SimulatedCharger)(
            opts, index, seed, stats, on_event
        )
        for index in range(1, opts.chargers + 1)
    ]
    tasks = [
        asyncio.create_task(_start_later(charger, n * gap), name=charger.id)
        for n, charger in enumerate(chargers)
    ]
    LOG.info("simulating %d chargers against %s (seed %d)", len(chargers), opts.url, seed)
    waiters = [asyncio.ensure_future(stop.wait())]
    if opts.ticks is not None and tasks:  # every plan ends: so does the run
        waiters.append(asyncio.ensure_future(asyncio.wait(tasks)))
    try:
        await asyncio.wait(waiters, timeout=opts.duration, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return stats
