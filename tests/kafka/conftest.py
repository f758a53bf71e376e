"""A Kafka listener on a free port for each test, on its own event loop in a background thread."""

import pytest

from brokercore.kafka.server import KafkaListener, ListenerThread


@pytest.fixture
def kafka_listener(transactional_db):
    """A running KafkaListener (its database work sees the test database: transactional_db)."""
    thread = ListenerThread(KafkaListener(host="127.0.0.1", port=0)).start()
    try:
        yield thread.listener
    finally:
        thread.stop()


@pytest.fixture
def kafka_bootstrap(kafka_listener) -> str:
    """"127.0.0.1:PORT" of the running listener, for bootstrap.servers."""
    return kafka_listener.bootstrap
