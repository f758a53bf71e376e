"""Request bodies are limited by the server before they are read (console/http_server.py): tested
against a real `serve` process with raw sockets, which send headers and hold the body back."""

import json
import socket
import time

import pytest

from tests.serve import ServerProcess

pytestmark = pytest.mark.slow

LIMIT = 1024 * 1024


@pytest.fixture
def server(db_url, tmp_path):
    server = ServerProcess(db_url, tmp_path, env={"REST_MAX_BODY_BYTES": str(LIMIT)})
    server.start()
    yield server
    server.stop()


def _connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The response, read until the server closes (every refusal closes the connection)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def _headers(method: str, path: str, *extra: str) -> bytes:
    return ("\r\n".join([f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *extra]) + "\r\n\r\n").encode()


@pytest.mark.parametrize("auth", [[], ["Authorization: Bearer not-a-real-token", "Expect: 100-continue"]])
def test_a_large_content_length_is_refused_before_the_body_is_sent(server, auth):
    sock = _connect(server)
    sock.sendall(_headers("POST", "/rest/topics/orders", "Content-Type: application/vnd.kafka.binary.v2+json",
                          f"Content-Length: {500 * 2**20}", *auth))
    status, headers, body = _answer(sock)  # nothing of the body sent
    assert status == 413  # not 100 Continue
    assert b"HTTP/1.1 100" not in body
    assert json.loads(body) == {"error_code": 41301, "message": f"The request body is {500 * 2**20} bytes; the limit is {LIMIT}."}


def test_an_anonymous_body_is_refused_401_before_it_is_read(server):
    sock = _connect(server)
    sock.sendall(_headers("POST", "/rest/topics/orders", "Content-Type: application/json", "Content-Length: 1000"))
    sock.sendall(b'{"records": [')  # a slow client: the rest never comes
    status, headers, body = _answer(sock)
    assert status == 401 and json.loads(body)["error_code"] == 40101
    assert headers["WWW-Authenticate"].startswith("Bearer")


def test_an_anonymous_console_post_is_refused_before_it_is_read_and_the_login_form_is_not(server):
    sock = _connect(server)
    sock.sendall(_headers("POST", "/new-topic/", "Content-Type: application/x-www-form-urlencoded", "Content-Length: 1000"))
    status, _, body = _answer(sock)
    assert status == 403 and b"Log in first" in body

    # The login form takes an anonymous body: the server waits for it, then Django answers.
    sock = _connect(server)
    sock.settimeout(1)
    sock.sendall(_headers("POST", "/login/", "Content-Type: application/x-www-form-urlencoded", "Content-Length: 10",
                          "Connection: close"))
    with pytest.raises(TimeoutError):
        sock.recv(1)
    sock.settimeout(5)
    sock.sendall(b"username=x")
    status, _, _ = _answer(sock)
    assert status == 403  # Django's CSRF check, after the body was read


def test_a_streamed_body_is_cut_off_at_the_limit_and_memory_does_not_grow(server):
    before = server.rss_kb()
    for _ in range(3):
        sock = _connect(server)
        sock.sendall(_headers("POST", "/rest/topics/orders", "Content-Type: application/json",
                              "Authorization: Bearer not-a-real-token", "Transfer-Encoding: chunked"))
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
        sent = 0
        with pytest.raises(OSError):  # the server closes the connection while we still send
            for _ in range(50 * 16):  # 50 MiB, far past the limit
                sock.sendall(chunk)
                sent += 64 * 1024
                time.sleep(0.0005)
        assert sent < 20 * LIMIT
        sock.close()
    assert server.rss_kb() - before < 30 * 1024
