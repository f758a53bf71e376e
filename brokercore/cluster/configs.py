"""Broker configs as stored: the dynamic ones AlterConfigs set (per node, or the cluster-wide
default) and the static ones a server process starts with (settings.BROKER).

What each name means, its type and its validation live with the topic configs they are defaults
of (topics/config_table.py, as Kafka's LogConfig holds SERVER_CONFIG_DEF); this module only keeps
the values, so every process reads the same ones.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from brokercore.models import DynamicBrokerConfig

CLUSTER_DEFAULT = DynamicBrokerConfig.CLUSTER_DEFAULT

# How long a process trusts what it read: another process's change takes effect here within
# this, as Kafka brokers apply a dynamic config when its change reaches them.
CACHE_S = 1.0


@dataclass(frozen=True)
class DynamicConfigs:
    """Every dynamic broker config: the cluster-wide default level and each node's own."""

    default: Mapping[str, str] = field(default_factory=dict)
    nodes: Mapping[int, Mapping[str, str]] = field(default_factory=dict)

    def node(self, node_id: int) -> Mapping[str, str]:
        return self.nodes.get(node_id, {})


_cache: tuple[float, DynamicConfigs] | None = None


def dynamic_broker_configs() -> DynamicConfigs:
    """The dynamic broker configs, read at most once per CACHE_S per process (every append asks)."""
    global _cache
    now = time.monotonic()
    cached = _cache
    if cached is not None and now < cached[0]:
        return cached[1]
    default: dict[str, str] = {}
    nodes: dict[int, dict[str, str]] = {}
    for node_id, name, value in DynamicBrokerConfig.objects.values_list("node_id", "name", "value"):
        (default if node_id == CLUSTER_DEFAULT else nodes.setdefault(node_id, {}))[name] = value
    configs = DynamicConfigs(default=default, nodes=nodes)
    if cached is not None and cached[1] == configs:
        configs = cached[1]  # the same object while nothing changed, so what callers derived stays valid
    _cache = (now + CACHE_S, configs)
    return configs


def dynamic_broker_configs_forget() -> None:
    global _cache
    _cache = None


def dynamic_broker_configs_level(node_id: int | None) -> dict[str, str]:
    """The dynamic configs of `node_id` (None: the cluster default) read now, rows locked until the
    caller's transaction ends, for a read-modify-write."""
    level = CLUSTER_DEFAULT if node_id is None else node_id
    rows = DynamicBrokerConfig.objects.select_for_update().filter(node_id=level).values_list("name", "value")
    return dict(rows)


def dynamic_broker_configs_replace(*, node_id: int | None, values: Mapping[str, str]) -> None:
    """Make `values` the whole set of dynamic configs of `node_id` (None: the cluster-wide
    default), in the caller's transaction; this process sees it once committed."""
    level = CLUSTER_DEFAULT if node_id is None else node_id
    with transaction.atomic():
        current = dict(DynamicBrokerConfig.objects.filter(node_id=level).values_list("name", "value"))
        gone = [name for name in current if name not in values]
        if gone:
            DynamicBrokerConfig.objects.filter(node_id=level, name__in=gone).delete()
        for name, value in values.items():
            if current.get(name) != value:
                DynamicBrokerConfig.objects.update_or_create(node_id=level, name=name, defaults={"value": value})
        transaction.on_commit(dynamic_broker_configs_forget)
    dynamic_broker_configs_forget()


def static_broker_values() -> dict[str, str]:
    """Broker configs that topics default from and that this process's settings set (Kafka's
    STATIC_BROKER_CONFIG: what server.properties says)."""
    return {"message.max.bytes": str(settings.BROKER["MESSAGE_MAX_BYTES"])}


def this_node_id() -> int:
    """The node id this process acts as (its per-broker dynamic configs apply to what it does)."""
    return settings.BROKER["NODE_ID"]
