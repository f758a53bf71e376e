"""`python -m bench [NAME ...]`: run benchmarks on SQLite and PostgreSQL, print and record them.

Options:
  --backends sqlite,postgres   which backends (default both; PostgreSQL is skipped if unreachable)
  --quick                      a short smoke run (small counts; the doc is not written)
  --no-doc                     do not rewrite docs/BENCHMARKS.md or its figures
  --profile                    also print a cProfile summary of the broker's hot paths
  --json FILE                  also save the run (machine and results) as JSON
  --from-json FILE             measure nothing: print, and write the doc and figures of, a run
                               saved with --json (e.g. after changing how figures are drawn)

Besides its tables, each benchmark with a plot function in bench/plots.py gets PNG figures in
docs/bench/ (<name>-<what>.png), linked from its section.

PostgreSQL is reached at BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres);
the run creates and drops a `kconsole_bench` database there (BENCH_DB_NAME names another, so two
runs on one server do not drop each other's). Servers a benchmark starts listen on free ports,
within BENCH_PORTS (e.g. 19100-19199) when it is set.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench.common import (
    DOC,
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


def figures(name: str, results: dict, machine: dict, doc) -> str:
    """Draw `name`'s figures into bench/ beside `doc`; answer the Markdown that shows them ("" if none).

    A figure that fails to draw must not cost the run its tables, which took minutes to measure:
    the failure is reported and the section is written without figures.
    """
    try:
        from bench import plots

        lines = plots.write(name, results, machine, doc.parent / "bench", link_prefix="bench")
    except Exception as e:  # matplotlib missing, or results shaped unlike what plots expects
        progress(f"figures for {name} not drawn: {type(e).__name__}: {e}")
        return ""
    return "### Figures\n\n" + "\n\n".join(lines) if lines else ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(BENCHMARKS)})")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--from-json", metavar="FILE")
    args = parser.parse_args(argv)

    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        args.quick = args.quick or saved.get("quick", False)
        names = args.names or list(saved["names"])
    else:
        names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    started = time.perf_counter()
    if args.from_json:
        machine, passes = saved["machine"], saved["passes"]
        missing = [n for n in names if not any(n in p["results"] for p in passes.values())]
        if missing:
            parser.error(f"{args.from_json} has no results for {', '.join(missing)}")
    else:
        machine, passes = measure(names, wanted, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "names": names, "quick": args.quick, "passes": passes}, f, indent=1)

    write_doc = not args.no_doc and not args.quick
    for name in names:
        module = load(name)
        results = {backend: p["results"][name] for backend, p in passes.items() if name in p["results"]}
        text = module.render(results, machine)
        print(f"\n## {module.TITLE}\n\n{text}\n", flush=True)
        if write_doc:
            # DOC read here, not bound at import, so a test can point the run at a scratch copy.
            shown = figures(name, results, machine, DOC)
            doc_update(module.NAME, module.TITLE, f"{text}\n\n{shown}" if shown else text, path=DOC)
    progress(f"bench finished in {time.perf_counter() - started:.0f} s")
    return 0


def measure(names: list[str], wanted: list[str], args) -> tuple[dict, dict]:
    """Run every backend's pass; answer (machine description, {backend: worker output})."""
    machine = machine_info()
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
    return machine, passes


if __name__ == "__main__":
    sys.exit(main())
