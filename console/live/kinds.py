"""The subscription kinds a live page can ask for, and the channel-layer group each maps to."""

from brokercore import events
from brokercore.models import ConsumerGroup, Topic
from console.live.fragments import kind


def _topic(name: str) -> str | None:
    topic_id = Topic.objects.filter(name=name, deleted_at__isnull=True).values_list("topic_id", flat=True).first()
    return events.topic_group(topic_id) if topic_id else None


def _group(group_id: str) -> str | None:
    pk = ConsumerGroup.objects.filter(group_id=group_id).values_list("pk", flat=True).first()
    return events.consumer_group_group(pk) if pk else None


# "cluster" or "cluster:<page>" (the page picks which cluster-wide fragments it receives).
kind("cluster", resolve=lambda argument: events.CLUSTER_GROUP if argument == "" or argument.isidentifier() else None)
kind("topic", resolve=_topic)
kind("tail", resolve=_topic)
kind("group", resolve=_group)
kind("lab", resolve=lambda argument: events.lab_group(argument) if argument.isdigit() else None)
