"""EV-ChART exports (23 CFR 680.112: modules 2 sessions, 3 uptime, 4 outages) and their validator.

The field lists, types and limits come from the regulator's upload definitions, shipped in
`reports/evchart_defs/module{2,3,4}.json` (copies of the published files; a test keeps them
equal). Every writer renders through the definition, so field order, decimal scale and string
length follow it rather than constants here. Choices the definitions leave open:

* datetime: ISO 8601 in UTC with a Z and whole seconds ("2024-03-31T23:59:59Z"), truncated, not
  rounded; the validator accepts any ISO 8601 date-time with a UTC offset and rejects naive ones.
* decimals: rounded half-up to max_scale; a value that then breaks max_precision or min_value
  is an error, never clipped. Empty (NaN) only where the definition allows it.
* ids: port_id = f"{charger_id}-{connector_id}". An id longer than max_length keeps its first
  characters and ends in "~" + the first 8 hex digits of the SHA-256 of the full id (port_id
  keeps its "-connector" suffix after that), so it stays deterministic and distinct. Other
  strings longer than max_length are truncated.
* module 2: session_error = the failure reason of kpis.classify_sessions (empty when successful
  or open); an open session has an empty session_end. payment_method from EvChartConfig.
* module 3: port_id is rebuilt from charger_id / connector_id (so all modules agree); uptime
  empty where uptime_pct is NaN (port excluded); total_outage / total_outage_excl in minutes.
* module 4: outage_id = the outage's start; outage_duration = duration_minutes (the whole outage,
  excluded minutes included: module 3 carries the exclusion). An outage that rounds below
  min_value (0.01 min) cannot be expressed and is left out.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TextIO

import pandas as pd

from reports.config import EvChartConfig
from reports.kpis import SessionSuccessConfig, classify_sessions

DEFS_DIR = Path(__file__).with_name("evchart_defs")
MODULES = (2, 3, 4)
_DECIMAL = re.compile(r"^[+-]?(\d*)(?:\.(\d*))?$")


@dataclass(frozen=True)
class FieldDef:
    """One column of an EV-ChART module, as its definition file describes it."""

    name: str
    datatype: str
    required: bool
    empty_allowed: bool
    max_length: int | None = None
    max_precision: int | None = None
    max_scale: int | None = None
    min_value: Decimal | None = None


@dataclass(frozen=True)
class Problem:
    """A defect in an EV-ChART CSV: the physical line (1 = header), the field, what is wrong."""

    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field or '-'}: {self.message}"


def load_definition(module: int, defs_dir: Path | str = DEFS_DIR) -> tuple[FieldDef, ...]:
    """The fields of module 2, 3 or 4 in upload order, from `defs_dir`/module{N}.json."""
    if module not in MODULES:
        raise ValueError(f"EV-ChART module must be one of {MODULES}, not {module!r}")
    path = Path(defs_dir) / f"module{module}.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("module") != module:
        raise ValueError(f"{path}: declares module {raw.get('module')!r}, expected {module}")
    fields = []
    for item in raw["fields"]:
        # an empty value is allowed only if every flag the definition sets allows it; with no
        # flag, only an optional field may be empty
        flags = [item[k] for k in ("required_empty_allowed", "is_nullable") if k in item]
        empty_allowed = all(flags) if flags else not item["required"]
        if item["datatype"] not in ("string", "decimal", "datetime"):
            raise ValueError(f"{path}: {item['field_name']}: unknown datatype {item['datatype']}")
        fields.append(
            FieldDef(
                name=item["field_name"],
                datatype=item["datatype"],
                required=bool(item["required"]),
                empty_allowed=empty_allowed,
                max_length=item.get("max_length"),
                max_precision=item.get("max_precision"),
                max_scale=item.get("max_scale"),
                min_value=None if "min_value" not in item else Decimal(str(item["min_value"])),
            )
        )
    return tuple(fields)


def fit_id(value: str, max_length: int) -> str:
    """`value` itself if it fits, else a deterministic shortening ending in ~ + 8 hex digits."""
    if len(value) <= max_length:
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]
    return f"{value[: max(0, max_length - 9)]}~{digest}"


def port_id(charger_id: str, connector_id: int | str, max_length: int = 36) -> str:
    """The port id of every export: charger-connector, the charger part shortened if needed."""
    suffix = f"-{connector_id}"
    full = f"{charger_id}{suffix}"
    if len(full) <= max_length:
        return full
    digest = hashlib.sha256(full.encode("utf-8")).hexdigest()[:8]
    return f"{charger_id[: max(0, max_length - 9 - len(suffix))]}~{digest}{suffix}"


def iso_utc(ts: float) -> str:
    """Epoch seconds as 2024-03-31T23:59:59Z (truncated to the second); NaN as ''."""
    if ts is None or math.isnan(ts):
        return ""
    return datetime.fromtimestamp(math.floor(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decimal_text(value: float, field: FieldDef) -> Decimal:
    quantum = Decimal(1).scaleb(-(field.max_scale or 0))
    number = Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP)
    return abs(number) if number == 0 else number  # never "-0.00"


def _render_value(value: object, field: FieldDef, label: str) -> str:
    """One cell as the definition wants it; ValueError naming the row and field otherwise."""
    empty = value is None or (isinstance(value, float) and math.isnan(value)) or value == ""
    if empty:
        if not field.empty_allowed:
            raise ValueError(f"{label}: {field.name} is empty but the definition requires a value")
        return ""
    if field.datatype == "datetime":
        return iso_utc(float(value))
    if field.datatype == "decimal":
        number = _decimal_text(value, field)
        if field.min_value is not None and number < field.min_value:
            raise ValueError(f"{label}: {field.name} {number} is below {field.min_value}")
        text = f"{number:f}"
        if _decimal_problem(text, field):
            raise ValueError(f"{label}: {field.name} {text}: {_decimal_problem(text, field)}")
        return text
    text = str(value)
    if field.max_length is not None and len(text) > field.max_length:
        text = fit_id(text, field.max_length) if field.name.endswith("_id") else text
        text = text[: field.max_length]
    return text


def _render(raw: dict[str, pd.Series], labels: pd.Series, fields: tuple[FieldDef, ...]):
    """The export frame: every definition field in order, each cell rendered as text."""
    columns = {}
    for field in fields:
        values = raw.get(field.name, pd.Series([""] * len(labels), index=labels.index))
        columns[field.name] = [
            _render_value(v, field, str(label)) for v, label in zip(values, labels, strict=True)
        ]
    return pd.DataFrame(columns, columns=[f.name for f in fields])


def _ports(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(
        [port_id(c, n) for c, n in zip(frame["charger_id"], frame["connector_id"], strict=True)],
        index=frame.index,
        dtype=object,
    )


def module2_frame(
    sessions: pd.DataFrame,
    config: EvChartConfig,
    success: SessionSuccessConfig,
    defs_dir: Path | str = DEFS_DIR,
) -> pd.DataFrame:
    """Module 2 (sessions): one text row per session, in the definition's field order."""
    s = classify_sessions(sessions, success)
    payments = [config.payment(tag) for tag in s["id_tag"]]
    raw = {
        "port_id": _ports(s),
        "charger_id": s["charger_id"],
        "session_id": s["session_id"].astype(str),
        "connector_id": s["connector_id"].astype(str),
        "session_start": s["started_at"],
        "session_end": s["stopped_at"],
        "session_error": s["failure_reason"].fillna(""),
        "energy_kwh": s["energy_wh"] / 1000.0,
        "power_kw": s["peak_power_w"] / 1000.0,
        "payment_method": pd.Series([p[0] for p in payments], index=s.index),
        "payment_other": pd.Series([p[1] for p in payments], index=s.index),
    }
    labels = "session " + s["session_id"].astype(str)
    return _render(raw, labels, load_definition(2, defs_dir))


def module3_frame(uptime: pd.DataFrame, defs_dir: Path | str = DEFS_DIR) -> pd.DataFrame:
    """Module 3 (uptime): one text row per port and period."""
    raw = {
        "port_id": _ports(uptime),
        "uptime_reporting_start": uptime["period_start"],
        "uptime_reporting_end": uptime["period_end"],
        "uptime": uptime["uptime_pct"],
        "total_outage": uptime["outage_minutes"],
        "total_outage_excl": uptime["excluded_minutes"],
    }
    labels = "port " + _ports(uptime)
    return _render(raw, labels, load_definition(3, defs_dir))


def module4_frame(outages: pd.DataFrame, defs_dir: Path | str = DEFS_DIR) -> pd.DataFrame:
    """Module 4 (outages): one text row per outage that lasts at least the field's min_value."""
    fields = load_definition(4, defs_dir)
    duration = next(f for f in fields if f.name == "outage_duration")
    negative = outages["duration_minutes"] < 0
    if negative.any():
        first = outages[negative].iloc[0]
        raise ValueError(
            f"outage of port {port_id(first['charger_id'], first['connector_id'])} at "
            f"{iso_utc(first['start'])} has a negative duration {first['duration_minutes']}"
        )
    keep = [
        math.isnan(v) or _decimal_text(v, duration) >= (duration.min_value or 0)
        for v in outages["duration_minutes"]
    ]
    kept = outages[pd.Series(keep, index=outages.index, dtype=bool)]
    raw = {
        "port_id": _ports(kept),
        "outage_id": kept["start"],
        "outage_duration": kept["duration_minutes"],
    }
    labels = "outage " + _ports(kept) + " " + kept["start"].map(iso_utc)
    return _render(raw, labels, fields)


def write_csv(
    frame: pd.DataFrame, path: Path | str, module: int, defs_dir: Path | str = DEFS_DIR
) -> int:
    """Write an export frame as UTF-8 CSV, check it with validate_file; the number of rows."""
    names = [f.name for f in load_definition(module, defs_dir)]
    if list(frame.columns) != names:
        raise ValueError(f"module {module} columns must be {names}, not {list(frame.columns)}")
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\r\n")
    problems = validate_file(path, module, defs_dir)
    if problems:
        listed = "; ".join(str(p) for p in problems[:5])
        raise ValueError(f"{path}: the export breaks the module {module} definition: {listed}")
    return len(frame)


def _decimal_problem(text: str, field: FieldDef) -> str | None:
    match = _DECIMAL.match(text)
    if match is None or not (match.group(1) or match.group(2)):
        return f"not a decimal number: {text!r}"
    whole, fraction = match.group(1).lstrip("0"), match.group(2) or ""
    scale, precision = field.max_scale or 0, field.max_precision
    if len(fraction) > scale:
        return f"{len(fraction)} decimal places, more than max_scale {scale}"
    if precision is not None and len(whole) > precision - scale:
        return (
            f"{len(whole)} digits before the point, more than max_precision {precision} "
            f"- max_scale {scale} allows"
        )
    if field.min_value is not None and Decimal(text) < field.min_value:
        return f"{text} is below min_value {field.min_value}"
    return None


def _value_problem(value: str, field: FieldDef) -> str | None:
    if value.strip() == "":
        return None if field.empty_allowed else "empty, but the field requires a value"
    if field.datatype == "string":
        if field.max_length is not None and len(value) > field.max_length:
            return f"{len(value)} characters, more than max_length {field.max_length}"
        return None
    if field.datatype == "decimal":
        return _decimal_problem(value.strip(), field)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return f"not an ISO 8601 datetime: {value!r}"
    if parsed.tzinfo is None:
        return f"datetime without a UTC offset: {value!r} (end it in Z or ±hh:mm)"
    return None


def _header_problems(header: list[str], fields: tuple[FieldDef, ...]) -> list[Problem]:
    known = [f.name for f in fields]
    problems = []
    for name in sorted({n for n in header if header.count(n) > 1}):
        problems.append(Problem(1, name, "column appears more than once"))
    for name in header:
        if name not in known:
            problems.append(Problem(1, name, f"unknown column (expected {', '.join(known)})"))
    for field in fields:
        if field.required and field.name not in header:
            problems.append(Problem(1, field.name, "required column is missing"))
    present = [n for n in dict.fromkeys(header) if n in known]
    expected = [n for n in known if n in present]
    if present != expected:
        wrong = next(a for a, b in zip(present, expected, strict=True) if a != b)
        problems.append(Problem(1, wrong, f"columns out of order: expected {', '.join(expected)}"))
    return problems


def validate_file(path: Path | str, module: int, defs_dir: Path | str = DEFS_DIR) -> list[Problem]:
    """Every way the CSV at `path` breaks the module's definition, by line and field."""
    fields = load_definition(module, defs_dir)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        return [Problem(0, None, f"not UTF-8 text: {exc}")]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return [Problem(1, None, "empty file: no header line")]
        problems = _header_problems(header, fields)
        by_name = {f.name: f for f in fields}
        columns = [(i, by_name[name]) for i, name in enumerate(header) if name in by_name]
        start = reader.line_num + 1
        for record in reader:
            if not record:
                problems.append(Problem(start, None, "blank line"))
            elif len(record) != len(header):
                problems.append(
                    Problem(start, None, f"{len(record)} values, the header has {len(header)}")
                )
            else:
                for i, field in columns:
                    message = _value_problem(record[i], field)
                    if message:
                        problems.append(Problem(start, field.name, message))
            start = reader.line_num + 1
    except csv.Error as exc:
        return [Problem(reader.line_num, None, f"malformed CSV: {exc}")]
    return problems


def validate_evchart_cli(
    path: Path | str, module: int, defs_dir: Path | str | None = None, out: TextIO | None = None
) -> int:
    """`chargewatch report validate-evchart FILE --module N`: 0 valid, 1 problems, 2 unusable."""
    out = out if out is not None else sys.stdout
    if module not in MODULES:
        print(f"error: --module must be one of {', '.join(map(str, MODULES))}", file=out)
        return 2
    if not Path(path).is_file():
        print(f"error: {path}: no such file", file=out)
        return 2
    problems = validate_file(path, module, defs_dir if defs_dir is not None else DEFS_DIR)
    for problem in problems:
        print(f"{path}:{problem.line}: {problem.field or '-'}: {problem.message}", file=out)
    if problems:
        print(f"{path}: {len(problems)} problem(s) against EV-ChART module {module}", file=out)
        return 1
    print(f"{path}: OK for EV-ChART module {module}", file=out)
    return 0
