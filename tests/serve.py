"""`manage.py serve` as a child process of a test, on a free port, against the test database."""

import contextlib
import os
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


@contextlib.contextmanager
def serve(db_url: str, state_dir: Path, *args: str, env: dict | None = None, name: str = "server"):
    """Run the server (web only unless `args` ask for more) until the block ends; yields its base URL.

    Its output goes to `<state_dir>/<name>.log`, quoted in the error if it does not come up.
    """
    port = free_port()
    environ = {
        **os.environ,
        "DATABASE_URL": db_url,
        "STATE_DIR": str(state_dir),
        "SECRET_KEY": "test-secret-key-not-for-production",
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    log_path = state_dir / f"{name}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        # No Kafka listener unless asked: these tests do not use it, and 9092 may be taken.
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-kafka", *args],
        cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/login/", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start:\n{log_path.read_text()[-3000:]}") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
