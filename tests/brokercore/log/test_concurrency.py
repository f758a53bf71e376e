"""Several producer processes append to one topic at once (SQLite and PostgreSQL passes)."""

import os
import subprocess
import sys
from collections import defaultdict

import pytest

from brokercore.models import Partition
from brokercore.topics.service import topic_create
from tests.factories import stored_records

pytestmark = pytest.mark.slow

PRODUCERS = 4
PER_PRODUCER = 1500


def test_concurrent_producer_processes_keep_offsets_gapless_and_keys_ordered(db_url):
    topic_create(name="race", partitions=6)
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "console.settings"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.brokercore.producer_proc", "--topic", "race", "--producer", str(i), "--count", str(PER_PRODUCER)],
            env=env,
            stderr=subprocess.PIPE,
        )
        for i in range(PRODUCERS)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]

    per_partition = defaultdict(list)
    for r in stored_records(topic="race"):
        per_partition[r.partition].append((r.offset, r.key, r.value.decode()))

    total = 0
    key_partition = {}
    last_seq = {}
    for index, records in per_partition.items():
        offsets = [o for o, _, _ in records]
        assert offsets == list(range(len(offsets))), f"partition {index} has gaps or duplicates"
        assert Partition.objects.get(topic__name="race", index=index).high_watermark == len(offsets)
        for _, key, value in records:
            assert key_partition.setdefault(key, index) == index, f"key {key} in two partitions"
            seq = int(value.split(":")[1])
            assert seq > last_seq.get(key, -1), f"key {key} out of produce order"
            last_seq[key] = seq
        total += len(records)

    assert total == PRODUCERS * PER_PRODUCER
    values = [v for recs in per_partition.values() for _, _, v in recs]
    assert len(set(values)) == len(values) == total
