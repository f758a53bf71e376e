"""The pooled ASGI handler: each request's sync work in one pooled thread that keeps its connection."""

import asyncio
import json
import threading

import pytest
from django.core import signals
from django.db import connection
from django.http import JsonResponse
from django.urls import path

from console.asgi_http import PooledASGIHandler

_barrier = threading.Barrier(2, timeout=5)


def _where(request):
    connection.ensure_connection()
    return JsonResponse({"thread": threading.get_ident(), "connection": id(connection.connection),
                         "middleware_thread": request.META.get("seen_by_middleware")})


def _meet(request):
    # Both requests must be inside a view at once: serialized requests would time out here.
    _barrier.wait()
    return JsonResponse({"met": True})


def _marking_middleware(get_response):
    def middleware(request):
        request.META["seen_by_middleware"] = threading.get_ident()
        return get_response(request)

    return middleware


urlpatterns = [path("where/", _where), path("meet/", _meet)]


async def _get(app, url: str) -> tuple[int, dict]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": url, "raw_path": url.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }
    incoming = [{"type": "http.request", "body": b"", "more_body": False}]
    sent = []

    async def receive():
        if incoming:
            return incoming.pop()
        await asyncio.sleep(3600)  # the client stays connected; Django cancels this when done

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


@pytest.fixture
def handler(settings):
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = [f"{__name__}._marking_middleware"]
    settings.WEB_THREADS = 2
    return PooledASGIHandler()


@pytest.mark.django_db(transaction=True)
async def test_a_request_runs_middleware_and_view_in_one_thread_that_keeps_its_connection(handler, settings):
    settings.WEB_THREADS = 1
    one_thread = PooledASGIHandler()
    first = await _get(one_thread, "/where/")
    second = await _get(one_thread, "/where/")
    assert first[0] == second[0] == 200
    assert first[1]["middleware_thread"] == first[1]["thread"]
    assert first[1]["thread"] == second[1]["thread"]
    assert first[1]["connection"] == second[1]["connection"], "the pooled thread reconnected"
    assert first[1]["thread"] != threading.get_ident()


@pytest.mark.django_db(transaction=True)
async def test_requests_run_concurrently_up_to_the_pool_size(handler):
    results = await asyncio.gather(_get(handler, "/meet/"), _get(handler, "/meet/"))
    assert [r[0] for r in results] == [200, 200]


@pytest.mark.django_db(transaction=True)
async def test_request_signals_run_in_the_pool_thread_not_a_shared_one(handler):
    """Django's handler sends them through thread-sensitive sync_to_async: one thread for the whole
    process, which every request would queue for twice."""
    seen = []

    def started(sender, **kwargs):
        seen.append(("started", threading.current_thread().name))

    def finished(sender, **kwargs):
        seen.append(("finished", threading.current_thread().name))

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        status, _ = await _get(handler, "/where/")
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert status == 200
    assert [kind for kind, _ in seen] == ["started", "finished"]
    assert all(name.startswith("http") for _, name in seen), seen


@pytest.mark.django_db(transaction=True)
async def test_a_request_django_cannot_read_still_gets_its_answer(handler):
    scope = {  # a query string that is not UTF-8: Django answers 400 before any view
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/where/", "raw_path": b"/where/", "query_string": b"q=\xff", "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }
    incoming = [{"type": "http.request", "body": b"", "more_body": False}]
    sent = []

    async def receive():
        return incoming.pop() if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await handler(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400


@pytest.mark.django_db(transaction=True)
async def test_a_client_that_leaves_mid_request_ends_it_with_request_finished(handler):
    finished = threading.Event()

    def on_finished(sender, **kwargs):
        finished.set()

    gate = threading.Event()
    urlpatterns.append(path("slow/", lambda request: (gate.wait(5), JsonResponse({}))[1]))
    signals.request_finished.connect(on_finished)
    try:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": "/slow/", "raw_path": b"/slow/", "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
        }
        messages = [{"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"}]

        async def receive():
            message = messages.pop(0)
            if message["type"] == "http.disconnect":
                await asyncio.sleep(0.2)  # the view is running by now
            return message

        sent = []

        async def send(message):
            sent.append(message)

        await asyncio.wait_for(handler(scope, receive, send), 10)
        gate.set()
        assert finished.wait(5)
        assert not any(m["type"] == "http.response.start" for m in sent)
    finally:
        gate.set()
        urlpatterns.pop()
        signals.request_finished.disconnect(on_finished)
