"""Migration 0010 keeps committed offsets' metadata as UTF-8 bytes (PostgreSQL's text refuses
NUL, which Kafka accepts), every stored string kept, and back again."""

import pytest
from django.utils import timezone

from tests.brokercore.migrations import migrate_to, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("brokercore", "0009_record_batches")]
AFTER = [("brokercore", "0010_committed_offset_metadata_bytes")]


def test_metadata_becomes_bytes_with_every_string_kept_and_back():
    apps = migrate_to(BEFORE)
    Topic, Partition = apps.get_model("brokercore", "Topic"), apps.get_model("brokercore", "Partition")
    Group, Offset = apps.get_model("brokercore", "ConsumerGroup"), apps.get_model("brokercore", "CommittedOffset")
    t = Topic.objects.create(name="m", collision_key="m")
    parts = [Partition.objects.create(topic=t, index=i) for i in range(3)]
    g = Group.objects.create(group_id="g", state_changed_at=timezone.now())
    for p, md in zip(parts, ["", "plain", "ünïcode €"], strict=True):
        Offset.objects.create(group=g, partition=p, offset=p.index, metadata=md, committed_ms=1)

    apps = migrate_to(AFTER)
    Offset = apps.get_model("brokercore", "CommittedOffset")
    got = {o.partition.index: bytes(o.metadata) for o in Offset.objects.select_related("partition")}
    assert got == {0: b"", 1: b"plain", 2: "ünïcode €".encode()}
    Offset.objects.filter(partition__index=1).update(metadata=b"a\x00b")  # what text cannot hold

    apps = migrate_to(BEFORE)
    Offset = apps.get_model("brokercore", "CommittedOffset")
    got = {o.partition.index: o.metadata for o in Offset.objects.select_related("partition")}
    assert got == {0: "", 1: "ab", 2: "ünïcode €"}  # a NUL is all that is dropped
    migrate_to_latest()
