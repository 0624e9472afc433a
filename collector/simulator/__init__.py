"""Fleet simulator: many OCPP 1.6J and 2.0.1 chargers with realistic sessions and injected faults.

    from collector.simulator import FleetOptions, run_fleet
    stats = await run_fleet(FleetOptions(url="ws://127.0.0.1:9000/ocpp", seed=7, duration=60))

Each charger follows a deterministic plan (`plan.ChargerPlan`, pure and synchronous) that an
async executor (`charger.SimulatedCharger`) performs over a real WebSocket with the `ocpp`
library's client side. With a seed, a charger's sequence of calls (minus timestamps) is the
same on every run.

`on_event(charger_id, kind, details)` kinds: "connected", "disconnected", "connect_failed",
"boot", "session_started", "session_completed", "session_aborted", "fault", "call_error",
"timeout".
"""

from collector.simulator.charger import EventHook
from collector.simulator.fleet import run_fleet
from collector.simulator.options import FleetOptions, FleetStats
from collector.simulator.steps import FAULT_KINDS

__all__ = ["FAULT_KINDS", "EventHook", "FleetOptions", "FleetStats", "run_fleet"]
