"""Schema validation of one MeterValues (10 sampled values): the `ocpp` library's own
validation (jsonschema Draft 4, what `ChargePoint` runs on every call) against ChargeWatch's
compiled validators (fastjsonschema over the same schema files), side by side.

Run from the repository root: `.venv/bin/python bench/validation.py [--number N]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit

from load import meter_values_frame
from ocpp.messages import MessageType, get_validator

from collector.validation import SchemaSet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=2000, help="validations per repeat")
    parser.add_argument("--repeat", type=int, default=7, help="repeats (the best is reported)")
    args = parser.parse_args()

    before, after = meter_values_frame(1)
    payload = json.loads(before + "v-1" + after)[3]
    schemas = SchemaSet("ocpp.v16")
    # what ocpp.ChargePoint runs for every call (in a thread pool, by default)
    library_validator = get_validator(MessageType.Call, "MeterValues", "1.6")

    def library() -> None:
        library_validator.validate(payload)

    def compiled() -> None:
        schemas.validate("MeterValues", payload)

    library()
    compiled()  # both compile or load their schema on first use, outside the timing
    results = {}
    for name, fn in (("ocpp library (jsonschema)", library), ("chargewatch (compiled)", compiled)):
        best = min(timeit.repeat(fn, number=args.number, repeat=args.repeat))
        results[name] = best / args.number * 1e6
    base, ours = results.values()
    print(
        f"MeterValues schema validation, 10 sampled values, best of {args.repeat} x {args.number}"
    )
    for name, us in results.items():
        print(f"{name:30} {us:8.1f} µs per message")
    print(f"{'ratio (library / compiled)':30} {base / ours:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
