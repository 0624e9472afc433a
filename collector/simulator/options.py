"""The public dataclasses of the simulator: what the CLI passes in and what it gets back.

Kept in their own module so the pure planner and the async executor share them without an
import cycle.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

OCPP_16: Final = "1.6"
OCPP_201: Final = "2.0.1"
MIXED: Final = "mixed"
OCPP_CHOICES: Final = (OCPP_16, OCPP_201, MIXED)


@dataclass
class FleetOptions:
    """What the CLI asks of the simulated fleet; every field has a demo-friendly default."""

    url: str  # e.g. "ws://127.0.0.1:9000/ocpp"; the charger id is appended as "/<id>"
    chargers: int = 10
    connectors: int = 2
    meter_interval: float = 10.0  # seconds between MeterValues during a session (= one plan tick)
    faults: float = 0.05  # probability that a session cycle injects a fault (0..1)
    duration: float | None = None  # stop after this many seconds (None = until cancelled/stopped)
    # each charger stops before the first step due at or after this simulated time (in meter
    # intervals); the run ends when all have. Runs then cover exactly the same plan prefix.
    ticks: float | None = None
    seed: int | None = None  # deterministic when set
    id_prefix: str = "SIM-"  # charger ids SIM-0001, SIM-0002, ...
    password: str | None = None  # profiles 1-2: HTTP Basic auth as "<charger id>:<password>"
    ca_file: str | None = None  # wss://: the CA of the server certificate (default: system's)
    cert_dir: str | None = None  # profile 3: <dir>/<charger id>.pem and .key (client certs)
    ocpp: str = OCPP_16  # "1.6", "2.0.1", or "mixed" (ocpp_201_share of them speak 2.0.1)
    ocpp_201_share: float = 0.5  # with ocpp="mixed": the share of 2.0.1 chargers (0..1)

    def validate(self) -> None:
        """Fail early with a clear message instead of deep inside a charger task."""
        if self.chargers < 0:
            raise ValueError("chargers must be >= 0")
        if self.connectors < 1:
            raise ValueError("connectors must be >= 1")
        if not self.meter_interval > 0:
            raise ValueError("meter_interval must be > 0")
        if not 0.0 <= self.faults <= 1.0:
            raise ValueError("faults must be a probability between 0 and 1")
        if self.duration is not None and self.duration < 0:
            raise ValueError("duration must be >= 0")
        if self.ticks is not None and self.ticks < 0:
            raise ValueError("ticks must be >= 0")
        if self.ocpp not in OCPP_CHOICES:
            raise ValueError(f"ocpp must be one of {', '.join(OCPP_CHOICES)}")
        if not 0.0 <= self.ocpp_201_share <= 1.0:
            raise ValueError("ocpp_201_share must be a share between 0 and 1")
        if (self.ca_file or self.cert_dir) and not self.url.startswith("wss://"):
            raise ValueError("ca_file and cert_dir need a wss:// url")
        if self.ca_file and not Path(self.ca_file).is_file():
            raise ValueError(f"ca_file {self.ca_file} does not exist")
        if self.cert_dir and not Path(self.cert_dir).is_dir():
            raise ValueError(f"cert_dir {self.cert_dir} is not a directory")

    def charger_id(self, index: int) -> str:
        """Charger ids are 1-based so SIM-0001 is the first charger, as operators number them."""
        return f"{self.id_prefix}{index:04d}"

    def protocol_of(self, index: int) -> str:
        """The OCPP version charger `index` speaks. In a mixed fleet the 2.0.1 chargers are
        spread evenly (index i is 2.0.1 when floor(i * share) steps up), so the choice depends
        on the index alone: the same seed gives the same fleet whatever its size."""
        if self.ocpp != MIXED:
            return self.ocpp
        share = self.ocpp_201_share
        return OCPP_201 if int(index * share) > int((index - 1) * share) else OCPP_16


@dataclass
class FleetStats:
    """Running totals of a fleet run; updated live, so a demo can print them while it runs."""

    seed: int | None = None  # the seed actually used (drawn at random when none was given)
    calls: Counter[str] = field(default_factory=Counter)  # calls sent and answered, per action
    call_errors: Counter[str] = field(default_factory=Counter)  # CallErrors received, per action
    timeouts: int = 0  # calls the central system never answered
    sessions_started: int = 0  # StartTransaction answered with a transaction id
    sessions_completed: int = 0  # StopTransaction answered (any stop reason)
    faults: Counter[str] = field(default_factory=Counter)  # injected faults, per kind
    reconnects: int = 0  # connections re-opened after the first (planned or not)
    connect_failures: int = 0  # connection attempts that failed (retried with backoff)
    connected: int = 0  # chargers with an open WebSocket right now
    errors: int = 0  # unexpected exceptions inside a charger (logged, the charger goes on)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_call_errors(self) -> int:
        return sum(self.call_errors.values())

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly summary (counters as dicts, totals included)."""
        return {
            "seed": self.seed,
            "calls": dict(self.calls),
            "total_calls": self.total_calls,
            "call_errors": dict(self.call_errors),
            "total_call_errors": self.total_call_errors,
            "timeouts": self.timeouts,
            "sessions_started": self.sessions_started,
            "sessions_completed": self.sessions_completed,
            "faults": dict(self.faults),
            "reconnects": self.reconnects,
            "connect_failures": self.connect_failures,
            "connected": self.connected,
            "errors": self.errors,
        }
