"""Idempotent producers: producer ids, and appends that a retried batch cannot duplicate.

Invariant: a producer's state on a partition changes only in the transaction of an append to
that partition, after the partition row is locked, so concurrent retries of one batch (even
through different server processes) see each other: exactly one of them writes.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from brokercore import clock
from brokercore.errors import InvalidProducerEpoch, OutOfOrderSequenceNumber
from brokercore.log.append import acks_durability, acks_parse, batch_append
from brokercore.log.batch import Pending
from brokercore.models import KafkaProducer, Partition, ProducerState
from brokercore.topics.read import partition_get

# As many batches as a producer may have in flight per connection (Kafka's limit for idempotence).
BATCHES_KEPT = 5
_SEQUENCE_WRAP = 2**31  # sequences wrap from Int.MAX_VALUE to 0, as Kafka's do


def producer_id_allocate(*, client_id: str = "", client_host: str = "") -> int:
    """A new producer id (epoch 0) for an idempotent producer: Kafka hands out a fresh id on
    every InitProducerId without a transactional id."""
    return KafkaProducer.objects.create(client_id=client_id[:255], client_host=client_host[:255]).producer_id


@dataclass(frozen=True, slots=True)
class ProducedBatch:
    base_offset: int
    timestamp: int
    log_start_offset: int
    duplicate: bool  # a retry of a batch already written: nothing was written now


def _sequence_after(sequence: int, n: int) -> int:
    return (sequence + n) % _SEQUENCE_WRAP


def records_append_idempotent(
    *,
    topic: str,
    partition: int,
    batch: Pending,
    acks: int | str = "all",
) -> ProducedBatch:
    """Append one producer batch unless it repeats one of the producer's last batches here.

    Kafka's rules: a batch equal (first and last sequence) to a recent one answers that one's
    offset and writes nothing; an older epoch is fenced (INVALID_PRODUCER_EPOCH); a new epoch
    starts at sequence 0; otherwise the batch must follow the last one (OUT_OF_ORDER_SEQUENCE_NUMBER).
    A producer this partition has not seen (or has forgotten) may start at any sequence.
    """
    producer_id, producer_epoch, base_sequence = batch.producer_id, batch.producer_epoch, batch.base_sequence
    last_sequence = _sequence_after(base_sequence, batch.count - 1)
    with acks_durability(acks_parse(acks)), transaction.atomic():
        pk = partition_get(topic=topic, partition=partition).pk
        p = Partition.objects.select_for_update(no_key=True).only("log_start_offset").get(pk=pk)
        state = ProducerState.objects.select_for_update().filter(partition_id=pk, producer_id=producer_id).first()
        if state is not None:
            if producer_epoch < state.producer_epoch:
                raise InvalidProducerEpoch(
                    f"Producer {producer_id} has epoch {producer_epoch}, older than the current {state.producer_epoch}."
                )
            if producer_epoch == state.producer_epoch:
                for first, last, base_offset, ts in state.batches:
                    if first == base_sequence and last == last_sequence:
                        return ProducedBatch(base_offset, ts, p.log_start_offset, duplicate=True)
                if state.batches and base_sequence != _sequence_after(state.batches[-1][1], 1):
                    raise OutOfOrderSequenceNumber(
                        f"Out of order sequence number for producer {producer_id} at offset of {topic}-{partition}: "
                        f"{base_sequence} (incoming seq. number), {state.batches[-1][1]} (current end sequence number)."
                    )
            elif base_sequence != 0:
                raise OutOfOrderSequenceNumber(
                    f"Invalid sequence number for new epoch {producer_epoch} of producer {producer_id}: {base_sequence} (must be 0)."
                )
            else:
                state.batches = []
        result = batch_append(topic=topic, partition=partition, batch=batch, acks=acks)
        entry = [base_sequence, last_sequence, result.offset, result.timestamp]
        now_ms = clock.now_ms()
        if state is None:
            ProducerState.objects.create(
                partition_id=pk, producer_id=producer_id, producer_epoch=producer_epoch, batches=[entry], updated_ms=now_ms
            )
        else:
            state.producer_epoch = producer_epoch
            state.batches = [*state.batches, entry][-BATCHES_KEPT:]
            state.updated_ms = now_ms
            state.save(update_fields=["producer_epoch", "batches", "updated_ms"])
    return ProducedBatch(result.offset, result.timestamp, p.log_start_offset, duplicate=False)


def producer_states_expire(*, now_ms: int | None = None) -> int:
    """Forget producers silent for longer than Kafka's producer.id.expiration.ms (a day): their
    next batch is accepted at any sequence, as Kafka does for a producer it no longer knows."""
    now_ms = clock.now_ms() if now_ms is None else now_ms
    cutoff = now_ms - settings.BROKER["PRODUCER_ID_EXPIRATION_MS"]
    deleted, _ = ProducerState.objects.filter(updated_ms__lt=cutoff).delete()
    return deleted
