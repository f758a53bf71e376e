import pytest

from brokercore.coordinator.lag import groups_lag_totals, lag_history, lag_samples_record, partition_lag
from brokercore.coordinator.offsets import offsets_commit
from brokercore.coordinator.read import group_describe, group_list, topic_consumer_groups
from brokercore.log.cleaner import records_delete_before
from tests.factories import records_factory, topic_factory


@pytest.mark.parametrize(
    ("committed", "start", "high", "lag"),
    [
        (None, 0, 10, None),  # no commit: no figure, not the whole log
        (4, 0, 10, 6),
        (10, 0, 10, 0),
        (2, 5, 10, 5),  # the commit fell below the log start: counted from there
        (12, 0, 10, 0),  # never negative
        (-2, 0, 10, None),  # a logical offset a Kafka client committed: the client decides
        (-1, 0, 10, None),
    ],
)
def test_partition_lag(committed, start, high, lag):
    assert partition_lag(committed=committed, log_start_offset=start, high_watermark=high) == lag


@pytest.mark.django_db
def test_every_reader_counts_lag_from_the_log_start_and_ages_it_from_the_first_readable_record(fake_clock):
    """A commit below the log start: the group page, the group list, the topic page and the lag
    sampler agree on the lag, and its age is that of the first record still readable (the rows
    below the log start wait for the cleaner, but nobody reads them)."""
    topic_factory(name="t", partitions=1)
    records_factory("t", 5, key=None, partition=0, timestamp=fake_clock.ms - 9000)
    records_factory("t", 5, key=None, partition=0, timestamp=fake_clock.ms - 2000)
    offsets_commit(group_id="g", offsets={("t", 0): 1})
    records_delete_before(topic="t", partition=0, offset=5)

    (p,) = group_describe(group_id="g").partitions
    assert (p.lag, p.lag_ms) == (5, 2000)
    assert groups_lag_totals() == {"g": 5}
    assert group_list()[0].total_lag == 5
    (g,) = topic_consumer_groups(name="t")
    assert g.lag == 5
    lag_samples_record()
    assert [lag for _, lag in lag_history(group_id="g")] == [5]
