"""Benchmarks of the broker, run with `python -m bench [name ...]` (or `make bench`).

Each benchmark is a module listed in `bench.registry.BENCHMARKS` with:

- `NAME` (the command-line name) and `TITLE` (its heading in docs/BENCHMARKS.md);
- `run(ctx) -> dict`, executed inside a Django process set up for one backend (the runner starts
  one subprocess per backend, because Django settings are per process); it returns plain,
  JSON-serialisable results;
- `render(results, machine) -> str`, the Markdown (tables and verdicts) for all backends' results.

The runner (`bench.__main__`) creates a scratch database per backend (a temporary SQLite file; a
dedicated PostgreSQL database that it drops afterwards), migrates it, runs the benchmarks, prints
the tables and rewrites the benchmark's generated block in docs/BENCHMARKS.md.
"""
