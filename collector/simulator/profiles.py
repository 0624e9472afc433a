"""Static catalogues the simulator draws from: charger models, vehicles, id tags, fault codes.

Kept as plain data so the planner stays deterministic: every pick is `rng.choice` over a
fixed, ordered tuple.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any, Final

AC: Final = "AC"
DC: Final = "DC"


@dataclass(frozen=True, slots=True)
class ChargerModel:
    """A charger model as it announces itself in BootNotification, plus its electrical limits."""

    vendor: str  # BootNotification chargePointVendor (max 20 chars)
    model: str  # chargePointModel (max 20 chars)
    current: str  # AC or DC
    max_kw: float
    firmware: str
    meter_type: str  # max 25 chars
    energy_unit: str  # "Wh" or "kWh": some real meters report kWh, the server must normalise
    power_unit: str  # "W" or "kW"
    serial_prefix: str
    weight: float  # relative share in a fleet


# Most models report Wh/W (the OCPP 1.6 default units); two report kWh/kW.
MODELS: Final[tuple[ChargerModel, ...]] = (
    ChargerModel(
        "Alfen",
        "Eve Single Pro-line",
        AC,
        11.0,
        "4.14.0-3285",
        "Eastron SDM630",
        "Wh",
        "W",
        "ACE",
        3.0,
    ),
    ChargerModel(
        "Wallbox", "Commander 2", AC, 11.0, "5.17.41", "Carlo Gavazzi EM340", "Wh", "W", "WBX", 2.0
    ),
    ChargerModel("KEBA", "KeContact P30", AC, 22.0, "1.16.2", "KEBA MID", "kWh", "kW", "KC", 2.0),
    ChargerModel("ABB", "Terra AC W22-T-RD", AC, 22.0, "1.6.12", "ABB B23", "Wh", "W", "TACW", 2.0),
    ChargerModel("ABB", "Terra 54", DC, 50.0, "1.8.27", "LEM DCBM", "Wh", "W", "T54", 1.5),
    ChargerModel("Tritium", "RT50", DC, 50.0, "4.3.1", "Tritium DCM", "kWh", "kW", "RT50", 1.0),
    ChargerModel("Alpitronic", "HYC150", DC, 150.0, "1.9.4", "LEM DCBM 400", "Wh", "W", "HYC", 1.0),
    ChargerModel("Tritium", "PKM150", DC, 150.0, "1.12.0", "Tritium DCM", "Wh", "W", "PKM", 1.0),
)


@dataclass(frozen=True, slots=True)
class Vehicle:
    """The EV side of a session: how much it can take and how fast."""

    name: str
    capacity_kwh: float
    ac_kw: float  # on-board charger limit
    dc_kw: float  # peak DC acceptance
    ac_phases: int  # 1 or 3


VEHICLES: Final[tuple[Vehicle, ...]] = (
    Vehicle("Renault Zoe", 52.0, 22.0, 46.0, 3),
    Vehicle("VW ID.3", 58.0, 11.0, 120.0, 3),
    Vehicle("Tesla Model 3", 60.0, 11.0, 170.0, 3),
    Vehicle("Hyundai Ioniq 5", 77.0, 11.0, 230.0, 3),
    Vehicle("Nissan Leaf", 40.0, 6.6, 46.0, 1),
    Vehicle("Kia e-Niro", 64.0, 7.2, 77.0, 1),
    Vehicle("BMW i4", 81.0, 11.0, 205.0, 3),
    Vehicle("Fiat 500e", 42.0, 11.0, 85.0, 3),
)

# 7-byte RFID UIDs (14 hex digits, within idTag's 20-char limit), derived from a fixed hash
# so the pool is identical on every machine and run.
ID_TAGS: Final[tuple[str, ...]] = tuple(
    hashlib.sha1(f"chargewatch-tag-{i}".encode(), usedforsecurity=False).hexdigest()[:14].upper()
    for i in range(24)
)

CHARGEX_VENDOR_ID: Final = "https://chargex.inl.gov"

# ChargeX Minimum Required Error Codes: code -> (name, OCPP 1.6 errorCode sent with it).
# Codes with a 1.6 counterpart use it; the rest go out as OtherError.
CHARGEX_CODES: Final[dict[str, tuple[str, str]]] = {
    "CX001": ("ConnectorLockFailure", "ConnectorLockFailure"),
    "CX002": ("GroundFailure", "GroundFailure"),
    "CX003": ("HighTemperature", "HighTemperature"),
    "CX004": ("OverCurrentFailure", "OverCurrentFailure"),
    "CX005": ("OverVoltage", "OverVoltage"),
    "CX006": ("UnderVoltage", "UnderVoltage"),
    "CX007": ("WeakSignal", "WeakSignal"),
    "CX008": ("EmergencyStop", "OtherError"),
    "CX009": ("AuthorizationTimeout", "OtherError"),
    "CX010": ("InvalidVehicleMode", "OtherError"),
    "CX011": ("CableCheckFailure", "OtherError"),
    "CX012": ("PreChargeFailure", "OtherError"),
    "CX013": ("NoInternet", "OtherError"),
    "CX014": ("PilotFault", "OtherError"),
    "CX015": ("PowerLoss", "OtherError"),
    "CX016": ("EVContactorFault", "OtherError"),
    "CX017": ("EVSEContactorFault", "PowerSwitchFailure"),
    "CX018": ("CableOverTempDerate", "HighTemperature"),
    "CX019": ("CableOverTempStop", "HighTemperature"),
    "CX020": ("PartialInsertion", "OtherError"),
    "CX021": ("CapacitanceFault", "OtherError"),
    "CX022": ("ResistanceFault", "OtherError"),
    "CX023": ("ProximityFault", "OtherError"),
    "CX024": ("ConnectorVoltageHigh", "OverVoltage"),
    "CX025": ("BrokenLatch", "ConnectorLockFailure"),
    "CX026": ("CutCable", "OtherError"),
}

# Plain OCPP 1.6 faults with the kind of `info` text real firmware sends (max 50 chars).
OCPP16_FAULTS: Final[tuple[tuple[str, str], ...]] = (
    ("GroundFailure", "RCD tripped"),
    ("OverCurrentFailure", "Overcurrent on L1"),
    ("HighTemperature", "Power module over temperature"),
    ("PowerMeterFailure", "Energy meter not responding"),
    ("ConnectorLockFailure", "Lock motor timeout"),
    ("PowerSwitchFailure", "Contactor welded"),
    ("InternalError", "Controller watchdog reset"),
    ("EVCommunicationError", "PLC link lost"),
    ("OverVoltage", "Grid over-voltage"),
    ("UnderVoltage", "Grid under-voltage"),
    ("ReaderFailure", "RFID reader offline"),
)

# Codes a connector can fault with when it overheats.
OVERHEAT_CHARGEX: Final[tuple[str, ...]] = ("CX003", "CX019")


def pick_fault_code(rng: random.Random, model: ChargerModel) -> dict[str, Any]:
    """StatusNotification fields of a fault: a real 1.6 error code, sometimes as a ChargeX
    MREC code (vendorId + CX0nn) or with the manufacturer's own vendor code."""
    if rng.random() < 0.4:
        cx = rng.choice(sorted(CHARGEX_CODES))
        name, error_code = CHARGEX_CODES[cx]
        return {
            "error_code": error_code,
            "info": name,
            "vendor_id": CHARGEX_VENDOR_ID,
            "vendor_error_code": cx,
        }
    error_code, info = rng.choice(OCPP16_FAULTS)
    code: dict[str, Any] = {"error_code": error_code, "info": info}
    if rng.random() < 0.5:
        code["vendor_id"] = f"com.{model.vendor.lower()}"
        code["vendor_error_code"] = f"E{rng.randint(100, 999)}"
    return code


def overheat_code(rng: random.Random, temperature: float) -> dict[str, Any]:
    """HighTemperature, half the time qualified by ChargeX CX003 or CX019."""
    code: dict[str, Any] = {
        "error_code": "HighTemperature",
        "info": f"Body temperature {temperature:.0f} C",
    }
    if rng.random() < 0.5:
        code["vendor_id"] = CHARGEX_VENDOR_ID
        code["vendor_error_code"] = rng.choice(OVERHEAT_CHARGEX)
    return code
