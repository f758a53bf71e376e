"""Where the optional services of the test suite are, and whether they answer.

`REQUIRE_POSTGRES=1` / `REQUIRE_REDIS=1` turn "not reachable" from a skip into a failure (CI).
"""

import os
import socket
from urllib.parse import urlparse

POSTGRES_CANDIDATES = [
    "postgres://postgres@127.0.0.1:5432/kconsole",
    "postgres://root@127.0.0.1:5432/kconsole",
]
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def required(name: str) -> bool:
    return os.environ.get(f"REQUIRE_{name}", "").strip().lower() in {"1", "true", "yes"}


def postgres_url() -> tuple[str | None, str]:
    """(a URL whose user may create databases, or None, and why not)."""
    import psycopg

    explicit = os.environ.get("TEST_POSTGRES_URL")
    errors = []
    for url in [explicit] if explicit else POSTGRES_CANDIDATES:
        u = urlparse(url)
        try:
            with psycopg.connect(
                host=u.hostname, port=u.port or 5432, user=u.username, password=u.password,
                dbname="postgres", connect_timeout=3,
            ) as conn:
                row = conn.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
                if row and row[0]:
                    return url, ""
                errors.append(f"{u.username}: cannot create databases")
        except Exception as e:  # any connection failure means "not available here"
            errors.append(f"{u.username}@{u.hostname}:{u.port}: {str(e).strip().splitlines()[0]}")
    return None, "; ".join(errors)


def redis_url() -> tuple[str | None, str]:
    url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname, u.port or 6379), timeout=2) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return url, ""
            return None, f"{url}: no PONG"
    except OSError as e:
        return None, f"{url}: {e}"
