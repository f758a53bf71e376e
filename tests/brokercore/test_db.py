"""read_snapshot: several SELECTs see one snapshot, and a writer in another connection is not
blocked by it (the torn group read a CI run caught: Stable from before a JoinGroup's commit,
members from after it)."""

import threading

import pytest
from django.db import connection

from brokercore import clock
from brokercore.db import read_snapshot
from brokercore.models import ConsumerGroup

pytestmark = pytest.mark.django_db(transaction=True)


def commit_in_another_connection(group_id: str) -> None:
    """Create a group from another thread (another database connection) and wait for its commit."""
    errors: list[BaseException] = []

    def write() -> None:
        try:
            ConsumerGroup.objects.create(group_id=group_id, state_changed_at=clock.now())
        except BaseException as e:  # surfaced below, not lost in the thread
            errors.append(e)
        finally:
            connection.close()

    t = threading.Thread(target=write)
    t.start()
    t.join(20)
    assert not t.is_alive(), "the writer was blocked by the reader's snapshot"
    assert not errors, errors


def test_reads_inside_see_one_snapshot_and_do_not_block_a_writer():
    ConsumerGroup.objects.create(group_id="g0", state_changed_at=clock.now())
    with read_snapshot():
        before = ConsumerGroup.objects.count()
        commit_in_another_connection("g1")
        assert ConsumerGroup.objects.count() == before == 1
    assert ConsumerGroup.objects.count() == 2


def test_without_it_each_statement_sees_the_latest_commit():
    # The test above can fail: outside a snapshot the second read sees the other commit.
    before = ConsumerGroup.objects.count()
    commit_in_another_connection("g1")
    assert ConsumerGroup.objects.count() == before + 1


def test_an_error_inside_ends_the_snapshot():
    with pytest.raises(ConsumerGroup.DoesNotExist), read_snapshot():
        ConsumerGroup.objects.get(group_id="missing")
    assert not connection.in_atomic_block
    commit_in_another_connection("g1")
    assert ConsumerGroup.objects.filter(group_id="g1").exists()
