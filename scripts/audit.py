"""`make audit`, part 1: known vulnerabilities in the locked packages (pip-audit).

Audits requirements.lock as pinned (hashes required, nothing installed) against PyPI's JSON
API. Exit 0: every package audited, no known vulnerability. 1: vulnerabilities (listed).
2: the vulnerability service could not be reached, so nothing was audited. 3: some packages
could not be audited (the service does not know their version), so the result is incomplete.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

LOCK = "requirements.lock"
SERVICE = "PyPI's JSON API (https://pypi.org/pypi/<name>/<version>/json)"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        proc = subprocess.run(
            [
                sys.executable, "-m", "pip_audit", "-r", LOCK, "--require-hashes",
                "--disable-pip", "--progress-spinner", "off", "--format", "json",
                "--output", str(report),
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if not report.exists() or not report.read_text().strip():
            reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            print(
                f"NOTE: the vulnerability service, {SERVICE}, could not be reached: {reason}\n"
                "      The locked packages were NOT audited; run `make audit` again with "
                "network access to pypi.org."
            )
            return 2
        data = json.loads(report.read_text())
    deps = data.get("dependencies", [])
    found = [(d, v) for d in deps for v in d.get("vulns", [])]
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = len(deps) - len(skipped)
    for dep, vuln in found:
        fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
        print(f"VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
        print(f"    {(vuln.get('description') or '').strip()[:300]}")
    if found:
        names = {d["name"] for d, _ in found}
        print(f"{len(found)} known vulnerabilities in {len(names)} packages")
        return 1
    if skipped:
        reasons = Counter(d["skip_reason"].split(":")[0] for d in skipped)
        print(
            f"NOTE: {len(skipped)} of {len(deps)} locked packages could not be audited "
            f"({'; '.join(f'{n}: {r}' for r, n in reasons.items())}).\n"
            f"      {SERVICE} did not know these versions (a mirror without per-version "
            "documents answers 404), so the audit is INCOMPLETE, not clean: "
            + ", ".join(d["name"] for d in skipped[:8])
            + (" ..." if len(skipped) > 8 else "")
        )
        if audited:
            print(f"      The {audited} audited packages have no known vulnerability.")
        return 3
    print(f"pip-audit: {len(deps)} locked packages, no known vulnerability")
    return 0


if __name__ == "__main__":
    sys.exit(main())
