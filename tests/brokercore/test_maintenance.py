import pytest

from brokercore import clock
from brokercore.coordinator.lag import lag_history
from brokercore.coordinator.offsets import offsets_commit
from brokercore.coordinator.read import group_describe
from brokercore.coordinator.server_members import group_join
from brokercore.maintenance import MaintenanceThread
from brokercore.topics.service import topic_delete
from tests.factories import records_factory, stored_records, topic_factory


@pytest.mark.django_db(transaction=True)
def test_one_pass_expires_members_samples_lag_and_cleans_logs(monkeypatch):
    topic_factory(name="t", partitions=1)
    topic_factory(name="gone", partitions=1)
    records_factory("t", 5)
    records_factory("gone", 5)
    offsets_commit(group_id="idle", offsets={("t", 0): 1})
    group_join(group_id="g", topics=["t"], session_timeout_ms=6000)
    topic_delete(name="gone")
    later = clock.now_ms() + 10_000
    monkeypatch.setattr(clock, "now_ms", lambda: later)

    MaintenanceThread().run_due({}, now=1e9)

    assert group_describe(group_id="g").members == []
    assert lag_history(group_id="idle")[-1][1] == 4
    # The deleted topic's rows are gone, t's remain.
    assert len(stored_records(topic="t")) == 5 and stored_records(topic="gone") == []
