"""One backend's pass: `python -m bench.worker --out FILE [--quick] NAME ...`.

Started by `python -m bench` with DATABASE_URL / STATE_DIR pointing at a scratch database. Sets
up Django, migrates, runs each named benchmark and writes {"backend": ..., "results": {name:
result}} as JSON to FILE.
"""

import argparse
import json
import os
import sys
from dataclasses import dataclass


@dataclass
class Context:
    backend: str  # "sqlite" or "postgres"
    quick: bool
    profile: bool


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("names", nargs="+")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.common import progress
    from bench.registry import load

    call_command("migrate", verbosity=0, interactive=False)
    backend = "postgres" if connection.vendor == "postgresql" else "sqlite"
    with connection.cursor() as c:
        if backend == "postgres":
            c.execute("SHOW server_version")
            server = "PostgreSQL " + c.fetchone()[0]
        else:
            c.execute("SELECT sqlite_version()")
            server = "SQLite " + c.fetchone()[0]
    progress(f"[{backend}] {server}; database {connection.settings_dict['NAME']}")

    ctx = Context(backend=backend, quick=args.quick, profile=args.profile)
    results = {}
    for name in args.names:
        results[name] = load(name).run(ctx)
    with open(args.out, "w") as f:
        json.dump({"backend": backend, "server": server, "results": results}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
