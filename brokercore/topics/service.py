"""Topic lifecycle: create, delete, grow partitions, alter configs."""

from collections.abc import Collection, Mapping, Sequence

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from brokercore import events
from brokercore.cluster.configs import dynamic_broker_configs_level, dynamic_broker_configs_replace
from brokercore.cluster.read import (
    assigned_replicas_forget,
    broker_configs,
    brokers_live_count,
    brokers_live_ids,
    node_embedded,
)
from brokercore.errors import (
    InvalidConfig,
    InvalidPartitions,
    InvalidReplicaAssignment,
    InvalidReplicationFactor,
    InvalidRequest,
    InvalidTopic,
    TopicAlreadyExists,
    UnknownTopicOrPartition,
)
from brokercore.models import Partition, Topic
from brokercore.topics.config_table import BROKER_LOG_KEYS, TOPIC_KEYS
from brokercore.topics.configs import (
    ConfigOp,
    broker_configs_check,
    configs_apply,
    configs_parse,
)
from brokercore.topics.rules import topic_is_internal, topic_name_collision_key, topic_name_validate


def _partitions_validate(count: object) -> int:
    maximum = settings.BROKER["MAX_PARTITIONS"]
    if isinstance(count, bool) or not isinstance(count, int):
        raise InvalidPartitions(f"Number of partitions must be an integer, got {count!r}.")
    if count < 1:
        raise InvalidPartitions("Number of partitions must be larger than 0.")
    if count > maximum:
        raise InvalidPartitions(
            f"Number of partitions {count} is above this broker's limit of {maximum} "
            "(setting BROKER_MAX_PARTITIONS)."
        )
    return count


def _replication_factor_validate(rf: object) -> int:
    if isinstance(rf, bool) or not isinstance(rf, int) or rf < 1:
        raise InvalidReplicationFactor("Replication factor must be larger than 0.")
    brokers = brokers_live_count()
    if rf > brokers:
        raise InvalidReplicationFactor(
            f"Replication factor: {rf} larger than available brokers: {brokers}."
        )
    return rf


def _replicas_validate(replicas: Sequence[int], *, replication_factor: int | None, live: Collection[int]) -> int:
    """One partition's replica list of a manual assignment, checked as Kafka's controller does
    (ReplicationControlManager.validateManualPartitionAssignment); its replication factor."""
    if not replicas:
        raise InvalidReplicaAssignment("The manual partition assignment includes an empty replica list.")
    previous = None
    for node in sorted(replicas):
        if node not in live:
            raise InvalidReplicaAssignment(
                f"The manual partition assignment includes broker {node}, but no such broker is registered."
            )
        if node == previous:
            raise InvalidReplicaAssignment(f"The manual partition assignment includes the broker {node} more than once.")
        previous = node
    if replication_factor is not None and len(replicas) != replication_factor:
        raise InvalidReplicaAssignment(
            f"The manual partition assignment includes a partition with {len(replicas)} replica(s), but this is "
            f"not consistent with previous partitions, which have {replication_factor} replica(s)."
        )
    return len(replicas)


def _assignments_validate(assignments: Sequence[tuple[int, Sequence[int]]]) -> tuple[int, int]:
    """(partitions, replication factor) of a CreateTopics manual assignment: (partition index,
    replica node ids) pairs naming every partition 0..n-1 once, each over live nodes."""
    live = set(brokers_live_ids())
    seen: set[int] = set()
    replication_factor = None
    for index, replicas in assignments:
        if index in seen:
            raise InvalidReplicaAssignment(f"Found multiple manual partition assignments for partition {index}")
        replication_factor = _replicas_validate(replicas, replication_factor=replication_factor, live=live)
        seen.add(index)
    if seen != set(range(len(seen))):
        raise InvalidReplicaAssignment("partitions should be a consecutive 0-based integer sequence")
    return _partitions_validate(len(seen)), replication_factor or 0


def _live_topic_locked(name: str) -> Topic:
    try:
        return Topic.objects.select_for_update(no_key=True).get(name=name, deleted_at__isnull=True)
    except Topic.DoesNotExist:
        raise UnknownTopicOrPartition(f"Topic '{name}' does not exist.") from None


def _internal_refuse(name: str, what: str) -> None:
    """The coordinator's own topic (__consumer_offsets) is the broker's: where a group's records
    go depends on its partition count, and its records are the committed offsets' history."""
    if topic_is_internal(name):
        raise InvalidRequest(f"Topic '{name}' is internal to the broker and cannot be {what}.")


def topic_create(
    *,
    name: str,
    partitions: int | None = None,
    replication_factor: int | None = None,
    configs: Mapping[str, object] | None = None,
    assignments: Sequence[tuple[int, Sequence[int]]] = (),
    validate_only: bool = False,
) -> Topic:
    """Create a topic with `partitions` empty partitions. With validate_only, check and write nothing.

    None is the broker's num.partitions / default.replication.factor (BROKER_DEFAULT_PARTITIONS,
    BROKER_DEFAULT_REPLICATION_FACTOR), as for a Kafka CreateTopics that leaves them out (KIP-464):
    adapters pass what the client gave, so every surface applies the same defaults. The Topic
    returned (unsaved under validate_only) carries `partition_count`, as Topic querysets annotate it.

    `assignments` is a CreateTopics manual assignment, (partition index, replica node ids) pairs:
    as in Kafka it gives the partition count and replication factor (then both must be None) and
    is checked as Kafka checks it. Each partition keeps its replica list: Metadata places it on
    those nodes while one of them is live (cluster.read.partition_replicas).
    """
    topic_name_validate(name)
    if assignments:
        if replication_factor is not None:
            raise InvalidRequest("A manual partition assignment was specified, but replication factor was not set to -1.")
        if partitions is not None:
            raise InvalidRequest("A manual partition assignment was specified, but numPartitions was not set to -1.")
        partitions, replication_factor = _assignments_validate(assignments)
    if partitions is None:
        partitions = settings.BROKER["DEFAULT_PARTITIONS"]
    if replication_factor is None:
        replication_factor = settings.BROKER["DEFAULT_REPLICATION_FACTOR"]
    partitions = _partitions_validate(partitions)
    replication_factor = _replication_factor_validate(replication_factor)
    overrides = configs_parse(configs)
    collision_key = topic_name_collision_key(name)

    with transaction.atomic():
        existing = (
            Topic.objects.filter(collision_key=collision_key, deleted_at__isnull=True)
            .values_list("name", flat=True)
            .first()
        )
        if existing == name:
            raise TopicAlreadyExists(f"Topic '{name}' already exists.")
        if existing is not None:
            raise InvalidTopic(f"Topic '{name}' collides with existing topic: {existing}")
        topic = Topic(
            name=name,
            collision_key=collision_key,
            replication_factor=replication_factor,
            configs=overrides,
        )
        topic.partition_count = partitions
        if validate_only:
            return topic
        try:
            # A savepoint so a lost race reports TOPIC_ALREADY_EXISTS instead of a broken transaction.
            with transaction.atomic():
                topic.save()
        except IntegrityError:
            raise TopicAlreadyExists(f"Topic '{name}' already exists.") from None
        placed = {index: list(replicas) for index, replicas in assignments}
        Partition.objects.bulk_create(Partition(topic=topic, index=i, replicas=placed.get(i)) for i in range(partitions))
        if placed:
            transaction.on_commit(assigned_replicas_forget)
        events.publish_on_commit(
            [events.CLUSTER_GROUP],
            "topic.created",
            {"topic": name, "topic_id": str(topic.topic_id), "partitions": partitions},
        )
    return topic


def topic_delete(*, name: str) -> None:
    """Delete a topic at once for every reader; its records are removed afterwards in chunks.

    The name is free again immediately, as in Kafka. The log cleaner (`log_clean`) removes the
    rows in short transactions, so a topic of millions of records never holds a long lock.
    """
    _internal_refuse(name, "deleted")
    with transaction.atomic():
        topic = _live_topic_locked(name)
        topic.deleted_at = timezone.now()
        topic.save(update_fields=["deleted_at"])
        transaction.on_commit(assigned_replicas_forget)
        events.publish_on_commit(
            [events.CLUSTER_GROUP, events.topic_group(topic.topic_id)],
            "topic.deleted",
            {"topic": name, "topic_id": str(topic.topic_id)},
        )


def topic_partitions_add(
    *, name: str, count: int, assignments: Sequence[Sequence[int]] | None = None, validate_only: bool = False
) -> Topic:
    """Grow the topic to `count` partitions in total (Kafka's CreatePartitions). Never shrinks.

    `assignments`, one replica list per new partition, is checked as Kafka checks it (live nodes,
    the topic's replication factor) and, as in topic_create, kept for placement."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise InvalidPartitions(f"Number of partitions must be an integer, got {count!r}.")
    _internal_refuse(name, "given partitions")
    with transaction.atomic():
        topic = _live_topic_locked(name)
        current = topic.partitions.count()
        if count < current:
            raise InvalidPartitions(
                f"Topic currently has {current} partitions, which is higher than the requested "
                f"{count}. Partitions can only be added, never removed: removing one would lose "
                "its records and move its keys to other partitions."
            )
        if count == current:
            raise InvalidPartitions(f"Topic already has {current} partitions.")
        if assignments is not None:
            if len(assignments) != count - current:
                raise InvalidReplicaAssignment(
                    f"Attempted to add {count - current} additional partition(s), but only {len(assignments)} "
                    "assignment(s) were specified."
                )
            live = set(brokers_live_ids())
            for replicas in assignments:
                _replicas_validate(replicas, replication_factor=topic.replication_factor, live=live)
        _partitions_validate(count)
        if not validate_only:
            Partition.objects.bulk_create(
                Partition(topic=topic, index=i, replicas=None if assignments is None else list(assignments[i - current]))
                for i in range(current, count)
            )
            if assignments is not None:
                transaction.on_commit(assigned_replicas_forget)
            events.publish_on_commit(
                [events.CLUSTER_GROUP, events.topic_group(topic.topic_id)],
                "topic.partitions_added",
                {"topic": name, "topic_id": str(topic.topic_id), "old": current, "new": count},
            )
    return topic


def topic_configs_alter(
    *,
    name: str,
    set_configs: Mapping[str, object] | None = None,
    delete_configs: Sequence[str] = (),
    ops: Sequence[ConfigOp] = (),
    validate_only: bool = False,
) -> dict[str, str]:
    """Change a topic's config overrides incrementally (Kafka's IncrementalAlterConfigs): set
    and/or remove some, or apply `ops` (SET, DELETE, APPEND, SUBTRACT); return the new overrides.
    The whole resulting set is checked before anything is written."""
    for config_name in delete_configs:
        if config_name not in TOPIC_KEYS:
            raise InvalidConfig(f"Unknown topic config name: {config_name}")
    with transaction.atomic():
        topic = _live_topic_locked(name)
        overrides = {k: v for k, v in topic.configs.items() if k not in delete_configs}
        overrides.update(configs_parse(set_configs))
        if ops:
            overrides = configs_apply(overrides, ops, TOPIC_KEYS)
        return _topic_configs_save(topic, overrides, validate_only=validate_only)


def topic_configs_replace(*, name: str, configs: Mapping[str, object], validate_only: bool = False) -> dict[str, str]:
    """Make `configs` the topic's whole set of overrides (Kafka's AlterConfigs: whatever it leaves
    out goes back to its default)."""
    with transaction.atomic():
        return _topic_configs_save(_live_topic_locked(name), dict(configs), validate_only=validate_only)


def _topic_configs_save(topic: Topic, overrides: Mapping[str, object], *, validate_only: bool) -> dict[str, str]:
    parsed = configs_parse(overrides)
    if not validate_only and parsed != topic.configs:
        topic.configs = parsed
        topic.save(update_fields=["configs"])
        events.publish_on_commit(
            [events.topic_group(topic.topic_id)],
            "topic.configs_altered",
            {"topic": topic.name, "topic_id": str(topic.topic_id)},
        )
    return parsed


def broker_configs_alter(
    *, node_id: int | None, ops: Sequence[ConfigOp] = (), replace: Mapping[str, str] | None = None,
    validate_only: bool = False,
) -> dict[str, str]:
    """Change the dynamic broker configs of `node_id` (None: the cluster-wide default, Kafka's
    resource name ""): `ops` incrementally, or `replace` as the whole set (AlterConfigs). They take
    effect in every process within a second, for topics that do not set their own value. Returns
    the level's new configs."""
    with transaction.atomic():
        current = dynamic_broker_configs_level(node_id)
        values = dict(replace) if replace is not None else configs_apply(current, ops, BROKER_LOG_KEYS)
        node = node_embedded()
        static = [c.name for c in broker_configs(node_id=node.node_id, host=node.host, port=node.port)]
        checked = broker_configs_check(values, per_broker=node_id is not None, static=static)
        if not validate_only and checked != current:
            dynamic_broker_configs_replace(node_id=node_id, values=checked)
            events.publish_on_commit([events.CLUSTER_GROUP], "broker.configs_altered", {"node_id": node_id})
    return checked
