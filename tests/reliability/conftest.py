"""Load client processes, a PostgreSQL cluster of the test's own, and the figures the tests report.

Figures: each test adds what it measured to `RELIABILITY_FIGURES` (a JSON file, if set), from
which docs/RELIABILITY.md is written; they are also printed (`pytest -s`).
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.serve import ROOT, free_port
from tests.services import required


def report(scenario: str, figures: dict, *, database: str = "") -> None:
    from django.conf import settings

    backend = database or ("postgresql" if settings.DATABASES["default"]["ENGINE"].endswith("postgresql") else "sqlite")
    line = {"scenario": scenario, "database": backend, "at": time.strftime("%Y-%m-%d %H:%M:%S"), **figures}
    print(json.dumps(line))
    if path := os.environ.get("RELIABILITY_FIGURES"):
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


def manage_env(db_url: str, state_dir: Path) -> dict:
    return {**os.environ, "DATABASE_URL": db_url, "STATE_DIR": str(state_dir), "LOG_LEVEL": "WARNING",
            "SECRET_KEY": "test-secret-key-not-for-production"}


def load_proc(db_url: str, state_dir: Path, *args: str, timeout: float = 120) -> dict:
    """Run `load_proc setup|verify ...` against `db_url` and return its JSON."""
    out = subprocess.run([sys.executable, "-m", "tests.reliability.load_proc", *args], cwd=ROOT,
                         env=manage_env(db_url, state_dir), capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"load_proc {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


class Load:
    """Client processes (tests/reliability/load_proc.py) in two kinds, producers and consumers,
    each kind stopped by its own stop file."""

    def __init__(self, workdir: Path, *, topic: str, bootstrap: str = "", web: str = "", token: str = "") -> None:
        self.dir, self.topic = workdir, topic
        self.common = ["--topic", topic, "--bootstrap", bootstrap, "--web", web, "--token", token]
        self.procs: dict[str, list[tuple[str, subprocess.Popen]]] = {"producers": [], "consumers": []}

    def start(self, kind: str, role: str, name: str, *args: str) -> None:
        out = self.dir / f"{name}.json"
        log = open(self.dir / f"{name}.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.load_proc", role, "--name", name, "--out", str(out),
             "--stop-file", str(self.dir / f"stop-{kind}"), *self.common, *args],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs[kind].append((name, proc))

    def stop(self, kind: str, timeout: float = 150) -> list[dict]:
        """Ask every client of `kind` to finish and return their results."""
        (self.dir / f"stop-{kind}").touch()
        results = []
        deadline = time.monotonic() + timeout
        for name, proc in self.procs[kind]:
            try:
                proc.wait(max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                pytest.fail(f"client {name} did not finish:\n{(self.dir / f'{name}.log').read_text()[-3000:]}")
            if proc.returncode != 0:
                pytest.fail(f"client {name} exited with {proc.returncode}:\n{(self.dir / f'{name}.log').read_text()[-3000:]}")
            results.append({"name": name, **json.loads((self.dir / f"{name}.json").read_text())})
        return results

    def progress(self, name: str) -> list[dict]:
        path = self.dir / f"{name}.json.progress"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def names(self) -> list[str]:
        return [name for procs in self.procs.values() for name, _ in procs]

    def kill_all(self) -> None:
        for procs in self.procs.values():
            for _, proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def load_dir():
    """A directory for the clients' files (outside pytest's tmp_path only for symmetry with own_postgres)."""
    d = Path(tempfile.mkdtemp(prefix="kconsole-load-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


class OwnPostgres:
    """A PostgreSQL cluster started by the test (initdb, pg_ctl) in a temporary directory on a free
    port, so it can be stopped and restarted without touching the machine's shared server."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="kconsole-pg-"))
        self.data, self.port = self.dir / "data", free_port()
        self.log = self.dir / "postgres.log"
        # initdb refuses root: run the cluster as the `postgres` account when the tests run as root.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        out = subprocess.run([*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"{tool} failed: {out.stdout}{out.stderr}\n{self.log.read_text()[-2000:] if self.log.exists() else ''}")

    def _options(self) -> str:
        return f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-o", self._options(), "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-o", self._options(), "-l", str(self.log), "-m", "fast", "-w", "restart")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except RuntimeError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


def postgres_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


@pytest.fixture
def own_postgres(load_dir):
    """A migrated database on a PostgreSQL cluster of this test's own: (cluster, DATABASE_URL)."""
    bin_dir = postgres_binaries()
    why = "" if bin_dir else "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin"
    if bin_dir and os.geteuid() == 0 and not shutil.which("runuser"):
        why = "running as root without runuser to start PostgreSQL as the postgres account"
    if why:
        if required("POSTGRES"):
            pytest.fail(f"REQUIRE_POSTGRES=1 but {why}")
        pytest.skip(f"{why}; set REQUIRE_POSTGRES=1 to fail instead")
    cluster = OwnPostgres(bin_dir)
    try:
        cluster.start()
        url = cluster.create_database("kconsole")
        migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT,
                                 env=manage_env(url, load_dir), capture_output=True, text=True, timeout=180)
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        yield cluster, url
    finally:
        cluster.close()
