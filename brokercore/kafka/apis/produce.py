"""Produce and InitProducerId: Kafka clients writing records into brokercore's log.

Each partition's batch is checked as Kafka's LogValidator does (CRC-32C, lengths, offsets,
decompressed where compressed) and stored as it came, one row per batch.
"""

from collections.abc import Iterable

from django.conf import settings
from kio.static.protocol import Entity, RequestPayload, ResponsePayload

from brokercore.errors import (
    BrokerError,
    InvalidRequest,
    InvalidRequiredAcks,
    InvalidTxnState,
    NotLeaderOrFollower,
)
from brokercore.kafka.apis.meta import leadership
from brokercore.kafka.apis.registry import Node, RequestContext, api, error_code
from brokercore.kafka.protocol import ProtocolError
from brokercore.log.append import batch_append
from brokercore.log.batch import CONTROL_BIT, NO_PRODUCER_ID, TRANSACTIONAL_BIT, producer_batch
from brokercore.log.producers import producer_id_allocate, records_append_idempotent


def _partition_produce(topic: str, index: int, data: bytes | None, *, version: int, acks: int) -> dict:
    """Append one partition's batch, stored as it came; the partition's entry of the Produce response."""
    out = {"index": index, "error_code": 0, "base_offset": -1, "log_append_time": -1, "log_start_offset": -1}
    try:
        # Kafka's ProduceRequest.validateRecords: from v3 on, exactly one v2 batch per partition.
        batch = producer_batch(data or b"", version=version, max_uncompressed=settings.BROKER["KAFKA_MAX_REQUEST_BYTES"])
        if batch.attributes & (TRANSACTIONAL_BIT | CONTROL_BIT):
            # No transaction coordinator here: accepting a transactional batch would expose
            # records a later abort should have hidden.
            return {**out, "error_code": InvalidTxnState.code, "error_message": "Transactions are not supported by this broker."}
        if batch.producer_id != NO_PRODUCER_ID:
            produced = records_append_idempotent(topic=topic, partition=index, batch=batch, acks=acks)
            base, ts, log_start = produced.base_offset, produced.timestamp, produced.log_start_offset
        else:
            result = batch_append(topic=topic, partition=index, batch=batch, acks=acks)
            base, ts, log_start = result.offset, result.timestamp, -1
    except BrokerError as e:
        return {**out, "error_code": error_code(e), "error_message": str(e)}
    # The topic's message.timestamp.type=LogAppendTime replaced the client's timestamp: say so.
    return {**out, "base_offset": base, "log_append_time": ts, "log_start_offset": log_start}


def produce_answer(topic_data: Iterable[Entity], *, node: Node, version: int, acks: int, transactional: bool) -> list[dict]:
    leads = leadership(node)
    responses = []
    for topic in topic_data:
        partitions = []
        for part in topic.partition_data:
            if not leads(topic.name, part.index):
                entry = {"index": part.index, "error_code": NotLeaderOrFollower.code, "base_offset": -1,
                         "error_message": f"This node does not lead {topic.name}-{part.index}."}
            elif acks not in (0, 1, -1):
                entry = {"index": part.index, "error_code": InvalidRequiredAcks.code, "base_offset": -1}
            elif transactional:
                entry = {"index": part.index, "error_code": InvalidTxnState.code, "base_offset": -1,
                         "error_message": "Transactions are not supported by this broker."}
            else:
                entry = _partition_produce(topic.name, part.index, part.records, version=version, acks=acks)
            partitions.append(entry)
        responses.append({"name": topic.name, "partition_responses": partitions})
    return responses


@api(0, versions=(3, 11))
async def produce(ctx: RequestContext, request: RequestPayload) -> ResponsePayload | None:
    responses = await ctx.run_sync(
        produce_answer, request.topic_data, node=ctx.node, version=ctx.api_version, acks=request.acks,
        transactional=request.transactional_id is not None,
    )
    if request.acks == 0:
        # The client reads no answer, so Kafka sends none; but it closes the connection when a
        # partition failed, which makes the client refresh its metadata (e.g. a deleted topic).
        failed = [f"{t['name']}-{p['index']}: error {p['error_code']}"
                  for t in responses for p in t["partition_responses"] if p["error_code"]]
        if failed:
            raise ProtocolError(f"acks=0 produce failed ({', '.join(failed)})")
        return None
    return ctx.response(responses=responses)


@api(22, versions=(0, 4))
async def init_producer_id(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    if request.transactional_id is not None:
        # Transactions need a transaction coordinator, which this broker does not have.
        return ctx.response(error_code=InvalidRequest.code, producer_id=-1, producer_epoch=-1)
    # Without a transactional id Kafka hands out a fresh producer id at epoch 0, whatever id and
    # epoch the request carries (KIP-360's bump applies to transactional producers).
    producer_id = await ctx.run_sync(producer_id_allocate, client_id=ctx.client_id or "", client_host=ctx.client_host)
    return ctx.response(error_code=0, producer_id=producer_id, producer_epoch=0)
