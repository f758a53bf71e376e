"""Database helpers every subsystem may use."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def read_snapshot() -> Iterator[None]:
    """Run the SELECTs inside on one snapshot of the database, so a reader of several rows (a
    group and its members) never sees half of another process's commit.

    Outside a transaction each statement sees its own snapshot: a group read as Stable, then its
    members read after a new member's JoinGroup committed, is a state the group was never in.
    PostgreSQL gets a REPEATABLE READ, READ ONLY transaction (it takes no locks). SQLite's
    transactions here BEGIN IMMEDIATE, which takes the write lock, so a plain deferred BEGIN is
    issued instead: in WAL mode it pins the snapshot at the first read and blocks no writer. Inside
    a caller's transaction the caller's snapshot rules and this does nothing.
    """
    if connection.in_atomic_block:
        yield
        return
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
        return
    if connection.vendor != "sqlite":
        yield
        return
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("COMMIT")
