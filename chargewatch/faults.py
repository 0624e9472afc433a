"""Fault normalisation: every fault gets one category so rules and reports can group them.

Categories: safety, maintenance, security, authorization, connectivity. Interoperable
codes are the ChargeX Minimum Required Error Codes (MREC, https://chargex.inl.gov),
sent by OCPP 1.6 chargers as vendorId + vendorErrorCode "CX0nn". A fault is identified
by the pair (vendorId, vendorErrorCode), never by the code alone, so a CX code only
counts when the vendor id is ChargeX's.
"""

from __future__ import annotations

from typing import Final

SAFETY: Final = "safety"
MAINTENANCE: Final = "maintenance"
SECURITY: Final = "security"
AUTHORIZATION: Final = "authorization"
CONNECTIVITY: Final = "connectivity"
CATEGORIES: Final = (SAFETY, MAINTENANCE, SECURITY, AUTHORIZATION, CONNECTIVITY)

CHARGEX_VENDOR_ID: Final = "https://chargex.inl.gov"

# ChargeX MREC code -> (name, category)
CHARGEX_CODES: Final[dict[str, tuple[str, str]]] = {
    "CX001": ("ConnectorLockFailure", MAINTENANCE),
    "CX002": ("GroundFailure", SAFETY),
    "CX003": ("HighTemperature", SAFETY),
    "CX004": ("OverCurrentFailure", SAFETY),
    "CX005": ("OverVoltage", SAFETY),
    "CX006": ("UnderVoltage", SAFETY),
    "CX007": ("WeakSignal", CONNECTIVITY),
    "CX008": ("EmergencyStop", SAFETY),
    "CX009": ("AuthorizationTimeout", AUTHORIZATION),
    "CX010": ("InvalidVehicleMode", MAINTENANCE),
    "CX011": ("CableCheckFailure", SAFETY),
    "CX012": ("PreChargeFailure", MAINTENANCE),
    "CX013": ("NoInternet", CONNECTIVITY),
    "CX014": ("PilotFault", MAINTENANCE),
    "CX015": ("PowerLoss", MAINTENANCE),
    "CX016": ("EVContactorFault", MAINTENANCE),
    "CX017": ("EVSEContactorFault", SAFETY),
    "CX018": ("CableOverTempDerate", SAFETY),
    "CX019": ("CableOverTempStop", SAFETY),
    "CX020": ("PartialInsertion", MAINTENANCE),
    "CX021": ("CapacitanceFault", SAFETY),
    "CX022": ("ResistanceFault", SAFETY),
    "CX023": ("ProximityFault", MAINTENANCE),
    "CX024": ("ConnectorVoltageHigh", SAFETY),
    "CX025": ("BrokenLatch", MAINTENANCE),
    "CX026": ("CutCable", SAFETY),
}

# OCPP 1.6 ChargePointErrorCode -> category ("NoError" is not a fault).
OCPP16_ERROR_CATEGORIES: Final[dict[str, str]] = {
    "ConnectorLockFailure": MAINTENANCE,
    "EVCommunicationError": MAINTENANCE,
    "GroundFailure": SAFETY,
    "HighTemperature": SAFETY,
    "InternalError": MAINTENANCE,
    "LocalListConflict": AUTHORIZATION,
    "OtherError": MAINTENANCE,
    "OverCurrentFailure": SAFETY,
    "OverVoltage": SAFETY,
    "PowerMeterFailure": MAINTENANCE,
    "PowerSwitchFailure": MAINTENANCE,
    "ReaderFailure": MAINTENANCE,
    "ResetFailure": MAINTENANCE,
    "UnderVoltage": SAFETY,
    "WeakSignal": CONNECTIVITY,
}


def chargex_code(vendor_id: str | None, vendor_error_code: str | None) -> str | None:
    """The ChargeX code of a fault, if the charger sent one under ChargeX's vendor id."""
    if vendor_id != CHARGEX_VENDOR_ID or not vendor_error_code:
        return None
    code = vendor_error_code.strip().upper()
    return code if code in CHARGEX_CODES else None


def fault_category(
    status: str,
    error_code: str | None,
    vendor_id: str | None = None,
    vendor_error_code: str | None = None,
) -> str | None:
    """The category of a reported fault, or None when the report carries no fault.

    A ChargeX code wins over the generic OCPP error code because it is more specific
    (OtherError + CX008 is an emergency stop, a safety matter).
    """
    cx = chargex_code(vendor_id, vendor_error_code)
    if cx is not None:
        return CHARGEX_CODES[cx][1]
    if error_code and error_code != "NoError":
        return OCPP16_ERROR_CATEGORIES.get(error_code, MAINTENANCE)
    if status == "Faulted":
        return MAINTENANCE
    return None
