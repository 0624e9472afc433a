"""EV-ChART exports and the validator (reports.evchart), against the regulator's definitions."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reports.config import EvChartConfig, SessionSuccessConfig
from reports.evchart import (
    DEFS_DIR,
    Problem,
    fit_id,
    iso_utc,
    load_definition,
    module2_frame,
    module3_frame,
    module4_frame,
    port_id,
    validate_evchart_cli,
    validate_file,
    write_csv,
)

NAN = math.nan
SHARED = Path("/work/shared/data/evchart")


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def sessions() -> pd.DataFrame:
    start = ts("2024-03-31 23:50:00.7")
    return pd.DataFrame(
        [
            {
                "session_id": "1001",
                "charger_id": "CW-001",
                "connector_id": 1,
                "site": "north",
                "id_tag": "04A2B3C4",
                "started_at": start,
                "stopped_at": start + 3000,
                "energy_wh": 12_345.6,
                "peak_power_w": 150_005.0,
                "first_power_at": start + 30,
                "last_power_at": start + 2900,
                "stop_reason": "EVDisconnected",
                "error_code": None,
                "auth_status": "Accepted",
            },
            {
                "session_id": "1002",
                "charger_id": "CW-001",
                "connector_id": 2,
                "site": "north",
                "id_tag": "APP-77",
                "started_at": start,
                "stopped_at": start + 600,
                "energy_wh": 40.0,
                "peak_power_w": 7_000.0,
                "first_power_at": start + 30,
                "last_power_at": start + 100,
                "stop_reason": "EmergencyStop",
                "error_code": "CX008",
                "auth_status": "Accepted",
            },
            {
                "session_id": "1003",
                "charger_id": "CW-002",
                "connector_id": 1,
                "site": "north",
                "id_tag": None,
                "started_at": start + 60,
                "stopped_at": NAN,  # still open
                "energy_wh": NAN,
                "peak_power_w": NAN,
                "first_power_at": NAN,
                "last_power_at": NAN,
                "stop_reason": None,
                "error_code": None,
                "auth_status": None,
            },
        ]
    )


def uptime() -> pd.DataFrame:
    march, april = ts("2024-03-01 00:00"), ts("2024-04-01 00:00")
    return pd.DataFrame(
        {
            "port_id": ["CW-001-1", "CW-001-2"],
            "charger_id": ["CW-001", "CW-001"],
            "connector_id": [1, 2],
            "period_start": [march, march],
            "period_end": [april, april],
            "uptime_pct": [99.87654, NAN],  # the second port is not assessable
            "outage_minutes": [57.125, 0.0],
            "excluded_minutes": [0.004, 0.0],
        }
    )


def outages() -> pd.DataFrame:
    start = ts("2024-03-12 04:05:06")
    return pd.DataFrame(
        {
            "port_id": ["CW-001-1", "CW-001-1", "CW-001-1"],
            "charger_id": ["CW-001"] * 3,
            "connector_id": [1, 1, 1],
            "start": [start, start + 86_400, start + 2 * 86_400],
            "end": [start + 3427.5, start + 86_400.2, start + 2 * 86_400 + 60],
            "duration_minutes": [57.125, 0.2 / 60, 1.0],  # the second one: 0.2 s
            "excluded_minutes": [0.0, 0.0, 1.0],
            "cause": ["Faulted", "Offline", "Maintenance"],
        }
    )


CONFIG = EvChartConfig(id_tag_prefixes=[{"prefix": "APP-", "method": "mobile_app"}])
SUCCESS = SessionSuccessConfig()


def test_packaged_definitions_equal_the_published_ones() -> None:
    for module in (2, 3, 4):
        packaged = json.loads((DEFS_DIR / f"module{module}.json").read_text())
        published = json.loads((SHARED / f"module{module}.json").read_text())
        assert packaged == published, f"reports/evchart_defs/module{module}.json drifted"


def test_empty_value_rules_follow_the_definition_flags() -> None:
    m2 = {f.name: f for f in load_definition(2)}
    assert not m2["port_id"].empty_allowed  # required, no flag
    assert m2["session_error"].empty_allowed  # required_empty_allowed: true
    m3 = {f.name: f for f in load_definition(3)}
    assert not m3["total_outage"].empty_allowed  # is_nullable: false
    assert m3["uptime"].empty_allowed  # is_nullable and required_empty_allowed: true
    assert [f.name for f in load_definition(4)] == ["port_id", "outage_id", "outage_duration"]
    with pytest.raises(ValueError, match="module must be one of"):
        load_definition(5)


def test_module2_rows_hand_computed() -> None:
    out = module2_frame(sessions(), CONFIG, SUCCESS)
    assert list(out.columns) == [f.name for f in load_definition(2)]
    first, second, third = (out.iloc[i].to_dict() for i in range(3))
    assert first["port_id"] == "CW-001-1"
    assert first["session_start"] == "2024-03-31T23:50:00Z"  # .7 s truncated
    assert first["session_end"] == "2024-04-01T00:40:00Z"  # + 3000 s
    assert first["energy_kwh"] == "12.35"  # 12.3456 kWh
    assert first["power_kw"] == "150.01"  # 150.005 rounds half up
    assert first["session_error"] == ""
    assert (first["payment_method"], first["payment_other"]) == ("rfid", "")
    assert second["session_error"] == "CX008"  # the port's code before EmergencyStop
    assert second["energy_kwh"] == "0.04"
    assert second["payment_method"] == "mobile_app"
    assert third["session_end"] == "" and third["energy_kwh"] == ""
    assert (third["payment_method"], third["payment_other"]) == ("other", "no idTag recorded")


def test_generated_files_pass_the_validator(tmp_path: Path) -> None:
    frames = {
        2: module2_frame(sessions(), CONFIG, SUCCESS),
        3: module3_frame(uptime()),
        4: module4_frame(outages()),
    }
    for module, frame in frames.items():
        path = tmp_path / f"m{module}.csv"
        assert write_csv(frame, path, module) == len(frame)
        assert validate_file(path, module) == []
        assert validate_file(path, module, SHARED) == []
    m3 = frames[3]
    assert m3["uptime"].tolist() == ["99.88", ""]
    assert m3["total_outage"].tolist() == ["57.13", "0.00"]  # 57.125 half up
    assert m3["total_outage_excl"].tolist() == ["0.00", "0.00"]
    assert m3["uptime_reporting_end"].tolist() == ["2024-04-01T00:00:00Z"] * 2
    m4 = frames[4]
    # the 0.2 s outage rounds to 0.00 min, below min_value 0.01: left out
    assert m4["outage_id"].tolist() == ["2024-03-12T04:05:06Z", "2024-03-14T04:05:06Z"]
    assert m4["outage_duration"].tolist() == ["57.13", "1.00"]


def test_long_ids_are_shortened_deterministically() -> None:
    long = "CHARGER-" + "X" * 40
    a, b = port_id(long + "A", 1), port_id(long + "B", 1)
    assert len(a) == 36 and a.endswith("-1") and "~" in a
    assert a != b  # same first 26 characters, different digests
    assert a == port_id(long + "A", 1)
    assert port_id("CW-001", 2) == "CW-001-2"
    assert fit_id("x" * 36, 36) == "x" * 36
    assert len(fit_id("x" * 37, 36)) == 36
    rows = sessions().assign(charger_id=long, session_id="S" * 40)
    out = module2_frame(rows, CONFIG, SUCCESS)
    assert out["charger_id"].str.len().max() == 36
    assert out["session_id"].str.len().max() == 36


def test_values_the_definition_cannot_hold_are_errors_not_clipped() -> None:
    with pytest.raises(ValueError, match=r"session 1001: energy_kwh -0\.50 is below 0"):
        module2_frame(sessions().assign(energy_wh=-500.0), CONFIG, SUCCESS)
    with pytest.raises(ValueError, match=r"energy_kwh 100000\.00: 6 digits before the point"):
        module2_frame(sessions().assign(energy_wh=100_000_000.0), CONFIG, SUCCESS)
    with pytest.raises(ValueError, match="negative duration"):
        module4_frame(outages().assign(duration_minutes=-1.0))
    with pytest.raises(ValueError, match="total_outage is empty"):
        module3_frame(uptime().assign(outage_minutes=NAN))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "upload.csv"
    path.write_text(text, encoding="utf-8")
    return path


M2_HEADER = (
    "port_id,charger_id,session_id,connector_id,session_start,session_end,session_error,"
    "error_other,energy_kwh,power_kw,payment_method,payment_other\n"
)
M2_GOOD = "P-1,C,S1,1,2024-03-01T10:00:00Z,2024-03-01T11:00:00Z,,,12.50,50.00,rfid,\n"


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        # port_id: 37 characters, max_length 36
        ("P" * 37 + ",C,S1,1,2024-03-01T10:00:00Z,,,,1.00,1.00,rfid,", "port_id", "37 characters"),
        # energy_kwh: 3 decimals, max_scale 2
        ("P-1,C,S1,1,2024-03-01T10:00:00Z,,,,1.234,1.00,rfid,", "energy_kwh", "3 decimal places"),
        # 100000.00 needs 6 integer digits, precision 7 − scale 2 = 5
        ("P-1,C,S1,1,2024-03-01T10:00:00Z,,,,100000.00,1,rfid,", "energy_kwh", "6 digits"),
        ("P-1,C,S1,1,2024-13-01T10:00:00Z,,,,1.00,1.00,rfid,", "session_start", "not an ISO"),
        ("P-1,C,S1,1,2024-03-01T10:00:00,,,,1.00,1.00,rfid,", "session_start", "UTC offset"),
        ("P-1,C,S1,1,2024-03-01T10:00:00Z,,,,-1.00,1.00,rfid,", "energy_kwh", "below min_value"),
        ("P-1,C,S1,1,2024-03-01T10:00:00Z,,,,1.00,12 kW,rfid,", "power_kw", "not a decimal"),
        (",C,S1,1,2024-03-01T10:00:00Z,,,,1.00,1.00,rfid,", "port_id", "requires a value"),
    ],
)
def test_broken_module2_values_are_reported_by_line_and_field(
    tmp_path: Path, row: str, field: str, message: str
) -> None:
    path = write(tmp_path, M2_HEADER + M2_GOOD + row + "\n")
    problems = validate_file(path, 2)
    assert len(problems) == 1, problems
    assert (problems[0].line, problems[0].field) == (3, field)  # header 1, good row 2
    assert message in problems[0].message


def test_header_problems(tmp_path: Path) -> None:
    missing = M2_HEADER.replace("session_error,", "")
    row = M2_GOOD.replace(",,,12.50", ",,12.50")
    problems = validate_file(write(tmp_path, missing + row), 2)
    assert problems == [Problem(1, "session_error", "required column is missing")]
    # optional columns may be left out
    optional = "port_id,session_id,session_start,session_end,session_error,energy_kwh,power_kw,"
    body = "P-1,S1,2024-03-01T10:00:00Z,,,1.00,1.00,rfid\n"
    assert validate_file(write(tmp_path, optional + "payment_method\n" + body), 2) == []
    swapped = "port_id,outage_duration,outage_id\nP-1,1.00,2024-03-01T10:00:00Z\n"
    problems = validate_file(write(tmp_path, swapped), 4)
    assert [(p.line, p.field) for p in problems] == [(1, "outage_duration")]
    assert "out of order" in problems[0].message
    extra = "port_id,outage_id,outage_duration,cause\nP-1,2024-03-01T10:00:00Z,1.00,x\n"
    assert [(p.line, p.field) for p in validate_file(write(tmp_path, extra), 4)] == [(1, "cause")]
    short = "port_id,outage_id,outage_duration\nP-1,2024-03-01T10:00:00Z\n"
    assert "2 values, the header has 3" in validate_file(write(tmp_path, short), 4)[0].message


def test_module3_and_module4_limits(tmp_path: Path) -> None:
    header3 = "port_id,uptime_reporting_start,uptime_reporting_end,uptime,total_outage,"
    header3 += "total_outage_excl\n"
    ok = "P-1,2024-03-01T00:00:00Z,2024-04-01T00:00:00+00:00,,0.00,0.00\n"
    negative = "P-1,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,99.00,-5.00,0.00\n"
    problems = validate_file(write(tmp_path, header3 + ok + negative), 3)
    assert [(p.line, p.field) for p in problems] == [(3, "total_outage")]
    header4 = "port_id,outage_id,outage_duration\n"
    zero = "P-1,2024-03-01T10:00:00Z,0\n"
    good = "P-1,2024-03-02T10:00:00Z,0.01\n"
    problems = validate_file(write(tmp_path, header4 + good + zero), 4)
    assert [(p.line, p.field) for p in problems] == [(3, "outage_duration")]
    assert "below min_value 0.01" in problems[0].message


def test_quoted_multiline_value_keeps_line_numbers(tmp_path: Path) -> None:
    header4 = "port_id,outage_id,outage_duration\n"
    body = '"P\n1",2024-03-01T10:00:00Z,1.00\nP-2,bad,1.00\n'
    problems = validate_file(write(tmp_path, header4 + body), 4)
    assert [(p.line, p.field) for p in problems] == [(4, "outage_id")]  # record 2 starts on 4


def test_cli_function_exit_codes(tmp_path: Path) -> None:
    good = write(tmp_path, M2_HEADER + M2_GOOD)
    out = io.StringIO()
    assert validate_evchart_cli(good, 2, out=out) == 0
    assert "OK" in out.getvalue()
    bad = tmp_path / "bad.csv"
    bad.write_text(M2_HEADER + M2_GOOD.replace("12.50", "1.234"), encoding="utf-8")
    out = io.StringIO()
    assert validate_evchart_cli(bad, 2, out=out) == 1
    assert f"{bad}:2: energy_kwh: 3 decimal places" in out.getvalue()
    assert validate_evchart_cli(tmp_path / "none.csv", 2, out=io.StringIO()) == 2
    assert validate_evchart_cli(good, 7, out=io.StringIO()) == 2


def test_payment_config() -> None:
    config = EvChartConfig(
        tagged_payment_method="credit_card",
        id_tag_prefixes=[
            {"prefix": "APP", "method": "mobile_app"},
            {"prefix": "APP-FLEET", "method": "other", "other": "fleet account"},
        ],
    )
    assert config.payment("APP-FLEET-9") == ("other", "fleet account")  # longest prefix wins
    assert config.payment("APP-1") == ("mobile_app", "")
    assert config.payment("ABCD") == ("credit_card", "")
    with pytest.raises(ValidationError, match="listed twice"):
        EvChartConfig(id_tag_prefixes=[{"prefix": "A", "method": "x"}] * 2)


def test_iso_utc() -> None:
    assert iso_utc(ts("2024-02-29 23:59:59.999")) == "2024-02-29T23:59:59Z"
    assert iso_utc(NAN) == ""


@settings(max_examples=200, deadline=None)
@given(
    durations=st.lists(st.floats(min_value=0, max_value=999_999.99), min_size=1, max_size=5),
    energy=st.floats(min_value=0, max_value=99_999_994.0),  # Wh: ≤ 99999.99 kWh once rounded
)
def test_every_representable_value_is_written_so_that_it_validates(
    tmp_path_factory: pytest.TempPathFactory, durations: list[float], energy: float
) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    rows = (
        outages()
        .iloc[[0] * len(durations)]
        .assign(
            duration_minutes=durations,
            start=[ts("2024-03-01 00:00") + i for i in range(len(durations))],
        )
    )
    m4 = module4_frame(rows)
    write_csv(m4, tmp / "m4.csv", 4)  # raises if the file breaks the definition
    # exactly the outages of at least 0.005 min (0.01 once rounded half up) are kept
    assert len(m4) == sum(1 for d in durations if d >= 0.005)
    write_csv(module2_frame(sessions().assign(energy_wh=energy), CONFIG, SUCCESS), tmp / "m2", 2)
