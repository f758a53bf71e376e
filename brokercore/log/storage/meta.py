"""What both storage backends share: the tables, the row shapes and the topic metadata an append
places records with (cached per process, re-checked by every write).
"""

import json
import uuid
from dataclasses import dataclass, field

from django.db import connection

from brokercore.log.batch import Pending, with_base_offset
from brokercore.models import Partition, RecordBatch
from brokercore.topics.configs import LogConfig, broker_levels

BATCH_TABLE = RecordBatch._meta.db_table


PARTITION_TABLE = Partition._meta.db_table


BATCH_COLUMNS = (
    "partition_id", "base_offset", "last_offset", "max_timestamp", "record_count", "size", "attributes",
    "producer_id", "producer_epoch", "base_sequence", "data",
)


TOPIC_TABLE = Partition._meta.get_field("topic").related_model._meta.db_table


@dataclass(frozen=True)
class TopicMeta:
    """What the append path needs to know about a topic before it writes."""

    pk: int
    topic_id: str
    replication_factor: int
    configs: dict
    partition_ids: list[int]  # partition pks by index
    # The parsed configs, per snapshot of the broker configs they default from (a dynamic broker
    # config change makes a new snapshot): parsed once per cached metadata, not on every append.
    _log_configs: dict = field(default_factory=dict, compare=False, repr=False)

    def log_config(self) -> LogConfig:
        levels = broker_levels()
        cached = self._log_configs.get("levels")
        if cached is None or cached[0] is not levels:
            cached = self._log_configs["levels"] = (levels, LogConfig.from_overrides(self.configs, levels))
        return cached[1]


# name -> TopicMeta. Every append re-checks as it writes that the topic is live and has the same
# partitions and configs (_PG_APPEND's `current`, _SQLITE_CURRENT). A stale entry therefore costs
# one retry, never a record placed or validated with old metadata.
_meta_cache: dict[str, TopicMeta] = {}


_META_CACHE_MAX = 4096


def topic_for_append(name: str, *, cached: bool = False) -> TopicMeta | None:
    """The live topic called `name` in one query (None when there is none); with `cached`, a
    recent answer for the name instead, if there is one (then no cursor is opened)."""
    if cached and (meta := _meta_cache.get(name)) is not None:
        return meta
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT t.id, t.topic_id, t.replication_factor, t.configs, p.id FROM {TOPIC_TABLE} t '
            f'JOIN {PARTITION_TABLE} p ON p.topic_id = t.id '
            f'WHERE t.name = %s AND t.deleted_at IS NULL ORDER BY p."index"',
            [name],
        )
        rows = cursor.fetchall()
    if not rows:
        _meta_cache.pop(name, None)
        return None
    pk, topic_id, rf, configs, _ = rows[0]
    if isinstance(configs, str):  # SQLite returns JSON as text
        configs = json.loads(configs)
    # SQLite stores UUIDs as 32 hex digits; channel group names use the canonical form.
    meta = TopicMeta(pk, str(uuid.UUID(str(topic_id))), rf, configs or {}, [r[4] for r in rows])
    if len(_meta_cache) >= _META_CACHE_MAX:
        _meta_cache.clear()
    _meta_cache[name] = meta
    return meta


def topic_meta_forget(name: str) -> None:
    _meta_cache.pop(name, None)


# What an append writes: batches by partition pk, each taking `span` offsets, in produce order.
Batches = dict[int, list[Pending]]


def batch_rows(batches: Batches, bases: dict[int, int]) -> list[tuple]:
    """The rows (BATCH_COLUMNS) of `batches` once their partitions' base offsets are known: each
    batch gets its base offset written into its header."""
    rows = []
    for pid in sorted(batches):
        offset = bases[pid]
        for b in batches[pid]:
            rows.append((
                pid, offset, offset + b.span - 1, b.max_timestamp, b.count, b.size, b.attributes,
                b.producer_id, b.producer_epoch, b.base_sequence, with_base_offset(b.data, offset),
            ))
            offset += b.span
    return rows


def spans(batches: Batches) -> dict[int, tuple[int, int]]:
    """Offsets and record bytes each partition's batches take."""
    return {pid: (sum(b.span for b in bs), sum(b.size for b in bs)) for pid, bs in batches.items()}
