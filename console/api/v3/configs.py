"""A topic's configs (read and altered), and the shape every v3 config object shares (brokers.py
reports broker configs in it). Every entry comes from brokercore's config_entries, as the Kafka
listener's DescribeConfigs does, so source, default and synonyms agree.
"""

from typing import Literal

from django.http import HttpRequest
from ninja import Schema, Status
from pydantic import create_model

from brokercore.configdef import ConfigEntry
from brokercore.security.acl import Operation
from brokercore.topics import service as topic_service
from brokercore.topics.configs import APPEND, CONFIG_NAMES, DELETE, SET, SUBTRACT, ConfigOp, config_entries
from console.api import access
from console.api.errors import CONFIG_NOT_FOUND, RestError
from console.api.v3.shared import (
    CrnPairs,
    Resource,
    UrlPath,
    cluster_check,
    list_out,
    list_schema,
    resource,
    route,
    topic_check,
)


class ConfigSynonym(Schema):
    name: str
    value: str | None
    source: str


def config_schema(model_name: str, kind: str, **scope: tuple[object, object]) -> type[Schema]:
    """A config object's schema: the resource head, whose config it is (`scope`), the entry's fields."""
    return create_model(
        model_name,
        __base__=Resource,
        __module__=__name__,
        kind=(Literal[kind], ...),
        **scope,
        name=(str, ...),
        value=(str | None, ...),
        is_default=(bool, ...),
        is_read_only=(bool, ...),
        is_sensitive=(bool, ...),
        source=(str, ...),
        synonyms=(list[ConfigSynonym], ...),
    )


TopicConfigOut = config_schema("TopicConfigOut", "KafkaTopicConfig", topic_name=(str, ...))
TopicConfigList = list_schema("TopicConfigList", "KafkaTopicConfigList", TopicConfigOut)


class ConfigUpdateIn(Schema):
    value: str | int | None


class ConfigAlterItem(Schema):
    name: str
    value: str | int | None = None
    operation: Literal["SET", "DELETE", "APPEND", "SUBTRACT", "set", "delete", "append", "subtract"] = "SET"


class ConfigsAlterIn(Schema):
    data: list[ConfigAlterItem]
    validate_only: bool = False


def config_out(
    request: HttpRequest, kind: str, cid: str, e: ConfigEntry, path: UrlPath, names: CrnPairs, **scope: object
) -> dict:
    """An entry as v3 reports it (topic, broker and cluster configs alike): `path` and `names` give
    its URL and CRN, `scope` whose config it is."""
    return resource(
        request, kind, cid, path, names,
        **scope,
        name=e.name,
        value=e.value,
        is_default=e.is_default,
        is_read_only=e.read_only,
        is_sensitive=e.sensitive,
        source=e.source.name,
        synonyms=[{"name": s.name, "value": s.value, "source": s.source.name} for s in e.synonyms],
    )


# --- Topic configs -------------------------------------------------------------------------------

_TOPIC_CONFIGS = "/clusters/{cluster_id}/topics/{topic_name}/configs"


def _topic_config_out(request: HttpRequest, cid: str, topic: str, e: ConfigEntry) -> dict:
    return config_out(
        request, "KafkaTopicConfig", cid, e, ("topics", topic, "configs", e.name), (("topic", topic), ("config", e.name)),
        topic_name=topic,
    )


def _config_name(name: str) -> str:
    if name not in CONFIG_NAMES:
        raise RestError(CONFIG_NOT_FOUND, f"Config '{name}' not found; topic configs are: {', '.join(CONFIG_NAMES)}.")
    return name


def _config_value(value: str | int | None) -> str | None:
    return None if value is None else str(value)


# Kafka's IncrementalAlterConfigs on a TOPIC resource: ALTER_CONFIGS on the topic.
_ALTER = access.topic_auth(Operation.ALTER_CONFIGS)


@route("GET", _TOPIC_CONFIGS, TopicConfigList, summary="List a topic's configs")
def configs_list(request: HttpRequest, cluster_id: str, topic_name: str) -> dict:
    cid = cluster_check(cluster_id)
    access.require_topic(request, Operation.DESCRIBE_CONFIGS, topic_name)
    info = topic_check(topic_name)
    data = [_topic_config_out(request, cid, info.name, e) for e in config_entries(info.overrides)]
    return list_out("KafkaTopicConfigList", request, data)


@route("GET", _TOPIC_CONFIGS + "/{name}", TopicConfigOut, summary="Get a topic config")
def config_get(request: HttpRequest, cluster_id: str, topic_name: str, name: str) -> dict:
    cid = cluster_check(cluster_id)
    access.require_topic(request, Operation.DESCRIBE_CONFIGS, topic_name)
    info = topic_check(topic_name)
    (entry,) = config_entries(info.overrides, names={_config_name(name)})
    return _topic_config_out(request, cid, info.name, entry)


@route(
    "PUT", _TOPIC_CONFIGS + "/{name}", {204: None},
    summary="Set a topic config", errors=(400, 403, 422), auth=_ALTER,
)
def config_update(request: HttpRequest, cluster_id: str, topic_name: str, name: str, payload: ConfigUpdateIn) -> Status:
    cluster_check(cluster_id)
    topic_check(topic_name)
    _config_name(name)
    topic_service.topic_configs_alter(name=topic_name, set_configs={name: _config_value(payload.value)})
    return Status(204, None)


@route(
    "DELETE", _TOPIC_CONFIGS + "/{name}", {204: None},
    summary="Reset a topic config to its default", errors=(403,), auth=_ALTER,
)
def config_reset(request: HttpRequest, cluster_id: str, topic_name: str, name: str) -> Status:
    cluster_check(cluster_id)
    topic_check(topic_name)
    _config_name(name)
    topic_service.topic_configs_alter(name=topic_name, delete_configs=[name])
    return Status(204, None)


@route(
    "POST", _TOPIC_CONFIGS + ":alter", {204: None},
    summary="Set and reset several topic configs at once", errors=(400, 403, 422), auth=_ALTER,
)
def configs_alter(request: HttpRequest, cluster_id: str, topic_name: str, payload: ConfigsAlterIn) -> Status:
    cluster_check(cluster_id)
    topic_check(topic_name)
    for item in payload.data:
        if item.operation.upper() == "DELETE":
            _config_name(item.name)
    topic_service.topic_configs_alter(name=topic_name, ops=config_ops(payload), validate_only=payload.validate_only)
    return Status(204, None)


_OPS = {"SET": SET, "DELETE": DELETE, "APPEND": APPEND, "SUBTRACT": SUBTRACT}


def config_ops(payload: ConfigsAlterIn) -> list[ConfigOp]:
    """A batch alter's items as IncrementalAlterConfigs' operations (topic and broker configs)."""
    return [ConfigOp(i.name, _OPS[i.operation.upper()], _config_value(i.value)) for i in payload.data]
