"""acks decides how durably an append commits on SQLite: acks=all with synchronous=FULL (the WAL is
fsynced before COMMIT returns), acks 0/1 with the connection's NORMAL. Seen through SQLite's own
statement trace on the connection that writes (PostgreSQL sets synchronous_commit inside its
append statement; test_log covers that)."""

import threading

import pytest
from django.db import connection, transaction

from brokercore.log import storage
from brokercore.log.append import records_append
from brokercore.log.producers import records_append_idempotent
from brokercore.log.storage import topic_meta_forget
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn
from tests.factories import producer_batch_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def statements():
    """Every statement the test thread's SQLite connection runs, in order, and the connection's
    synchronous level at each COMMIT (1 NORMAL, 2 FULL)."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's synchronous pragma; PostgreSQL's acks levels are tested in test_log")
    connection.ensure_connection()
    raw = connection.connection
    seen: list[str] = []
    raw.set_trace_callback(lambda sql: seen.append(" ".join(sql.split())))
    yield seen
    raw.set_trace_callback(None)


def _topic(name: str, partitions: int) -> None:
    topic_create(name=name, partitions=partitions)
    # An earlier test's topic of the same name may be cached: its first append would be a
    # stale-metadata retry (an empty transaction, then the write).
    topic_meta_forget(name)


def _synchronous() -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        return cursor.fetchone()[0]


def _around_commits(seen: list[str]) -> list[tuple[str | None, str]]:
    """For each COMMIT, the synchronous level last set before it ('FULL', 'NORMAL' or None)."""
    level, out = None, []
    for sql in seen:
        if sql.upper().startswith("PRAGMA SYNCHRONOUS="):
            level = sql.split("=", 1)[1].strip().upper()
        elif sql.upper() == "COMMIT":
            out.append((level, sql))
    return out


@pytest.mark.parametrize("group_commit", [True, False])
def test_acks_all_commits_with_full_and_the_connection_goes_back_to_normal(statements, settings, group_commit):
    settings.BROKER = {**settings.BROKER, "GROUP_COMMIT": group_commit}
    _topic("t", 2)
    statements.clear()
    records_append(topic="t", records=[RecordIn(key=b"k", value=b"v")], acks="all")
    assert _around_commits(statements) == [("FULL", "COMMIT")]
    assert statements[-1].upper() == "PRAGMA SYNCHRONOUS=NORMAL"
    assert _synchronous() == 1


@pytest.mark.parametrize("acks", [1, 0])
def test_acks_0_and_1_commit_with_the_connections_normal(statements, acks):
    _topic("t", 2)
    statements.clear()
    records_append(topic="t", records=[RecordIn(key=b"k", value=b"v")], acks=acks)
    assert _around_commits(statements) == [(None, "COMMIT")]
    assert not any("SYNCHRONOUS" in s.upper() for s in statements)
    assert _synchronous() == 1


def test_a_refused_acks_all_write_still_restores_normal(statements, monkeypatch):
    _topic("t", 1)

    def refuse(*args, **kwargs):
        raise RuntimeError("refused")

    monkeypatch.setattr(storage, "sqlite_append", refuse)
    statements.clear()
    with pytest.raises(RuntimeError):
        records_append(topic="t", records=[RecordIn(value=b"v")], acks="all")
    pragmas = [s.upper() for s in statements if s.upper().startswith("PRAGMA")]
    assert pragmas == ["PRAGMA SYNCHRONOUS=FULL", "PRAGMA SYNCHRONOUS=NORMAL"]
    assert statements[-1].upper() == "PRAGMA SYNCHRONOUS=NORMAL"
    assert _synchronous() == 1


def test_inside_a_callers_transaction_the_callers_commit_decides(statements):
    """SQLite refuses the pragma inside a transaction: the append must not try."""
    _topic("t", 1)
    statements.clear()
    with transaction.atomic():
        records_append(topic="t", records=[RecordIn(value=b"v")], acks="all")
    assert not any("SYNCHRONOUS" in s.upper() for s in statements)
    assert _around_commits(statements) == [(None, "COMMIT")]


def test_an_idempotent_producers_acks_all_batch_commits_with_full(statements):
    """Its sequence check and the append are one transaction; FULL wraps that one."""
    _topic("t", 1)
    statements.clear()
    records_append_idempotent(
        topic="t", partition=0, batch=producer_batch_of([RecordIn(value=b"v")], producer_id=7), acks="all"
    )
    assert _around_commits(statements) == [("FULL", "COMMIT")]
    assert _synchronous() == 1
    statements.clear()
    records_append_idempotent(
        topic="t", partition=0, batch=producer_batch_of([RecordIn(value=b"w")], producer_id=7, base_sequence=1), acks=1
    )
    assert _around_commits(statements) == [(None, "COMMIT")]


def test_a_group_of_acks_all_callers_commits_once_with_full(settings):
    """Concurrent callers share the leader's transaction; every thread's connection ends at NORMAL."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's synchronous pragma")
    _topic("t", 4)
    levels, errors = [], []
    start = threading.Barrier(8)

    def produce(i):
        try:
            start.wait(10)
            for n in range(20):
                records_append(topic="t", records=[RecordIn(key=b"%d" % i, value=b"%d" % n)], acks="all")
            levels.append(_synchronous())
        except BaseException as e:  # reported below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert levels == [1] * 8


def test_the_level_acks_0_and_1_go_back_to_is_the_one_every_connection_starts_with():
    """storage restores SQLITE_SYNCHRONOUS_DEFAULT after an acks=all commit: it must be what
    console/settings.py's init_command sets, or acks 0/1 would silently commit otherwise."""
    from django.conf import settings

    from brokercore.log.storage.sqlite import SQLITE_SYNCHRONOUS_DEFAULT

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's synchronous pragma")
    assert f"PRAGMA synchronous={SQLITE_SYNCHRONOUS_DEFAULT};" in settings.DATABASES["default"]["OPTIONS"]["init_command"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's WAL pragmas")
def test_every_sqlite_connection_has_the_settings_pragmas(transactional_db):
    """What console/settings.py's init_command asks is what a connection has: WAL, NORMAL as the
    default sync level, a WAL file cut back to 64 MiB after checkpoints, temporaries in memory."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        values = {}
        for pragma in ("journal_mode", "synchronous", "journal_size_limit", "temp_store", "foreign_keys"):
            cursor.execute(f"PRAGMA {pragma}")
            values[pragma] = cursor.fetchone()[0]
    assert values == {"journal_mode": "wal", "synchronous": 1, "journal_size_limit": 64 * 2**20,
                      "temp_store": 2, "foreign_keys": 1}
