"""`python -m bench [NAME ...]`: run benchmarks on SQLite and PostgreSQL, print and record them.

Options:
  --backends sqlite,postgres   which backends (default both; PostgreSQL is skipped if unreachable)
  --quick                      a short smoke run (small counts; the doc is not written)
  --no-doc                     do not rewrite docs/BENCHMARKS.md
  --profile                    also print a cProfile summary of the broker's hot paths

PostgreSQL is reached at BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres);
the run creates and drops a `kconsole_bench` database there.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench.common import (
    ROOT,
    doc_update,
    machine_info,
    postgres_admin_url,
    postgres_backend,
    postgres_reachable,
    progress,
    sqlite_backend,
)
from bench.registry import BENCHMARKS, load


def run_backend(backend, names: list[str], quick: bool, profile: bool) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "STATE_DIR")}
    env.update(backend.env)
    env.update({"DJANGO_SETTINGS_MODULE": "console.settings", "DEBUG": "0", "LOG_LEVEL": "WARNING"})
    cmd = [sys.executable, "-m", "bench.worker", "--out", out, *names]
    if quick:
        cmd.append("--quick")
    if profile:
        cmd.append("--profile")
    try:
        code = subprocess.call(cmd, env=env, cwd=ROOT)
        if code != 0:
            raise SystemExit(f"the {backend.label} pass failed (exit code {code})")
        with open(out) as f:
            return json.load(f)
    finally:
        os.unlink(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(BENCHMARKS)})")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    machine = machine_info()
    started = time.perf_counter()
    passes: dict[str, dict] = {}  # backend name -> worker output

    if "sqlite" in wanted:
        with sqlite_backend() as b:
            progress(f"== {b.label} ==")
            passes[b.name] = run_backend(b, names, args.quick, args.profile)
    if "postgres" in wanted:
        url = postgres_admin_url()
        ok, why = postgres_reachable(url)
        if ok:
            with postgres_backend(url) as b:
                progress(f"== {b.label} ==")
                passes[b.name] = run_backend(b, names, args.quick, args.profile)
                machine["postgres"] = passes[b.name]["server"].removeprefix("PostgreSQL ")
        else:
            progress(f"PostgreSQL pass skipped: {url} is not reachable ({why})")

    for name in names:
        module = load(name)
        results = {backend: p["results"][name] for backend, p in passes.items()}
        text = module.render(results, machine)
        print(f"\n## {module.TITLE}\n\n{text}\n", flush=True)
        if not args.no_doc and not args.quick:
            doc_update(module.NAME, module.TITLE, text)
    progress(f"bench finished in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
