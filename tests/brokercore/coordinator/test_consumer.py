"""The server-side consumer (ServerConsumer): KafkaConsumer's rules without HTTP or the console."""

import pytest

from brokercore.coordinator.consumer import CommittedOffsetView, ConsumerStateError, ServerConsumer
from brokercore.coordinator.offsets import offsets_commit
from brokercore.coordinator.read import committed_offsets_get, group_member_ids
from brokercore.coordinator.server_members import member_leave
from brokercore.errors import OffsetOutOfRange, UnknownMemberId
from brokercore.models import GroupMember
from tests.factories import records_factory, topic_factory

pytestmark = pytest.mark.django_db


def consumer(**kw) -> ServerConsumer:
    kw.setdefault("group_id", "g")
    kw.setdefault("client_id", "c")
    kw.setdefault("offset_reset", "earliest")
    return ServerConsumer(**kw)


def subscribed_consumer(records: int = 3, **kw) -> ServerConsumer:
    """A consumer subscribed to topic "t" (one partition holding `records` records), not yet polled."""
    topic_factory(name="t", partitions=1)
    records_factory("t", records, partition=0)
    c = consumer(**kw)
    c.subscribe(topics=["t"])
    return c


def poll_until_records(c: ServerConsumer, tries: int = 5, **kw):
    """A new member's first polls finish the rebalance; records come once it owns partitions."""
    for _ in range(tries):
        polled = c.poll(wait_ms=0, max_bytes=1_048_576, **kw)
        if polled.records:
            return polled
    return polled


def committed(group="g"):
    return {tp: o for tp, (o, _) in committed_offsets_get(group_id=group).items()}


# --- Subscription and assignment -----------------------------------------------------------------


def test_subscribing_joins_the_group_and_polling_fetches_from_the_start():
    c = subscribed_consumer()
    assert c.member_id and group_member_ids(group_id="g") == [c.member_id]
    polled = poll_until_records(c)
    assert [r.offset for r in polled.records] == [0, 1, 2]
    assert polled.positions == {"t:0": 3} and c.position_map() == {("t", 0): 3}
    assert c.assigned() == [("t", 0)]


@pytest.mark.parametrize("topics, pattern", [(None, None), (["t"], "t.*")])
def test_a_subscription_is_topics_or_a_pattern(topics, pattern):
    with pytest.raises(ConsumerStateError):
        consumer().subscribe(topics=topics, pattern=pattern)


def test_subscription_and_manual_assignment_exclude_each_other():
    topic_factory(name="t", partitions=2)
    assigned = consumer(group_id="manual")
    assigned.assign([("t", 0)])
    with pytest.raises(ConsumerStateError):
        assigned.subscribe(topics=["t"])
    subscribed = consumer()
    subscribed.subscribe(topics=["t"])
    with pytest.raises(ConsumerStateError):
        subscribed.assign([("t", 1)])
    assert subscribed.assignment == [] and assigned.topics == []


def test_assign_validates_after_the_state_check_and_before_any_change():
    topic_factory(name="t", partitions=2)
    seen = []
    c = consumer(group_id="manual", positions={"t:0": 1})
    c.assignment = [("t", 0)]

    def refuse(partitions):
        seen.append(partitions)
        raise ValueError("no such partition")

    with pytest.raises(ValueError):
        c.assign([("t", 1), ("t", 1)], validate=refuse)
    assert seen == [[("t", 1)]] and c.assignment == [("t", 0)] and c.positions == {"t:0": 1}


def test_polling_with_neither_subscription_nor_assignment_is_illegal():
    with pytest.raises(ConsumerStateError):
        consumer().poll(wait_ms=0, max_bytes=1000)


def test_a_pattern_subscription_picks_up_new_matching_topics_on_poll():
    topic_factory(name="orders-eu", partitions=1)
    topic_factory(name="payments", partitions=1)
    c = consumer()
    c.subscribe(pattern="orders-.*")
    assert c.topics == ["orders-eu"]
    topic_factory(name="orders-us", partitions=1)
    c.poll(wait_ms=0, max_bytes=1000)
    assert c.topics == ["orders-eu", "orders-us"]
    assert GroupMember.objects.get(member_id=c.member_id).subscription == ["orders-eu", "orders-us"]


def test_unsubscribe_leaves_the_group():
    topic_factory(name="t", partitions=1)
    c = consumer()
    c.subscribe(topics=["t"])
    c.unsubscribe()
    assert c.member_id == "" and not c.subscribed and group_member_ids(group_id="g") == []


# --- Polling, rejoining ---------------------------------------------------------------------------


def test_a_member_the_coordinator_dropped_rejoins_on_its_next_poll():
    c = subscribed_consumer(records=2)
    old = c.member_id
    member_leave(group_id="g", member_id=old)  # as the coordinator does when a session expires
    polled = c.poll(wait_ms=0, max_bytes=1000)
    assert polled.rejoined and c.member_id != old
    assert group_member_ids(group_id="g") == [c.member_id]
    records = polled.records or poll_until_records(c).records
    assert [r.offset for r in records] == [0, 1]  # the rejoined member starts again (nothing was committed)



def test_a_member_dropped_again_and_again_stops_rejoining_within_one_poll(monkeypatch):
    """A coordinator that drops the member faster than it can join: the poll gives up after
    MAX_REJOINS_PER_POLL rejoins with UNKNOWN_MEMBER_ID instead of spinning past its wait."""
    from brokercore.coordinator import consumer as consumer_module

    c = subscribed_consumer(records=2)
    joins = []
    real_join = consumer_module.group_join

    def dropped(**kwargs):
        raise UnknownMemberId("dropped again")

    def counting_join(**kwargs):
        joins.append(kwargs["group_id"])
        return real_join(**kwargs)

    monkeypatch.setattr(consumer_module, "member_poll", dropped)
    monkeypatch.setattr(consumer_module, "group_join", counting_join)
    with pytest.raises(UnknownMemberId):
        c.poll(wait_ms=60_000, max_bytes=1000)
    assert len(joins) == consumer_module.MAX_REJOINS_PER_POLL

def test_a_poll_of_no_records_only_heartbeats():
    c = subscribed_consumer(records=2)
    for _ in range(3):
        polled = c.poll(wait_ms=0, max_bytes=1000, max_records=0)
    assert polled.records == [] and polled.member is not None and not polled.member.rebalancing
    assert GroupMember.objects.get(member_id=c.member_id).positions == {}  # nothing fetched


def test_max_records_bounds_a_subscribed_poll():
    c = subscribed_consumer(records=10)
    assert [r.offset for r in poll_until_records(c, max_records=4).records] == [0, 1, 2, 3]


def test_manual_positions_start_at_the_commit_else_by_auto_offset_reset():
    topic_factory(name="t", partitions=2)
    records_factory("t", 3, partition=0)
    records_factory("t", 3, partition=1)
    offsets_commit(group_id="manual", offsets={("t", 1): 2})
    c = consumer(group_id="manual", offset_reset="latest")
    c.assign([("t", 0), ("t", 1)])
    polled = c.poll(wait_ms=0, max_bytes=1_048_576)
    assert [(r.partition, r.offset) for r in polled.records] == [(1, 2)]  # t-0 starts at its end
    assert c.positions == {"t:0": 3, "t:1": 3}


def test_auto_offset_reset_none_without_a_commit_is_offset_out_of_range():
    topic_factory(name="t", partitions=1)
    c = consumer(group_id="manual", offset_reset="none")
    c.assign([("t", 0)])
    with pytest.raises(OffsetOutOfRange):
        c.poll(wait_ms=0, max_bytes=1000)


# --- Seeking --------------------------------------------------------------------------------------


def test_seek_needs_an_assigned_partition_and_rewind_skips_the_others():
    topic_factory(name="t", partitions=2)
    records_factory("t", 5, partition=0)
    c = consumer(group_id="manual")
    c.assign([("t", 0)])
    with pytest.raises(ConsumerStateError):
        c.seek({("t", 1): 0})
    c.seek({("t", 0): 3})
    assert c.position_map() == {("t", 0): 3}
    c.seek_to([("t", 0)], end=True)
    assert c.position_map() == {("t", 0): 5}
    c.seek_to([("t", 0)], end=False)
    assert c.position_map() == {("t", 0): 0}


# --- Committing -----------------------------------------------------------------------------------


def test_auto_commit_commits_a_poll_only_when_the_client_comes_back():
    c = subscribed_consumer()
    poll_until_records(c)
    assert committed() == {}  # returned, not yet known to be processed
    c.poll(wait_ms=0, max_bytes=1000)
    assert committed() == {("t", 0): 3}


def test_without_auto_commit_nothing_is_committed_until_asked():
    c = subscribed_consumer(auto_commit=False)
    poll_until_records(c)
    c.poll(wait_ms=0, max_bytes=1000)
    c.close()
    assert committed() == {}


def test_close_commits_and_leaves():
    c = subscribed_consumer()
    poll_until_records(c)
    c.close()
    assert committed() == {("t", 0): 3} and group_member_ids(group_id="g") == []


def test_a_commit_of_consumed_offsets_commits_the_next_offset_to_read():
    topic_factory(name="t", partitions=1)
    records_factory("t", 3, partition=0)
    c = consumer(group_id="manual")
    c.assign([("t", 0)])
    c.commit_consumed({("t", 0): (1, "meta")})
    assert committed_offsets_get(group_id="manual") == {("t", 0): (2, "meta")}
    assert c.committed() == [CommittedOffsetView("t", 0, 2, "meta")]  # the assigned partitions
    assert [v.offset for v in c.committed([("t", 0), ("t", 1)])] == [2, -1]  # -1: never committed


def test_a_manual_consumer_cannot_commit_to_a_group_with_members():
    topic_factory(name="t", partitions=1)
    member = consumer()
    member.subscribe(topics=["t"])
    outsider = consumer()
    outsider.assign([("t", 0)])
    with pytest.raises(ConsumerStateError):
        outsider.commit({("t", 0): 1})


def test_a_subscribed_consumer_out_of_its_group_cannot_commit():
    topic_factory(name="t", partitions=1)
    c = consumer()
    c.subscribe(topics=["t"])
    member_leave(group_id="g", member_id=c.member_id)
    with pytest.raises(ConsumerStateError):
        c.commit({("t", 0): 1})
