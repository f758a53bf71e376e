"""Fetch, ListOffsets and DeleteRecords: Kafka clients reading brokercore's log.

Fetch long-polls as Kafka does: it answers once MinBytes of records are there, or MaxWaitMs has
passed. Appends in this process wake it at once; other processes' appends are seen by a re-read
every FETCH_POLL_INTERVAL_MS. The wait holds no thread (`log_waiters.wait_async`).
"""

import time
import uuid
from collections.abc import Sequence

from django.conf import settings
from kio.static.protocol import Entity, RequestPayload, ResponsePayload

from brokercore import clock
from brokercore.errors import (
    BrokerError,
    FetchSessionIdNotFound,
    NotLeaderOrFollower,
    TopicAuthorizationFailed,
    UnknownTopicId,
    UnsupportedVersion,
)
from brokercore.kafka.apis.meta import leadership
from brokercore.kafka.apis.registry import Node, RequestContext, api, error_code
from brokercore.log.batch import UnsupportedCompression, batches_use_zstd, empty_batch_encode
from brokercore.log.cleaner import records_delete_before
from brokercore.log.legacy import MAGIC_V0, MAGIC_V1, batches_down_convert
from brokercore.log.read import (
    EARLIEST,
    EARLIEST_LOCAL,
    LATEST,
    LATEST_TIERED,
    MAX_TIMESTAMP,
    offset_for,
    offset_max_timestamp,
    offsets_before,
    records_fetch_many,
)
from brokercore.notify import log_waiters
from brokercore.security.acl import Operation, Requester, ResourceType
from brokercore.topics.read import topics_partition_counts
from brokercore.types import FetchResult

# --- Fetch ---------------------------------------------------------------------------------------


def _partition_data(result: FetchResult | Exception, index: int, fetch_offset: int) -> dict:
    if isinstance(result, Exception):
        # Empty records, never null: Kafka's answer for a partition error (FetchResponse.
        # partitionResponse) carries MemoryRecords.EMPTY, and librdkafka refuses the whole
        # response over a null one ("invalid MessageSetSize -1"), so it never resets its offset.
        return {
            "partition_index": index, "error_code": error_code(result), "high_watermark": -1,
            "last_stable_offset": -1, "log_start_offset": -1, "aborted_transactions": None,
            "preferred_read_replica": -1, "records": b"",
        }
    assert isinstance(result, FetchResult)
    if result.data:
        records = result.data
    elif fetch_offset < result.next_offset:
        # Compaction emptied the rest of the log below the watermark: an empty batch moves the
        # consumer past the gap. (Nothing returned because the response was full is no gap.)
        records = empty_batch_encode(fetch_offset, result.next_offset - 1, clock.now_ms())
    else:
        records = b""
    return {
        "partition_index": index,
        "error_code": 0,
        "high_watermark": result.high_watermark,
        # No transactions here: everything below the high watermark is stable.
        "last_stable_offset": result.high_watermark,
        "log_start_offset": result.log_start_offset,
        "aborted_transactions": [],
        "preferred_read_replica": -1,
        "records": records,
    }


def fetch_once(topics: list[tuple[str | None, uuid.UUID | None, list]], max_bytes: int, node: Node,
               requester: Requester) -> tuple[list[dict], tuple, tuple, int, bool]:
    """One read of every requested partition: (response topics, partition ids, versions seen,
    record bytes, whether any partition answered an error). A topic `requester` may not READ
    is TOPIC_AUTHORIZATION_FAILED in each of its partitions, as Kafka answers."""
    by_id = {}
    ids = [tid for name, tid, _ in topics if name is None]
    if ids:
        by_id = {t.topic_id: t.name for t in topics_partition_counts(topic_ids=ids)}
    leads = leadership(node)
    # Per requested partition: an error to answer, or its place among the reads.
    plan: list[list] = []
    requests = []
    for name, tid, partitions in topics:
        name = name if name is not None else by_id.get(tid)
        readable = name is not None and requester.may(Operation.READ, ResourceType.TOPIC, name)
        row = []
        for p in partitions:
            if name is None:
                row.append(UnknownTopicId())
            elif not readable:
                row.append(TopicAuthorizationFailed(requester.refusal(Operation.READ, ResourceType.TOPIC, name)))
            elif not leads(name, p.partition):
                row.append(NotLeaderOrFollower(f"This node does not lead {name}-{p.partition}."))
            else:
                row.append(len(requests))
                requests.append((name, p.partition, p.fetch_offset, p.partition_max_bytes))
        plan.append(row)
    many = records_fetch_many(requests=requests, max_bytes=max_bytes)
    out = []
    failed = False
    for (name, tid, partitions), row in zip(topics, plan, strict=True):
        entries = []
        for p, slot in zip(partitions, row, strict=True):
            result = many.results[slot] if isinstance(slot, int) else slot
            failed = failed or isinstance(result, Exception)
            entries.append(_partition_data(result, p.partition, p.fetch_offset))
        out.append({"topic": name, "topic_id": tid, "partitions": entries})
    return out, many.partition_ids, many.seen, many.size, failed


def down_converted(responses: list[dict], topics: Sequence[Entity], *, version: int) -> list[dict]:
    """Fetch v0-3's records (`responses` answer the request's `topics`, in order): the stored
    batches as message sets of magic 0 (v0-1) or 1 (v2-3), as Kafka's down-conversion gives
    clients that predate record batches."""
    magic = MAGIC_V0 if version <= 1 else MAGIC_V1
    for answer, asked in zip(responses, topics, strict=True):
        for p, fetched in zip(answer["partitions"], asked.partitions, strict=True):
            if p["records"]:
                try:
                    p["records"] = batches_down_convert(p["records"], magic=magic, fetch_offset=fetched.fetch_offset)
                except BrokerError as e:
                    p.update(error_code=error_code(e), records=b"")
    return responses


def zstd_refused(responses: list[dict]) -> list[dict]:
    """Fetch v4-9 predate zstd (KIP-110): a partition whose batches use it is answered
    UNSUPPORTED_COMPRESSION_TYPE with no records, as Kafka does, rather than with batches the
    client cannot read."""
    for answer in responses:
        for p in answer["partitions"]:
            if p["records"] and batches_use_zstd(p["records"]):
                p.update(error_code=UnsupportedCompression.code, records=b"")
    return responses


@api(1, versions=(0, 17))
async def fetch(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    if getattr(request, "session_id", 0) != 0:  # sessions exist from v7 on
        # We never hand out fetch sessions (every answer says session 0), so a client asking for
        # one it holds is mistaken: Kafka's answer for an unknown session.
        return ctx.response(error_code=FetchSessionIdNotFound.code, session_id=0, responses=[])
    if ctx.api_version >= 13:
        topics = [(None, t.topic_id, t.partitions) for t in request.topics]
    else:
        topics = [(t.topic, None, t.partitions) for t in request.topics]
    max_wait_s = max(0.0, request.max_wait.total_seconds())
    poll_s = settings.BROKER["FETCH_POLL_INTERVAL_MS"] / 1000
    deadline = time.monotonic() + max_wait_s
    max_bytes = request.max_bytes if ctx.api_version >= 3 else 2**31 - 1
    while True:
        responses, pids, seen, size, failed = await ctx.run_sync(fetch_once, topics, max_bytes, ctx.node, ctx.requester)
        remaining = deadline - time.monotonic()
        if size >= request.min_bytes or failed or remaining <= 0 or not pids:
            if ctx.api_version < 4:
                responses = await ctx.run_sync(down_converted, responses, request.topics, version=ctx.api_version)
            elif ctx.api_version < 10:
                responses = zstd_refused(responses)
            return ctx.response(error_code=0, session_id=0, responses=responses)
        await log_waiters.wait_async(pids, seen, min(remaining, poll_s))


# --- ListOffsets ---------------------------------------------------------------------------------


# The version each negative ListOffsets timestamp needs (Kafka's KafkaApis); older versions get
# UNSUPPORTED_VERSION for it, as does any other negative timestamp.
_SPEC_SINCE = {EARLIEST: 1, LATEST: 1, MAX_TIMESTAMP: 7, EARLIEST_LOCAL: 8, LATEST_TIERED: 9}


def _list_offset(topic: str, p: Entity, version: int) -> dict:
    """One partition of ListOffsets v1+ (kio's ListOffsetsPartition of any version)."""
    entry = {"partition_index": p.partition_index, "error_code": 0, "timestamp": -1, "offset": -1, "leader_epoch": -1}
    spec = p.timestamp
    if spec < 0 and version < _SPEC_SINCE.get(spec, 2**15):
        return {**entry, "error_code": UnsupportedVersion.code}
    if spec == LATEST_TIERED:  # nothing is tiered: Kafka answers offset -1 without an error
        return entry
    if spec == EARLIEST_LOCAL:  # no tiered storage: the local log is the whole log
        spec = EARLIEST
    try:
        if spec == MAX_TIMESTAMP:
            offset, ts = offset_max_timestamp(topic=topic, partition=p.partition_index)
        else:
            offset, ts = offset_for(topic=topic, partition=p.partition_index, spec=spec)
            if spec >= 0 and ts is None:
                offset = -1  # Kafka: no record at or after that timestamp
        entry.update(offset=offset, timestamp=-1 if ts is None else ts)
    except BrokerError as e:
        entry.update(error_code=error_code(e))
    return entry


def _list_offsets_v0(topic: str, p: Entity) -> dict:
    """One partition of ListOffsets v0: old-style offsets, and only EARLIEST and LATEST among the
    negative timestamps (Kafka's handleListOffsetRequestV0)."""
    entry = {"partition_index": p.partition_index, "error_code": 0, "old_style_offsets": []}
    if p.timestamp < EARLIEST:
        return {**entry, "error_code": UnsupportedVersion.code}
    try:
        offsets = offsets_before(topic=topic, partition=p.partition_index, timestamp=p.timestamp,
                                 max_offsets=p.max_num_offsets)
        return {**entry, "old_style_offsets": offsets}
    except BrokerError as e:
        return {**entry, "error_code": error_code(e)}


def list_offsets_answer(topics: Sequence[Entity], node: Node, *, requester: Requester, version: int = 1) -> list[dict]:
    """ListOffsets' topics (kio's ListOffsetsTopic of any version) answered partition by partition;
    a topic `requester` may not DESCRIBE is TOPIC_AUTHORIZATION_FAILED (Kafka's KafkaApis)."""
    leads = leadership(node)
    out = []
    for t in topics:
        partitions = []
        described = requester.may(Operation.DESCRIBE, ResourceType.TOPIC, t.name)
        for p in t.partitions:
            if not described:
                partitions.append({"partition_index": p.partition_index, "error_code": TopicAuthorizationFailed.code,
                                   "timestamp": -1, "offset": -1, "leader_epoch": -1, "old_style_offsets": []})
            elif not leads(t.name, p.partition_index):
                partitions.append({"partition_index": p.partition_index, "error_code": NotLeaderOrFollower.code,
                                   "timestamp": -1, "offset": -1, "leader_epoch": -1})
            elif version == 0:
                partitions.append(_list_offsets_v0(t.name, p))
            else:
                partitions.append(_list_offset(t.name, p, version))
        out.append({"name": t.name, "partitions": partitions})
    return out


@api(2, versions=(0, 9))
async def list_offsets(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    return ctx.response(topics=await ctx.run_sync(
        list_offsets_answer, request.topics, ctx.node, requester=ctx.requester, version=ctx.api_version))


# --- DeleteRecords -------------------------------------------------------------------------------


def delete_records_answer(topics: Sequence[Entity], *, requester: Requester) -> list[dict]:
    """DeleteRecords' topics (kio's DeleteRecordsTopic) answered partition by partition; DELETE on
    the topic needed."""
    out = []
    for t in topics:
        partitions = []
        allowed = requester.may(Operation.DELETE, ResourceType.TOPIC, t.name)
        for p in t.partitions:
            try:
                if not allowed:
                    raise TopicAuthorizationFailed(requester.refusal(Operation.DELETE, ResourceType.TOPIC, t.name))
                low = records_delete_before(topic=t.name, partition=p.partition_index, offset=p.offset)
                partitions.append({"partition_index": p.partition_index, "low_watermark": low, "error_code": 0})
            except BrokerError as e:
                partitions.append({"partition_index": p.partition_index, "low_watermark": -1, "error_code": error_code(e)})
        out.append({"name": t.name, "partitions": partitions})
    return out


@api(21, versions=(0, 2))
async def delete_records(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    return ctx.response(topics=await ctx.run_sync(delete_records_answer, request.topics, requester=ctx.requester))

