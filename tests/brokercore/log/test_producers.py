"""Idempotent producers at the service level: ids, duplicates, sequence rules, expiry."""

import pytest

from brokercore.errors import InvalidProducerEpoch, OutOfOrderSequenceNumber, UnknownTopicOrPartition
from brokercore.log.cleaner import log_clean
from brokercore.log.producers import producer_id_allocate, records_append_idempotent
from brokercore.models import ProducerState
from brokercore.topics.read import partition_get
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn
from tests.factories import producer_batch_of

pytestmark = pytest.mark.django_db


def append(n, seq, *, pid, epoch=0, topic="t"):
    return records_append_idempotent(
        topic=topic, partition=0,
        batch=producer_batch_of([RecordIn(value=b"v")] * n, producer_id=pid, producer_epoch=epoch, base_sequence=seq),
    )


def test_ids_are_unique():
    assert len({producer_id_allocate() for _ in range(5)}) == 5


def test_duplicates_gaps_epochs_and_wraparound():
    topic_create(name="t")
    pid = producer_id_allocate()
    assert append(2, 0, pid=pid).base_offset == 0
    assert append(2, 2, pid=pid).base_offset == 2
    again = append(2, 0, pid=pid)
    assert again.duplicate and again.base_offset == 0
    with pytest.raises(OutOfOrderSequenceNumber):
        append(1, 7, pid=pid)
    with pytest.raises(OutOfOrderSequenceNumber):
        append(1, 3, pid=pid, epoch=1)  # a new epoch starts at 0
    assert append(1, 0, pid=pid, epoch=1).base_offset == 4
    with pytest.raises(InvalidProducerEpoch):
        append(1, 1, pid=pid, epoch=0)
    assert partition_get(topic="t", partition=0).high_watermark == 5
    # Sequences wrap from Int.MAX_VALUE to 0, as Kafka's do.
    other = producer_id_allocate()
    append(2, 2**31 - 2, pid=other)
    assert not append(1, 0, pid=other).duplicate
    # Only the last five batches are remembered.
    for i in range(6):
        append(1, 1 + i, pid=other)
    state = ProducerState.objects.get(producer_id=other)
    assert [b[0] for b in state.batches] == [2, 3, 4, 5, 6]


def test_unknown_partition_writes_no_state():
    topic_create(name="t")
    with pytest.raises(UnknownTopicOrPartition):
        records_append_idempotent(topic="t", partition=3, batch=producer_batch_of([RecordIn(value=b"v")], producer_id=1))
    assert not ProducerState.objects.exists()


def test_log_cleaner_forgets_idle_producers(settings):
    topic_create(name="t")
    pid = producer_id_allocate()
    append(1, 0, pid=pid)
    updated = ProducerState.objects.get().updated_ms
    assert log_clean(now_ms=updated + 1000).producers_expired == 0
    stats = log_clean(now_ms=updated + settings.BROKER["PRODUCER_ID_EXPIRATION_MS"] + 1)
    assert stats.producers_expired == 1
    assert append(1, 5, pid=pid).base_offset == 1  # a forgotten producer may start anywhere
