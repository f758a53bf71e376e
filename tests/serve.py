"""`manage.py serve` as a child process of a test, on a free port, against the test database."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """One server that can be started, killed and started again on the same ports.

    Web only unless `kafka=True` (then the Kafka listener too, on a port of its own). Its output
    goes to `<state_dir>/<name>.log` (appended across restarts), quoted in the error if it does
    not come up.
    """

    def __init__(self, db_url: str, state_dir: Path, *args: str, env: dict | None = None, name: str = "server",
                 kafka: bool = False) -> None:
        self.args, self.name, self.kafka = args, name, kafka
        self.port = free_port()
        self.kafka_port = free_port() if kafka else None
        self.environ = {
            **os.environ,
            "DATABASE_URL": db_url,
            "STATE_DIR": str(state_dir),
            "SECRET_KEY": "test-secret-key-not-for-production",
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.log_path = state_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def _spawn(self) -> None:
        # No Kafka listener unless asked: most tests do not use it, and 9092 may be taken.
        kafka = ["--kafka-port", str(self.kafka_port)] if self.kafka else ["--no-kafka"]
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.port), *kafka, *self.args],
                cwd=ROOT, env=self.environ, stdout=log, stderr=subprocess.STDOUT,
            )

    def _ready(self, log_from: int) -> bool:
        try:
            urllib.request.urlopen(self.base + "/login/", timeout=1)
        except OSError:
            return False
        # The listener is up once it has registered its broker node, which the log announces.
        return not self.kafka or "Kafka listener is up" in self.log_path.read_text()[log_from:]

    def start(self, timeout: float = 30, *, retry_exits: bool = False) -> float:
        """Start and wait until it answers; returns the seconds that took.

        `retry_exits`: start again when the process exits early, as it does after a kill -9 while
        the dead process still holds its broker node id (until the node's session times out).
        """
        began = time.monotonic()
        deadline = began + timeout
        log_from = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._spawn()
        while not self._ready(log_from):
            if self.proc.poll() is not None:
                if not retry_exits or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not start:\n{self.log_path.read_text()[-3000:]}")
                time.sleep(0.3)
                self._spawn()
            elif time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        return time.monotonic() - began

    def kill(self) -> None:
        """kill -9: no clean shutdown of anything."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def rss_kb(self) -> int:
        """Resident memory of the server process, from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode


@contextlib.contextmanager
def serve(db_url: str, state_dir: Path, *args: str, env: dict | None = None, name: str = "server"):
    """Run the server (web only unless `args` ask for more) until the block ends; yields its base URL."""
    server = ServerProcess(db_url, state_dir, *args, env=env, name=name)
    server.log_path.write_text("")
    try:
        server.start()
        yield server.base
    finally:
        server.stop()
