"""The pooled ASGI handler: each request's sync work in one pooled thread that keeps its connection."""

import asyncio
import json
import threading

import pytest
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
