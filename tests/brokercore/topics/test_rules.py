"""Kafka's topic name rules: which topics are internal."""

from brokercore.topics.rules import topic_is_internal


def test_internal_topics_are_kafkas_two():
    assert topic_is_internal("__consumer_offsets") and topic_is_internal("__transaction_state")
    assert not topic_is_internal("__mine") and not topic_is_internal("consumer_offsets")
