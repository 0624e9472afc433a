"""`chargewatch report monthly` and `report validate-evchart` as a user runs them: a real
subprocess on a real store, its files, its exit codes and its messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_reports_uptime import boot, status, t, write

from chargewatch import events as ev

CLI = [sys.executable, "-m", "chargewatch.cli"]
CONFIG = """
data_dir: {data_dir}
sites:
  - id: north
    chargers: [A]
    commissioned: 2025-01-01
reports:
  tariffs:
    - id: north-2026
      sites: [north]
      currency: EUR
      valid_from: 2026-01-01
      per_kwh: 0.50
      session_fee: 1.00
      tax_rate: 0.19
"""


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=120)


def make_store(tmp_path: Path) -> Path:
    """A is Faulted 2 hours on 10 Nov; one 20 kWh session on 12 Nov, priced
    20 × 0.50 + 1.00 = 11.00 EUR net, 2.09 tax, 13.09 total."""
    data_dir = tmp_path / "var"
    write(
        data_dir,
        [
            *boot("A", t("2026-10-01T00:00"), ports=1),
            status("A", 1, t("2026-11-10T10:00"), "Faulted", "GroundFailure"),
            status("A", 1, t("2026-11-10T12:00"), "Available"),
            ev.SessionStarted("A", t("2026-11-12T08:00"), session_id="9", transaction_id="9",
                              connector_id=1, id_tag="TAG1", meter_start_wh=0.0,
                              started_at=t("2026-11-12T08:00")),
            ev.SessionStopped("A", t("2026-11-12T10:00"), session_id="9", meter_stop_wh=20_000.0,
                              stopped_at=t("2026-11-12T10:00"), energy_wh=20_000.0),
        ],
    )  # fmt: skip
    config = tmp_path / "chargewatch.yaml"
    config.write_text(CONFIG.format(data_dir=data_dir))
    return config


def test_monthly_report_files_summary_and_progress(tmp_path: Path) -> None:
    config, out = make_store(tmp_path), tmp_path / "out"
    done = run(
        "report", "monthly", "--month", "2026-11", "--config", str(config), "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "reading the history of 2026-11" in done.stderr
    assert "wrote 20 files and 1 invoices (invoices/)" in done.stderr
    # (43200 − 120) / 43200 = 99.72 %
    assert "Uptime 99.72 % over 1 ports; 1 outages" in done.stdout
    assert "Revenue north: 13.09 EUR" in done.stdout
    listed = [Path(line) for line in done.stdout.splitlines() if line.startswith(str(out))]
    assert listed[0] == out / "report.html" and all(p.exists() for p in listed)
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 2 and "Uptime per port" in page and "GroundFailure" in page
    assert "<script" not in page and "http://" not in page.split("</style>")[1].split("<svg")[0]
    tag_invoice = (out / "invoices" / "TAG1.csv").read_text().splitlines()
    assert len(tag_invoice) == 2 and tag_invoice[1].startswith("TAG1,2026-11-12,9,A,1,20.0")
    invoice = (out / "invoice_totals.csv").read_text().splitlines()
    assert invoice[1].startswith("TAG1,EUR,1,20.0") and invoice[1].endswith("11.0,2.09,13.09")
    for module in (2, 3, 4):
        check = run("report", "validate-evchart", str(out / f"evchart_module{module}.csv"),
                    "--module", str(module))  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr


def test_a_broken_evchart_file_is_rejected_with_line_and_field(tmp_path: Path) -> None:
    broken = tmp_path / "module3.csv"
    broken.write_text(
        "port_id,uptime_reporting_start,uptime_reporting_end,uptime,total_outage,"
        "total_outage_excl\nA-1,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,99.723,120,0\n"
    )
    done = run("report", "validate-evchart", str(broken), "--module", "3")
    assert done.returncode == 1
    assert f"{broken}:2: uptime:" in done.stdout + done.stderr


def test_usage_and_data_errors_are_clear(tmp_path: Path) -> None:
    config = make_store(tmp_path)
    bad_month = run("report", "monthly", "--month", "2026-13", "--config", str(config))
    assert bad_month.returncode == 2 and "is not a month (write YYYY-MM" in bad_month.stderr
    no_site = run("report", "monthly", "--month", "2026-11", "--config", str(config),
                  "--site", "south", "--out", str(tmp_path / "o"))  # fmt: skip
    assert no_site.returncode == 2
    assert "unknown site 'south' (sites: north)" in no_site.stderr
    nothing = run("report", "monthly", "--month", "2026-11", "--data-dir", str(tmp_path / "no"))
    assert nothing.returncode == 1 and "no ChargeWatch store at" in nothing.stderr
    future = run("report", "monthly", "--month", "2099-01", "--config", str(config))
    assert future.returncode == 2 and "2099-01 has not begun yet" in future.stderr
