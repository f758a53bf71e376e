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


class Wire:
    """A bare Kafka protocol connection: send requests built from plain values, read responses.

    For tests that need what no client library sends (bad frames, chosen producer sequences).
    """

    def __init__(self, bootstrap: str, *, timeout: float = 5.0) -> None:
        import socket

        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.correlation_id = 0

    def send(self, api_key: int, version: int, client_id: str | None = "tests", **fields) -> int:
        from kio.index import load_request_schema

        from brokercore.kafka.apis.registry import build_entity
        from brokercore.kafka.protocol import RequestHeader, request_encode

        self.correlation_id += 1
        request = build_entity(load_request_schema(api_key, version), fields)
        self.sock.sendall(request_encode(RequestHeader(api_key, version, self.correlation_id, client_id), request))
        return self.correlation_id

    def read_frame(self) -> bytes:
        size = int.from_bytes(self._read(4), "big")
        return self._read(size)

    def recv(self, api_key: int, version: int):
        from brokercore.kafka.protocol import response_decode

        correlation_id, response = response_decode(self.read_frame(), api_key, version)
        assert correlation_id == self.correlation_id
        return response

    def call(self, api_key: int, version: int, **fields):
        self.send(api_key, version, **fields)
        return self.recv(api_key, version)

    def closed_by_peer(self) -> bool:
        """True when the listener closed this connection (reads end-of-stream)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def _read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by the listener")
            buf += chunk
        return buf

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def wire(kafka_bootstrap):
    """A raw protocol connection to the test listener (see Wire)."""
    w = Wire(kafka_bootstrap)
    try:
        yield w
    finally:
        w.close()
