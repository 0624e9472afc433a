"""Charging physics and MeterValues formatting for one connector.

Energy is integrated from power over *simulated* time (one meter interval per sample),
never the wall clock, so a seeded run produces the same readings on every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ocpp.v16.enums import Location, Measurand, Phase, ReadingContext, UnitOfMeasure

from collector.simulator.profiles import AC, ChargerModel, Vehicle

NOMINAL_PHASE_VOLTAGE = 230.0  # V line-to-neutral, European low-voltage grid
DC_EFFICIENCY = 0.95  # AC input -> DC output of a DC charger's power modules
TAPER_START_SOC = 80.0  # % above which DC acceptance falls off (typical Li-ion CC/CV knee)


@dataclass(frozen=True, slots=True)
class Reading:
    """One instant of a session, in canonical units; formatted per model by `sampled_values`."""

    energy_wh: int  # Energy.Active.Import.Register as reported (whole Wh)
    power_w: float
    currents: tuple[float, float, float]  # A per phase L1..L3
    voltages: tuple[float, float, float]  # V per phase L1-N..L3-N
    soc: float  # %
    temperature: float  # °C, charger body


def charge_power_w(model: ChargerModel, vehicle: Vehicle, soc: float) -> float:
    """Power the EV draws at this SoC: AC is flat (OBC-limited), DC tapers above ~80 %."""
    if model.current == AC:
        kw = min(model.max_kw, vehicle.ac_kw)
        if vehicle.ac_phases == 1:
            kw = min(kw, 7.4)  # one phase at 32 A
        # The OBC only backs off in the last few percent (balancing).
        factor = 1.0 if soc < 95.0 else max(0.2, (100.0 - soc) / 5.0)
        return kw * 1000.0 * factor
    kw = min(model.max_kw, vehicle.dc_kw)
    if soc > TAPER_START_SOC:
        # Linear taper from full power at 80 % to 10 % at 100 %.
        kw *= max(0.1, 1.0 - (soc - TAPER_START_SOC) / (100.0 - TAPER_START_SOC) * 0.9)
    return kw * 1000.0


def grid_voltages(rng: random.Random) -> tuple[float, float, float]:
    """Phase voltages wander a few volts around nominal, as on a real feeder."""
    return tuple(round(NOMINAL_PHASE_VOLTAGE + rng.uniform(-4.0, 4.0), 1) for _ in range(3))  # type: ignore[return-value]


def phase_currents(
    model: ChargerModel, vehicle: Vehicle, power_w: float, voltages: tuple[float, float, float]
) -> tuple[float, float, float]:
    """Per-phase currents on the charger's AC side (for DC chargers: the grid input)."""
    if power_w <= 0:
        return (0.0, 0.0, 0.0)
    if model.current == AC and vehicle.ac_phases == 1:
        return (round(power_w / voltages[0], 1), 0.0, 0.0)
    total = power_w if model.current == AC else power_w / DC_EFFICIENCY
    return tuple(round(total / 3.0 / v, 1) for v in voltages)  # type: ignore[return-value]


def next_temperature(current: float, ambient: float, load: float, rng: random.Random) -> float:
    """First-order lag toward ambient + up to 22 °C at full load, with a little sensor noise."""
    target = ambient + 22.0 * max(0.0, min(1.0, load))
    return current + (target - current) * 0.25 + rng.uniform(-0.2, 0.2)


def format_energy(model: ChargerModel, wh: int) -> str:
    """Register value in the model's unit; kWh keeps three decimals so no Wh is lost."""
    return f"{wh / 1000:.3f}" if model.energy_unit == UnitOfMeasure.kwh else str(wh)


def format_power(model: ChargerModel, watts: float) -> str:
    return f"{watts / 1000:.2f}" if model.power_unit == UnitOfMeasure.kw else str(round(watts))


def energy_sample(model: ChargerModel, wh: int, context: str) -> dict[str, Any]:
    """An Energy.Active.Import.Register sampled value (also used for Transaction.End)."""
    return {
        "value": format_energy(model, wh),
        "context": context,
        "measurand": Measurand.energy_active_import_register,
        "location": Location.outlet,
        "unit": model.energy_unit,
    }


def sampled_values(model: ChargerModel, reading: Reading) -> list[dict[str, Any]]:
    """The 10 periodic sampled values a ChargeWatch-monitored charger sends per MeterValues."""
    periodic = ReadingContext.sample_periodic

    def value(measurand: str, text: str, unit: str, **extra: str) -> dict[str, Any]:
        return {"value": text, "context": periodic, "measurand": measurand, "unit": unit, **extra}

    values = [
        energy_sample(model, reading.energy_wh, periodic),
        value(
            Measurand.power_active_import,
            format_power(model, reading.power_w),
            model.power_unit,
            location=Location.outlet,
        ),
    ]
    for phase, amps in zip((Phase.l1, Phase.l2, Phase.l3), reading.currents, strict=True):
        values.append(value(Measurand.current_import, f"{amps:.1f}", UnitOfMeasure.a, phase=phase))
    for phase, volts in zip((Phase.l1_n, Phase.l2_n, Phase.l3_n), reading.voltages, strict=True):
        values.append(value(Measurand.voltage, f"{volts:.1f}", UnitOfMeasure.v, phase=phase))
    values.append(
        value(Measurand.soc, str(int(reading.soc)), UnitOfMeasure.percent, location=Location.ev)
    )
    values.append(
        value(
            Measurand.temperature,
            f"{reading.temperature:.1f}",
            UnitOfMeasure.celsius,
            location=Location.body,
        )
    )
    return values
