"""`python -m reports.job`: one monthly report in a process of its own, for the scheduler.

`chargewatch run` starts this instead of generating in-process: pandas would hold the GIL
(the chargers' answers would wait) and the memory of a month of data would stay with the
collector. The same config file and data dir as `run` are passed; the generator reads the
store read-only beside the running journal (SQLite WAL). Progress goes to stderr; the last
stdout line is RESULT_MARKER and the ReportResult as JSON, which the scheduler reads.
The process runs at a lower CPU priority (nice 10).

    python -m reports.job --month 2026-11 [--site S] --out DIR [--config F] --data-dir D
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

RESULT_MARKER = "CHARGEWATCH-REPORT-RESULT "


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reports.job", description=__doc__)
    p.add_argument("--month", required=True, help="YYYY-MM")
    p.add_argument("--site", help="one site's report (default: the whole network)")
    p.add_argument("--out", type=Path, required=True, help="directory to write to")
    p.add_argument("--config", type=Path, help="chargewatch.yaml (default: built-in defaults)")
    p.add_argument("--data-dir", type=Path, required=True, help="the data dir of `run`")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with contextlib.suppress(OSError):
        os.nice(10)  # the collector beside us answers chargers first
    from chargewatch.config import load_config
    from reports.monthly import write_monthly_report

    config = load_config(args.config).model_copy(update={"data_dir": args.data_dir})
    result = write_monthly_report(
        config,
        args.month,
        args.out,
        site=args.site,
        progress=lambda text: print(text, file=sys.stderr, flush=True),
    )
    payload = {
        "month": result.month,
        "site": result.site,
        "out_dir": str(Path(result.out_dir).resolve()),
        "files": [str(Path(f).resolve()) for f in result.files],
        "summary": result.summary,
    }
    print(RESULT_MARKER + json.dumps(payload), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
