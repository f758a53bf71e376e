"""The log moves from one row per record to one row per record batch, as Kafka stores it.

Every existing record keeps its partition and offset: each partition's records are packed, in
offset order, into batches of at most 500 records (a new batch wherever the timestamp type
changes, and for LogAppendTime wherever the timestamp does), gaps left by compaction kept as
offset deltas. Reversible: going back unpacks the batches into records again.
"""

import base64
import json

import django.db.models.deletion
from django.db import migrations, models

# The codec is the log's own (brokercore.log.batch): the batch format is Kafka's and does not
# change with the code around it.
from brokercore.log.batch import batch_build, batch_records

_PER_BATCH = 500
_READ = 5000


def _headers(stored):
    if not stored:
        return ()
    if isinstance(stored, str):  # SQLite hands JSON columns back as text in migrations' raw reads
        stored = json.loads(stored)
    return tuple((k, None if v is None else base64.b64decode(v)) for k, v in stored)


def _flush(schema_editor, table, pid, run):
    base = run[0][0]
    append_time = run[0][2] == 1
    data = batch_build(
        [(ts, key, value, headers) for _, ts, _, key, value, headers, _ in run],
        offset_deltas=[o - base for o, *_ in run], base_offset=base, log_append_time=append_time,
    )
    max_ts = max(r[1] for r in run)
    with schema_editor.connection.cursor() as c:
        c.execute(
            f'INSERT INTO {table} (partition_id, base_offset, last_offset, max_timestamp, record_count, size, '
            f"attributes, producer_id, producer_epoch, base_sequence, data) VALUES (%s, %s, %s, %s, %s, %s, %s, -1, -1, -1, %s)",
            [pid, base, run[-1][0], max_ts, len(run), sum(r[6] for r in run), 8 if append_time else 0, data],
        )


def records_to_batches(apps, schema_editor):
    Partition = apps.get_model("brokercore", "Partition")
    batch_table = apps.get_model("brokercore", "RecordBatch")._meta.db_table
    conn = schema_editor.connection
    for pid in Partition.objects.values_list("id", flat=True).order_by("id"):
        after = -1
        run = []
        while True:
            with conn.cursor() as c:
                c.execute(
                    'SELECT "offset", "timestamp", timestamp_type, key, value, headers, size FROM brokercore_record '
                    'WHERE partition_id = %s AND "offset" > %s ORDER BY "offset" LIMIT %s',
                    [pid, after, _READ],
                )
                rows = c.fetchall()
            if not rows:
                break
            for offset, ts, ts_type, key, value, headers, size in rows:
                row = (offset, ts, ts_type, None if key is None else bytes(key), None if value is None else bytes(value),
                       _headers(headers), size)
                if run and (len(run) >= _PER_BATCH or ts_type != run[0][2] or (ts_type == 1 and ts != run[0][1])):
                    _flush(schema_editor, batch_table, pid, run)
                    run = []
                run.append(row)
            after = rows[-1][0]
        if run:
            _flush(schema_editor, batch_table, pid, run)


def batches_to_records(apps, schema_editor):
    Partition = apps.get_model("brokercore", "Partition")
    conn = schema_editor.connection
    for pid in Partition.objects.values_list("id", flat=True).order_by("id"):
        with conn.cursor() as c:
            c.execute("SELECT data FROM brokercore_recordbatch WHERE partition_id = %s ORDER BY last_offset", [pid])
            batches = c.fetchall()
        for (data,) in batches:
            for r in batch_records(bytes(data), topic="", partition=0):
                headers = [[k, None if v is None else base64.b64encode(v).decode()] for k, v in r.headers] or None
                with conn.cursor() as c:
                    c.execute(
                        'INSERT INTO brokercore_record (partition_id, "offset", "timestamp", timestamp_type, key, value, '
                        "headers, size) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        [pid, r.offset, r.timestamp, r.timestamp_type, r.key, r.value,
                         None if headers is None else json.dumps(headers), r.size],
                    )


class Migration(migrations.Migration):
    dependencies = [
        ("brokercore", "0008_kafka_group_members"),
    ]

    operations = [
        migrations.CreateModel(
            name="RecordBatch",
            fields=[
                ("pk", models.CompositePrimaryKey("partition_id", "last_offset", blank=True, editable=False, primary_key=True, serialize=False)),
                ("base_offset", models.BigIntegerField()),
                ("last_offset", models.BigIntegerField()),
                ("max_timestamp", models.BigIntegerField(help_text="Milliseconds since the Unix epoch.")),
                ("record_count", models.IntegerField()),
                ("size", models.IntegerField()),
                ("attributes", models.SmallIntegerField(default=0)),
                ("producer_id", models.BigIntegerField(default=-1)),
                ("producer_epoch", models.SmallIntegerField(default=-1)),
                ("base_sequence", models.IntegerField(default=-1)),
                ("data", models.BinaryField()),
                (
                    "partition",
                    models.ForeignKey(
                        db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+", to="brokercore.partition",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["partition", "max_timestamp"], name="batch_partition_ts_idx")],
            },
        ),
        migrations.RunPython(records_to_batches, batches_to_records, elidable=False),
        migrations.DeleteModel(name="Record"),
    ]
