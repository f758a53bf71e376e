"""`make test`: the whole suite on SQLite, then again on PostgreSQL.

Without REQUIRE_POSTGRES=1 a missing PostgreSQL skips the second pass with the reason; with it,
that is a failure. Ends with one combined "N passed, N failed, N skipped" line.
"""

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from tests.services import postgres_url, required


def run_pass(label: str, env: dict, args: list[str]) -> tuple[int, dict]:
    with tempfile.NamedTemporaryFile(suffix=".xml", delete=False) as f:
        report = f.name
    print(f"\n===== test pass: {label} =====", flush=True)
    code = subprocess.call([sys.executable, "-m", "pytest", f"--junitxml={report}", *args], env=env)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    try:
        suite = ET.parse(report).getroot()
        suites = [suite] if suite.tag == "testsuite" else list(suite)
        for s in suites:
            total = int(s.get("tests", 0))
            failed = int(s.get("failures", 0)) + int(s.get("errors", 0))
            skipped = int(s.get("skipped", 0))
            counts["failed"] += failed
            counts["skipped"] += skipped
            counts["passed"] += total - failed - skipped
    except (ET.ParseError, FileNotFoundError):
        counts["failed"] += 1
    finally:
        if os.path.exists(report):
            os.unlink(report)
    if code not in (0, 5):
        counts["failed"] = max(counts["failed"], 1)
    return code, counts


def main() -> int:
    args = sys.argv[1:]
    base_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    totals = {"passed": 0, "failed": 0, "skipped": 0}

    _, counts = run_pass("SQLite", {**base_env, "TEST_BACKEND": "sqlite"}, args)
    for k in totals:
        totals[k] += counts[k]

    url, why = postgres_url()
    if url:
        _, counts = run_pass(f"PostgreSQL ({url})", {**base_env, "DATABASE_URL": url, "TEST_BACKEND": "postgres"}, args)
        for k in totals:
            totals[k] += counts[k]
    elif required("POSTGRES"):
        print(f"\nFAILED: REQUIRE_POSTGRES=1 but PostgreSQL is not reachable: {why}", flush=True)
        totals["failed"] += 1
    else:
        print(f"\nSKIPPED the PostgreSQL pass: PostgreSQL is not reachable ({why}). "
              "Start it on 127.0.0.1:5432 or set TEST_POSTGRES_URL.", flush=True)

    print(f"\n{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped", flush=True)
    return 1 if totals["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
