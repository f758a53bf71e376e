"""A `manage.py kafka` process and this test process on one PostgreSQL database: what one process
writes, the other serves, and a retried idempotent batch is recognised across processes."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from brokercore.log.append import records_append
from brokercore.log.read import records_fetch
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn
from tests.kafka.conftest import Wire
from tests.kafka.test_produce_fetch import fetch, init_producer, produce
from tests.kafka.test_records import producer_batch

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def other_process(db_url):
    env = {**os.environ, "DATABASE_URL": db_url, "BROKER_NODE_ID": "2", "DJANGO_SETTINGS_MODULE": "console.settings",
           "BROKER_KAFKA_ALLOW_ANONYMOUS": "1"}  # raw protocol tests here, not about authentication
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "kafka", "--port", "0", "--no-maintenance"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "bootstrap.servers=" in line, line
        yield line.split("bootstrap.servers=")[1].split()[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


def test_writes_in_one_process_are_served_by_the_other(other_process):
    topic_create(name="xp")
    there = Wire(other_process)
    try:
        def append_later():
            from django.db import connection

            time.sleep(0.3)
            try:
                records_append(topic="xp", records=[RecordIn(value=b"from the test process")])
            finally:
                connection.close()

        t = threading.Thread(target=append_later)
        start = time.monotonic()
        t.start()
        part = fetch(there, "xp", 0, max_wait_ms=10_000)  # a long poll in the other process
        t.join()
        assert part.high_watermark == 1 and time.monotonic() - start < 5

        # An idempotent batch written by the other process; its retry reaching this process (here
        # through the service the listener calls) finds the producer state in the database.
        pid = init_producer(there)
        batch = producer_batch(4, producer_id=pid, epoch=0, base_sequence=0)
        assert produce(there, "xp", batch).base_offset == 1
        from brokercore.log import batch as codec
        from brokercore.log.producers import records_append_idempotent

        retry = records_append_idempotent(
            topic="xp", partition=0, batch=codec.producer_batch(batch, version=9, max_uncompressed=1 << 20)
        )
        assert (retry.duplicate, retry.base_offset) == (True, 1)
        assert records_fetch(topic="xp", partition=0, offset=0).high_watermark == 5
    finally:
        there.close()

