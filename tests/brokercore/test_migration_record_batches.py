"""Migration 0009 moves an existing log from one row per record into record batches, keeping
every offset, timestamp, key, value and header, and back again."""

import base64
import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from brokercore.log.batch import batch_records

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("brokercore", "0008_kafka_group_members")]
AFTER = [("brokercore", "0009_record_batches")]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.fixture(autouse=True)
def _latest_after():
    """Leave the schema at the newest migration, whatever came after 0009, for the tests after."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def _old_records(pid):
    with connection.cursor() as c:
        c.execute(
            'SELECT "offset", "timestamp", timestamp_type, key, value, headers, size FROM brokercore_record '
            'WHERE partition_id = %s ORDER BY "offset"', [pid],
        )
        rows = c.fetchall()
    out = []
    for o, ts, tt, k, v, h, size in rows:
        if isinstance(h, str):
            h = json.loads(h)
        headers = tuple((hk, None if hv is None else base64.b64decode(hv)) for hk, hv in (h or ()))
        out.append((o, ts, tt, None if k is None else bytes(k), None if v is None else bytes(v), headers, size))
    return out


def test_records_become_batches_with_every_offset_kept_and_back():
    apps = _migrate(BEFORE)
    Topic, Partition = apps.get_model("brokercore", "Topic"), apps.get_model("brokercore", "Partition")
    t = Topic.objects.create(name="m", collision_key="m")
    p = Partition.objects.create(topic=t, index=0, high_watermark=1210, log_start_offset=3)
    rows = []
    for o in range(1210):
        if o % 7 == 3:  # gaps, as compaction leaves
            continue
        headers = json.dumps([["h", base64.b64encode(b"x%d" % o).decode()], ["n", None]]) if o % 5 == 0 else None
        tt = 1 if 600 <= o < 620 else 0
        key = None if o % 11 == 0 else b"k%d" % o
        rows.append([p.pk, o, 1_700_000_000_000 + (o // 3 if tt else o), tt, key, b"value-%d" % o, headers, 10])
    with connection.cursor() as c:
        c.executemany(
            'INSERT INTO brokercore_record (partition_id, "offset", "timestamp", timestamp_type, key, value, headers, size) '
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows,
        )
    before = _old_records(p.pk)

    apps = _migrate(AFTER)
    Batch = apps.get_model("brokercore", "RecordBatch")
    batches = list(Batch.objects.filter(partition_id=p.pk).order_by("last_offset"))
    assert 3 <= len(batches) < 100
    got = []
    for b in batches:
        records = batch_records(bytes(b.data), topic="m", partition=0)
        assert (b.base_offset, b.last_offset, b.record_count) == (records[0].offset, records[-1].offset, len(records))
        assert b.max_timestamp == max(r.timestamp for r in records)
        got += [(r.offset, r.timestamp, r.timestamp_type, r.key, r.value, r.headers) for r in records]
    assert got == [r[:6] for r in before]
    assert sum(b.size for b in batches) == sum(r[6] for r in before)

    _migrate(BEFORE)
    assert [r[:6] for r in _old_records(p.pk)] == [r[:6] for r in before]
    _migrate([("brokercore", "0009_record_batches")])
