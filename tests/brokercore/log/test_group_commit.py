"""Group commit through `records_append`: threads of one process (SQLite and PostgreSQL), and
processes each running threads (PostgreSQL).

Each record's value is "<caller>:<sequence>", so the stored log says who wrote what in which order.
"""

import os
import subprocess
import sys
import threading
from collections import defaultdict

import pytest
from django.conf import settings
from django.db import connection, transaction
from psycopg.errors import CheckViolation

from brokercore.log import group_commit, storage
from brokercore.log.append import records_append
from brokercore.models import Partition
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn
from tests.factories import stored_records

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 12
PER_THREAD = 25


@pytest.fixture
def writes(monkeypatch):
    """Counts the transactions group commit makes and how many callers each served."""
    sizes: list[int] = []
    real = group_commit._write_group

    def counting(group, write):
        sizes.append(len(group))
        return real(group, write)

    monkeypatch.setattr(group_commit, "_write_group", counting)
    return sizes


def _threads(n, target):
    """Run target(i) in n threads that start together; re-raise the first failure."""
    start = threading.Barrier(n)
    errors = []

    def run(i):
        try:
            start.wait(10)
            target(i)
        except BaseException as e:  # reported to the test below
            errors.append(e)
        finally:
            connection.close()

    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    if errors:
        raise errors[0]


def _log_of(topic):
    """{partition index: [(offset, value)]} in offset order."""
    out = defaultdict(list)
    for r in stored_records(topic=topic, live_topics=True):
        out[r.partition].append((r.offset, r.value.decode()))
    return out


def _check_log(topic, answers):
    """Offsets gapless and unique per partition, the watermark at the end, every caller told the
    place its record really has, and each caller's records in its order within a partition."""
    stored = _log_of(topic)
    where = {}
    for index, rows in stored.items():
        assert [o for o, _ in rows] == list(range(len(rows))), f"partition {index}: gaps or duplicates"
        partition = Partition.objects.get(topic__name=topic, topic__deleted_at__isnull=True, index=index)
        assert partition.high_watermark == len(rows)
        last = {}
        for offset, value in rows:
            caller, seq = value.split(":")
            assert int(seq) > last.get(caller, -1), f"{caller}'s records out of order in partition {index}"
            last[caller] = int(seq)
            where[value] = (index, offset)
    assert where == answers
    return stored


def test_concurrent_single_record_appends_share_commits_and_each_caller_gets_its_offset(writes):
    topic_create(name="gc", partitions=3)
    answers = {}

    def produce(i):
        for seq in range(PER_THREAD):
            value = f"t{i}:{seq}"
            # Keys spread a caller over partitions; its records of one key keep their order.
            [r] = records_append(topic="gc", records=[RecordIn(key=f"k{i}-{seq % 2}".encode(), value=value.encode())])
            answers[value] = (r.partition, r.offset)

    _threads(THREADS, produce)
    _check_log("gc", answers)
    assert len(answers) == THREADS * PER_THREAD
    assert sum(writes) == THREADS * PER_THREAD
    # Coalescing happened: fewer transactions than appends (some groups held several callers).
    assert max(writes) > 1 and len(writes) < THREADS * PER_THREAD


def test_batches_and_null_keys_mix_with_single_records(writes):
    topic_create(name="gc-mix", partitions=4)
    answers = {}

    def produce(i):
        seq = 0
        for n in (1, 5, 1, 17, 2, 1, 40):
            values = [f"m{i}:{seq + j}" for j in range(n)]
            seq += n
            key = None if i % 3 == 0 else f"k{i}".encode()  # null keys go round-robin
            results = records_append(topic="gc-mix", records=[RecordIn(key=key, value=v.encode()) for v in values])
            for v, r in zip(values, results):
                answers[v] = (r.partition, r.offset)

    _threads(8, produce)
    _check_log("gc-mix", answers)


def test_a_caller_whose_records_the_database_refuses_fails_alone(monkeypatch, writes):
    """A refused shared write is retried per caller: only the refused caller sees the error and
    nothing of its batch is written; everybody else's records are in."""
    topic_create(name="gc-bad", partitions=2)
    real = storage.append

    def refusing(conn, batches, **kwargs):
        if any(b"poison" in item.data for items in batches.values() for item in items):
            raise CheckViolation("the database refused a record")  # an answer: nothing committed
        return real(conn, batches, **kwargs)

    monkeypatch.setattr(storage, "append", refusing)
    answers, refused = {}, []

    def produce(i):
        for seq in range(PER_THREAD):
            value = f"b{i}:{seq}"
            records = [RecordIn(key=b"k", value=value.encode())]
            if i == 0 and seq % 5 == 0:
                records.append(RecordIn(key=b"k", value=b"poison"))
            try:
                [r, *_] = records_append(topic="gc-bad", records=records)
            except CheckViolation:
                refused.append(value)
                continue
            answers[value] = (r.partition, r.offset)

    _threads(6, produce)
    stored = _check_log("gc-bad", answers)
    assert refused == [f"b0:{s}" for s in range(0, PER_THREAD, 5)]
    assert all(v not in refused for rows in stored.values() for _, v in rows)
    assert len(answers) == 6 * PER_THREAD - len(refused)


def test_a_write_the_database_refuses_fails_only_its_own_caller(monkeypatch):
    """The database refuses one caller's rows (here: a storage wrapper raising DataError for a
    marked value, as a constraint or type error would): the shared write fails, each caller
    retries alone, and only that one caller gets the database's error."""
    import sqlite3

    import psycopg
    from django.db import DataError


    def database_answer():
        # What the driver raises when the database answered with an error (a SQLSTATE on
        # PostgreSQL): the transaction ended uncommitted, so a retry cannot write twice.
        if connection.vendor == "postgresql":
            return psycopg.errors.NumericValueOutOfRange("value out of range")
        return sqlite3.IntegrityError("constraint failed")

    for name in ("pg_append", "sqlite_append"):
        real = getattr(storage, name)

        def refusing(cursor, batches, *args, _real=real, **kwargs):
            if any(b"poison" in item.data for items in batches.values() for item in items):
                raise DataError("the database refused a row") from database_answer()
            return _real(cursor, batches, *args, **kwargs)

        monkeypatch.setattr(storage, name, refusing)
    topic_create(name="gc-refused", partitions=1)
    answers, refused = {}, []

    def produce(i):
        for seq in range(PER_THREAD):
            value = (f"poison{i}:{seq}" if i == 0 and seq % 4 == 0 else f"n{i}:{seq}").encode()
            try:
                [r] = records_append(topic="gc-refused", records=[RecordIn(value=value)])
            except DataError:
                refused.append(value.decode())
                continue
            answers[value.decode()] = (r.partition, r.offset)

    _threads(6, produce)
    _check_log("gc-refused", answers)
    assert refused == [f"poison0:{s}" for s in range(0, PER_THREAD, 4)]


def test_callers_inside_a_transaction_write_in_it_and_are_never_coalesced(monkeypatch, writes):
    topic_create(name="gc-atomic", partitions=1)
    seen_in_atomic = []
    real = group_commit.append

    def spy(**kwargs):
        seen_in_atomic.append(connection.in_atomic_block)
        return real(**kwargs)

    monkeypatch.setattr(group_commit, "append", spy)
    answers = {}

    def produce(i):
        for seq in range(10):
            value = f"a{i}:{seq}"
            if i % 2:
                try:
                    with transaction.atomic():
                        [r] = records_append(topic="gc-atomic", records=[RecordIn(value=value.encode())])
                        if seq % 3 == 0:
                            raise RuntimeError("roll back")  # the append goes with the transaction
                except RuntimeError:
                    continue
            else:
                [r] = records_append(topic="gc-atomic", records=[RecordIn(value=value.encode())])
            answers[value] = (r.partition, r.offset)

    _threads(6, produce)
    assert True not in seen_in_atomic
    assert len(seen_in_atomic) == 3 * 10  # only the callers outside a transaction were queued
    # Rolled-back appends left no record (their offsets were taken back with the transaction).
    _check_log("gc-atomic", answers)


def test_group_commit_off_writes_one_transaction_per_call(monkeypatch):
    monkeypatch.setitem(settings.BROKER, "GROUP_COMMIT", False)
    monkeypatch.setattr(group_commit, "append", lambda **kw: pytest.fail("group commit is off"))
    topic_create(name="gc-off", partitions=2)
    answers = {}

    def produce(i):
        for seq in range(10):
            value = f"o{i}:{seq}"
            [r] = records_append(topic="gc-off", records=[RecordIn(key=b"x", value=value.encode())])
            answers[value] = (r.partition, r.offset)

    _threads(4, produce)
    _check_log("gc-off", answers)


def test_acks_levels_are_never_written_in_one_transaction(monkeypatch):
    topic_create(name="gc-acks", partitions=1)
    keys = []
    real = group_commit.append

    def spy(**kwargs):
        keys.append(kwargs["key"])
        return real(**kwargs)

    monkeypatch.setattr(group_commit, "append", spy)
    answers = {}

    def produce(i):
        acks = (0, 1, "all")[i % 3]
        for seq in range(10):
            value = f"k{i}:{seq}"
            [r] = records_append(topic="gc-acks", records=[RecordIn(value=value.encode())], acks=acks)
            answers[value] = (r.partition, r.offset)

    _threads(6, produce)
    _check_log("gc-acks", answers)
    assert {k[2] for k in keys} == {0, 1, -1}  # one queue per acks level


def test_a_topic_deleted_and_recreated_while_callers_queue_is_written_to_the_new_one():
    from brokercore.topics.service import topic_delete

    topic_create(name="gc-re", partitions=2)
    records_append(topic="gc-re", records=[RecordIn(value=b"warm")])  # cache the metadata
    topic_delete(name="gc-re")
    topic_create(name="gc-re", partitions=3)
    answers = {}

    def produce(i):
        for seq in range(5):
            value = f"r{i}:{seq}"
            [r] = records_append(topic="gc-re", records=[RecordIn(key=f"{i}".encode(), value=value.encode())])
            answers[value] = (r.partition, r.offset)

    _threads(4, produce)
    _check_log("gc-re", answers)


# --- Several processes, each running threads (PostgreSQL) ---------------------------------

PROCS = 3
PROC_THREADS = 6
PROC_PER_THREAD = 40


@pytest.mark.postgres
def test_processes_of_coalescing_threads_keep_offsets_gapless(db_url):
    topic_create(name="gc-mp", partitions=4)
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "console.settings"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.brokercore.group_commit_proc", "gc-mp", f"p{i}", str(PROC_THREADS), str(PROC_PER_THREAD)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for i in range(PROCS)
    ]
    answers, groups = {}, []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
        lines = out.decode().split()
        groups.append(int(lines[0]))
        for line in lines[1:]:
            value, index, offset = line.split(",")
            answers[value] = (int(index), int(offset))
    _check_log("gc-mp", answers)
    assert len(answers) == PROCS * PROC_THREADS * PROC_PER_THREAD
    assert sum(groups) < len(answers)  # the processes coalesced their threads' appends
