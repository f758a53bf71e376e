from dataclasses import replace

import pytest

from brokercore import clock
from brokercore.cluster.nodes import node_register, throughput_sample
from brokercore.cluster.read import broker_get, brokers_list
from brokercore.topics.read import topic_rates
from tests.factories import records_factory, topic_factory

pytestmark = pytest.mark.django_db


def test_topic_rates_from_two_samples(monkeypatch):
    now = {"ms": 1_700_000_000_000}
    monkeypatch.setattr(clock, "now_ms", lambda: now["ms"])
    topic_factory(name="t", partitions=2)
    topic_factory(name="quiet", partitions=1)
    throughput_sample()
    records_factory("t", 50)
    now["ms"] += 10_000
    throughput_sample()
    assert topic_rates() == {"t": 5.0, "quiet": 0.0}
    assert topic_rates(topic="t") == {"t": 5.0}


def test_rates_need_two_samples():
    topic_factory(name="t")
    throughput_sample()
    assert topic_rates() == {}


def test_brokers_list_embedded_then_registered():
    topic_factory(name="t", partitions=3)
    (embedded,) = brokers_list()
    assert embedded.embedded and embedded.leader_count == 3
    node_register(kafka_host="127.0.0.1", kafka_port=9092, web_host="127.0.0.1", web_port=8000)
    (node,) = brokers_list()
    assert (node.node_id, node.alive, node.leader_count, node.port, node.web_port) == (1, True, 3, 9092, 8000)
    assert not node.embedded


def test_broker_get_is_the_listed_row_without_counting_leaders():
    topic_factory(name="t", partitions=3)
    (embedded,) = brokers_list()
    assert broker_get(embedded.node_id) == replace(embedded, leader_count=None)
    assert broker_get(embedded.node_id + 1) is None
    node_register(kafka_host="127.0.0.1", kafka_port=9092, web_host="127.0.0.1", web_port=8000)
    node_register(node_id=2, kafka_host="127.0.0.1", kafka_port=9093, process="other")
    listed = {b.node_id: b for b in brokers_list()}
    assert sorted(listed) == [1, 2]
    for node_id, row in listed.items():
        got = broker_get(node_id)
        assert replace(got, heartbeat_age_s=0) == replace(row, leader_count=None, heartbeat_age_s=0)
    assert broker_get(3) is None
