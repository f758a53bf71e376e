"""Shared helpers: machine description, scratch databases, Markdown tables, the results doc."""

import datetime
import os
import platform
import re
import sqlite3
import statistics
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "BENCHMARKS.md"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# Two runs on one server (say, two people benchmarking on a shared machine) must not drop each
# other's scratch database: BENCH_DB_NAME gives each its own. A plain identifier only (interpolated).
BENCH_DB_NAME = os.environ.get("BENCH_DB_NAME") or "kconsole_bench"
if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", BENCH_DB_NAME):
    raise SystemExit(f"BENCH_DB_NAME={BENCH_DB_NAME!r}: lower-case letters, digits and _ only")

DOC_HEADER = """# Benchmarks

Figures measured by `python -m bench` (all benchmarks) or `python -m bench NAME` (one of them),
also `make bench`. Each benchmark runs once per backend, in a separate process with its own
scratch database: a temporary SQLite file, and, when PostgreSQL answers (on
`BENCH_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`), a dedicated
`kconsole_bench` database created, migrated and dropped by the run. Each section below is
regenerated between its `bench:` markers by the run; text outside the markers is kept. Figures
(PNG, drawn by bench/plots.py with matplotlib) are written to docs/bench/ by the same run; each
names its machine and run date.
"""


# --- Machine ---------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def machine_info() -> dict:
    import django

    try:
        import psycopg

        psycopg_version = f"{psycopg.__version__} ({psycopg.pq.__impl__})"
    except Exception:  # psycopg missing or broken: the SQLite pass still runs
        psycopg_version = "n/a"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    mem = mem_total_gib()
    try:
        load = " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        load = "n/a"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": cores,
        "memory": f"{mem:.1f} GiB" if mem else "n/a",
        "load": load,
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "psycopg": psycopg_version,
        "sqlite": sqlite3.sqlite_version,
        "postgres": None,  # filled from the PostgreSQL pass
    }


def machine_markdown(m: dict) -> str:
    rows = [
        ("Date", m["date"]),
        ("CPU", f"{m['cpu']}, {m['cores']} cores available"),
        ("Memory", m["memory"]),
        ("Load average at start", m.get("load", "n/a")),
        ("OS", m["os"]),
        ("Python", f"{m['python']}, Django {m['django']}, psycopg {m['psycopg']}"),
        ("SQLite", m["sqlite"]),
        ("PostgreSQL", m["postgres"] or "not run (not reachable)"),
    ]
    return table(["Machine", ""], rows, align="ll")


# --- Backends --------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str  # "sqlite" or "postgres"
    label: str
    env: dict = field(default_factory=dict)


def postgres_admin_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def postgres_reachable(url: str) -> tuple[bool, str]:
    try:
        import psycopg

        u = urlparse(url)
        with psycopg.connect(
            host=u.hostname, port=u.port or 5432, user=u.username, password=u.password,
            dbname=(u.path.lstrip("/") or "postgres"), connect_timeout=3,
        ):
            return True, ""
    except Exception as e:  # any failure means "skip the PostgreSQL pass"
        return False, str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _pg_admin(url: str, sql: str) -> None:
    import psycopg

    u = urlparse(url)
    with psycopg.connect(
        host=u.hostname, port=u.port or 5432, user=u.username, password=u.password,
        dbname=(u.path.lstrip("/") or "postgres"), autocommit=True, connect_timeout=5,
    ) as conn:
        conn.execute(sql)


@contextmanager
def sqlite_backend():
    with tempfile.TemporaryDirectory(prefix="kconsole-bench-") as d:
        yield Backend("sqlite", "SQLite", {"STATE_DIR": d})


@contextmanager
def postgres_backend(admin_url: str):
    """A fresh `kconsole_bench` database on the server, dropped afterwards."""
    _pg_admin(admin_url, f"DROP DATABASE IF EXISTS {BENCH_DB_NAME} WITH (FORCE)")
    _pg_admin(admin_url, f"CREATE DATABASE {BENCH_DB_NAME}")
    u = urlparse(admin_url)
    url = urlunparse(u._replace(path=f"/{BENCH_DB_NAME}"))
    try:
        with tempfile.TemporaryDirectory(prefix="kconsole-bench-") as d:
            yield Backend("postgres", "PostgreSQL", {"STATE_DIR": d, "DATABASE_URL": url})
    finally:
        _pg_admin(admin_url, f"DROP DATABASE IF EXISTS {BENCH_DB_NAME} WITH (FORCE)")


# --- Server processes ------------------------------------------------------------------------


# Where servers started by a benchmark listen: BENCH_PORTS="LOW-HIGH" keeps them in a range (two
# people benchmarking on one machine give each run its own); unset, the system picks free ports.
_port_cursor: int | None = None


def port_range(spec: str) -> tuple[int, int]:
    """(low, high) of a BENCH_PORTS value such as "19100-19199"; a clear error for anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", spec)
    if not m or not 1024 <= int(m.group(1)) <= int(m.group(2)) <= 65535:
        raise SystemExit(f"BENCH_PORTS={spec!r}: give a range LOW-HIGH within 1024-65535, e.g. 19100-19199")
    return int(m.group(1)), int(m.group(2))


def free_port() -> int:
    """A port no one listens on now (within BENCH_PORTS if set; each call moves on to the next)."""
    import socket

    global _port_cursor
    spec = os.environ.get("BENCH_PORTS")
    if not spec:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    low, high = port_range(spec)
    start = low if _port_cursor is None or not low <= _port_cursor <= high else _port_cursor
    for i in range(high - low + 1):
        port = low + (start - low + i) % (high - low + 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _port_cursor = port + 1
        return port
    raise RuntimeError(f"no free port in BENCH_PORTS={spec}")


class ManagedProcess:
    """`manage.py <command> ...` with the benchmark's database and environment (plus `env`), ready
    once `port` accepts connections."""

    def __init__(self, args: list[str], port: int, env: dict | None = None) -> None:
        import socket
        import subprocess
        import time

        self.port = port
        env = {**os.environ, "LOG_LEVEL": "WARNING", "DEBUG": "0", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"manage.py {args[0]} exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"manage.py {args[0]} did not start within 30 s")

    def stop(self) -> None:
        process_stop(self.proc)


def kafka_listener(port: int | None = None, env: dict | None = None) -> ManagedProcess:
    """`manage.py kafka`: the Kafka listener alone (one process, no maintenance thread), on `port`
    (a free one by default)."""
    port = port or free_port()
    return ManagedProcess(["kafka", "--port", str(port), "--no-maintenance", "-v", "0"], port, env)


def web_server(port: int | None = None) -> ManagedProcess:
    """`manage.py serve` without the Kafka listener and the maintenance thread: the console and the
    REST proxy alone (one daphne process), on `port` (a free one by default)."""
    port = port or free_port()
    return ManagedProcess(["serve", "--port", str(port), "--no-maintenance", "--no-kafka", "-v", "0"], port)


def produce_waiting(producer, topic: str, key: bytes | None, value: bytes, on_delivery) -> None:
    """confluent-kafka's produce(), waiting while the client's queue is full (BufferError) as an
    application that must not drop a record does."""
    while True:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.01)


def process_stop(proc) -> None:
    """Terminate a server process, and kill it if it has not gone within 10 s."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- Numbers and tables ----------------------------------------------------------------------


BACKEND_LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def backend_label(backend: str) -> str:
    """The backend's name as the reports print it (an unknown one as given)."""
    return BACKEND_LABELS.get(backend, backend)


def median(values):
    return statistics.median(values) if values else float("nan")


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def fmt_ms(x: float) -> str:
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}x"


def table(headers: list[str], rows: list[tuple], align: str | None = None) -> str:
    """A Markdown table that also reads well as plain text (columns padded)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or ("l" + "r" * (len(headers) - 1))

    def line(r):
        out = []
        for i, c in enumerate(r):
            out.append(c.ljust(widths[i]) if align[i] == "l" else c.rjust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join(
        ("-" * (widths[i] + 1) + ":") if align[i] == "r" else (":" + "-" * (widths[i] + 1))
        for i in range(len(headers))
    ) + "|"
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


# --- The results document --------------------------------------------------------------------


def doc_update(name: str, title: str, block: str, path: Path = DOC) -> None:
    """Replace the `bench:NAME` block under `## TITLE` (creating the section if needed)."""
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    generated = f"{begin}\n{block.strip()}\n{end}"
    text = path.read_text() if path.exists() else DOC_HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: generated, text, count=1)
    else:
        heading = f"## {title}"
        if heading in text:
            # Put the block right after the heading line; the hand-written text stays below it.
            i = text.index(heading) + len(heading)
            text = text[:i] + "\n\n" + generated + "\n" + text[i:]
        else:
            text = text.rstrip() + f"\n\n{heading}\n\n{generated}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n")


def api_token(username: str, *, staff: bool) -> str:
    """A new API token of user `username` (made if missing), as an operator gives an application."""
    from django.contrib.auth import get_user_model

    from console.api.tokens import token_create

    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": staff})
    return token_create(user=user, name="bench")[1]


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
