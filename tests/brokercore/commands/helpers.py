"""Running the CLI commands in-process (call_command) and as a real `manage.py` child process."""

import io
import os
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command

MANAGE_PY = Path(__file__).resolve().parents[3] / "manage.py"


def run(*args: str, stdin: str | bytes | None = None) -> str:
    """call_command with string arguments as a shell would give them; returns stdout."""
    out = io.StringIO()
    extra = {}
    if stdin is not None:
        extra["stdin"] = io.BytesIO(stdin) if isinstance(stdin, bytes) else io.StringIO(stdin)
    call_command(*args, stdout=out, stderr=io.StringIO(), **extra)
    return out.getvalue()


def cli(db_url: str, *args: str, input: bytes | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    """`python manage.py ARGS` against the test database; stdout and stderr as text."""
    return subprocess.run(
        [sys.executable, str(MANAGE_PY), *args],
        input=input or b"",
        capture_output=True,
        timeout=timeout,
        env=cli_env(db_url),
        cwd=MANAGE_PY.parent,
    )


def cli_env(db_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1"}
