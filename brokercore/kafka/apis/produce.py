"""Produce and InitProducerId: Kafka clients writing records into brokercore's log.

Each partition's batch is checked as Kafka's LogValidator does (CRC-32C, lengths, offsets,
decompressed where compressed) and stored as it came, one row per batch.
"""

from collections.abc import Iterable

from django.conf import settings
from kio.static.protocol import Entity, RequestPayload, ResponsePayload

from brokercore.errors import (
    BrokerError,
    ClusterAuthorizationFailed,
    InvalidRequest,
    InvalidRequiredAcks,
    InvalidTxnState,
    NotLeaderOrFollower,
    TopicAuthorizationFailed,
)
from brokercore.kafka.apis.meta import leadership
from brokercore.kafka.apis.registry import Node, RequestContext, api, error_code
from brokercore.kafka.protocol import ProtocolError
from brokercore.log.append import batches_append
from brokercore.log.batch import CONTROL_BIT, NO_PRODUCER_ID, TRANSACTIONAL_BIT, Pending, producer_batch
from brokercore.log.legacy import MAGIC_V0, MAGIC_V1, message_set_batch, records_magic
from brokercore.log.producers import producer_id_allocate, records_append_idempotent
from brokercore.security.acl import CLUSTER_NAME, Operation, Requester, ResourceType

_NO_TXN = "Transactions are not supported by this broker."


def _topic_produce(topic: str, parts: list[tuple[int, bytes | None]], *, version: int, acks: int) -> list[dict]:
    """Append one topic's partitions of a Produce request, each batch stored as it came, the plain
    ones in one transaction (a partition named twice goes in a second one, after the first);
    each partition's entry of the Produce response, in request order."""
    out: list[dict] = []
    rounds: list[dict[int, tuple[int, Pending]]] = []  # partition index -> (place in `out`, batch)
    for index, data in parts:
        entry = {"index": index, "error_code": 0, "base_offset": -1, "log_append_time": -1, "log_start_offset": -1}
        out.append(entry)
        try:
            limit = settings.BROKER["KAFKA_MAX_REQUEST_BYTES"]
            if version < 3 and records_magic(data or b"") in (MAGIC_V0, MAGIC_V1):
                # Produce v0-2's message sets: converted to one v2 batch, as Kafka's LogValidator does.
                batch = message_set_batch(data or b"", max_uncompressed=limit)
            else:
                # Kafka's ProduceRequest.validateRecords: from v3 on, exactly one v2 batch per partition.
                batch = producer_batch(data or b"", version=version, max_uncompressed=limit)
            if batch.attributes & (TRANSACTIONAL_BIT | CONTROL_BIT):
                # No transaction coordinator here: accepting a transactional batch would expose
                # records a later abort should have hidden.
                entry.update(error_code=InvalidTxnState.code, error_message=_NO_TXN)
            elif batch.producer_id != NO_PRODUCER_ID:
                # Sequence checks hold the partition's lock for the producer's state: one at a time.
                produced = records_append_idempotent(topic=topic, partition=index, batch=batch, acks=acks)
                entry.update(base_offset=produced.base_offset, log_append_time=produced.timestamp,
                             log_start_offset=produced.log_start_offset)
            else:
                free = next((r for r in rounds if index not in r), None)
                if free is None:
                    free = {}
                    rounds.append(free)
                free[index] = (len(out) - 1, batch)
        except BrokerError as e:
            entry.update(error_code=error_code(e), error_message=str(e))
    for plain in rounds:
        results = batches_append(topic=topic, batches={i: b for i, (_, b) in plain.items()}, acks=acks)
        for index, result in results.items():
            entry = out[plain[index][0]]
            if isinstance(result, BrokerError):
                entry.update(error_code=error_code(result), error_message=str(result))
            else:
                # The topic's message.timestamp.type=LogAppendTime replaced the client's timestamp: say so.
                entry.update(base_offset=result.offset, log_append_time=result.timestamp)
    return out


def produce_answer(topic_data: Iterable[Entity], *, node: Node, version: int, acks: int, transactional: bool,
                   requester: Requester) -> list[dict]:
    leads = leadership(node)
    responses = []
    for topic in topic_data:
        partitions: list[dict | None] = []
        mine = []
        writable = requester.may(Operation.WRITE, ResourceType.TOPIC, topic.name)
        for part in topic.partition_data:
            entry = None
            if not writable:
                entry = {"index": part.index, "error_code": TopicAuthorizationFailed.code, "base_offset": -1,
                         "error_message": requester.refusal(Operation.WRITE, ResourceType.TOPIC, topic.name)}
            elif not leads(topic.name, part.index):
                entry = {"index": part.index, "error_code": NotLeaderOrFollower.code, "base_offset": -1,
                         "error_message": f"This node does not lead {topic.name}-{part.index}."}
            elif acks not in (0, 1, -1):
                entry = {"index": part.index, "error_code": InvalidRequiredAcks.code, "base_offset": -1}
            elif transactional:
                entry = {"index": part.index, "error_code": InvalidTxnState.code, "base_offset": -1, "error_message": _NO_TXN}
            else:
                mine.append((part.index, part.records))
            partitions.append(entry)
        if mine:
            produced = iter(_topic_produce(topic.name, mine, version=version, acks=acks))
            partitions = [next(produced) if entry is None else entry for entry in partitions]
        responses.append({"name": topic.name, "partition_responses": partitions})
    return responses


@api(0, versions=(0, 11))
async def produce(ctx: RequestContext, request: RequestPayload) -> ResponsePayload | None:
    responses = await ctx.run_sync(
        produce_answer, request.topic_data, node=ctx.node, version=ctx.api_version, acks=request.acks,
        transactional=getattr(request, "transactional_id", None) is not None,  # from v3 on
        requester=ctx.requester,
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


@api(22, versions=(0, 5))
async def init_producer_id(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    if request.transactional_id is not None:
        # Transactions need a transaction coordinator, which this broker does not have.
        return ctx.response(error_code=InvalidRequest.code, producer_id=-1, producer_epoch=-1)
    # KIP-679: an idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic.
    requester = ctx.requester
    allowed = await ctx.run_sync(
        lambda: requester.may(Operation.IDEMPOTENT_WRITE, ResourceType.CLUSTER, CLUSTER_NAME)
        or requester.may_any(Operation.WRITE, ResourceType.TOPIC))
    if not allowed:
        return ctx.response(error_code=ClusterAuthorizationFailed.code, producer_id=-1, producer_epoch=-1)
    # Without a transactional id Kafka hands out a fresh producer id at epoch 0, whatever id and
    # epoch the request carries (KIP-360's bump applies to transactional producers).
    producer_id = await ctx.run_sync(producer_id_allocate, client_id=ctx.client_id or "", client_host=ctx.client_host)
    return ctx.response(error_code=0, producer_id=producer_id, producer_epoch=0)
