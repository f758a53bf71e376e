"""Kafka's rules for topic names, in one place (topic configs: topics/configs.py).

Names follow `org.apache.kafka.common.internals.Topic.validate`. Messages are Kafka's own wording
where Kafka has one, so a learner can search for them.
"""

import re

from brokercore.errors import InvalidTopic

MAX_NAME_LENGTH = 249
# Also stated in API schemas (with MAX_NAME_LENGTH), so clients and generated tests see the rule.
LEGAL_NAME_PATTERN = r"^[a-zA-Z0-9._-]+$"
_LEGAL = re.compile(LEGAL_NAME_PATTERN)


def topic_name_validate(name: str) -> None:
    if not isinstance(name, str) or name == "":
        raise InvalidTopic("Topic name is illegal, it can't be empty")
    if name in (".", ".."):
        raise InvalidTopic('Topic name cannot be "." or ".."')
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidTopic(
            f"Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters, "
            f"topic name: {name}"
        )
    if not _LEGAL.match(name):
        raise InvalidTopic(
            f'Topic name "{name}" is illegal, it contains a character other than '
            "ASCII alphanumerics, '.', '_' and '-'"
        )


def topic_name_collision_key(name: str) -> str:
    """Kafka refuses two topics whose names differ only by '.' vs '_' (their metric names clash)."""
    return name.replace(".", "_")


# Kafka's Topic.INTERNAL_TOPICS: the group and transaction coordinators' own logs. Other names
# starting with "__" are ordinary topics to Kafka, and so here.
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


def topic_is_internal(name: str) -> bool:
    """Kafka's Topic.isInternal, which Metadata's is_internal and REST v3's both report."""
    return name in INTERNAL_TOPICS
