"""The listener closes connections that hold it without sending (a partial frame, no
authentication, idling past connections.max.idle.ms) and caps connections per address
(max.connections.per.ip): tested with raw sockets."""

import socket
import struct
import time

import pytest

from tests.kafka.conftest import Wire, listener_running


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the listener closed `sock`, or None if it did not within `seconds`."""
    began = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - began


@pytest.fixture
def short_timeouts(settings):
    settings.BROKER = {**settings.BROKER, "KAFKA_REQUEST_STALL_TIMEOUT_MS": 500, "KAFKA_CONNECTIONS_MAX_IDLE_MS": 1500}


@pytest.mark.parametrize("sent", [b"", b"\x00\x00", struct.pack(">i", 100) + b"\x00\x12\x00"],
                         ids=["nothing", "half a length", "half a frame"])
def test_a_connection_that_stalls_before_authenticating_or_inside_a_frame_is_closed(transactional_db, short_timeouts, sent):
    with listener_running() as listener:  # anonymous off: every connection must authenticate
        socks = [socket.create_connection(("127.0.0.1", listener.port)) for _ in range(20)]
        for s in socks:
            s.sendall(sent)
        took = [_closed_within(s, 5) for s in socks]
        assert all(t is not None and t < 2 for t in took), took
        # Meanwhile, and after, others are served.
        w = Wire(listener.bootstrap)
        assert w.call(18, 3).error_code == 0
        w.close()


def test_an_authenticated_connection_idles_until_connections_max_idle_ms(transactional_db, short_timeouts):
    with listener_running(allow_anonymous=True) as listener:
        w = Wire(listener.bootstrap)
        assert w.call(18, 3).error_code == 0
        time.sleep(1.0)  # longer than the stall timeout, within the idle one
        assert w.call(18, 3).error_code == 0
        took = _closed_within(w.sock, 5)
        assert took is not None and 1.0 < took < 3, took
        # Inside a frame the stall timeout applies, authenticated or not.
        w = Wire(listener.bootstrap)
        w.sock.sendall(struct.pack(">i", 100) + b"\x00")
        took = _closed_within(w.sock, 5)
        assert took is not None and took < 1.2, took


def test_connections_per_address_are_capped(transactional_db, settings):
    settings.BROKER = {**settings.BROKER, "KAFKA_MAX_CONNECTIONS_PER_IP": 5}
    with listener_running(allow_anonymous=True) as listener:
        wires = [Wire(listener.bootstrap) for _ in range(5)]
        for w in wires:
            assert w.call(18, 3).error_code == 0
        extra = socket.create_connection(("127.0.0.1", listener.port))
        assert _closed_within(extra, 3) is not None
        wires.pop().close()
        time.sleep(0.2)
        wires.append(Wire(listener.bootstrap))  # one closed: room for one more
        assert wires[-1].call(18, 3).error_code == 0
        for w in wires:
            w.close()
