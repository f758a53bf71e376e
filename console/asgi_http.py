"""Django's HTTP handling under ASGI, with each request's sync work in one pooled thread.

Django's own ASGIHandler, given this project's sync views and Django's built-in (MiddlewareMixin)
middleware, crosses from the event loop to a thread and back once per middleware method
(`MiddlewareMixin.__acall__` wraps process_request and process_response in sync_to_async): about
fifteen hops a request. Under its per-request ThreadSensitiveContext each request also gets a new
thread, hence a new database connection. Measured on a 100-record REST produce: ~5 ms of server
CPU a request under that handler, 1.8 ms for the same views called in process.

This handler loads the middleware chain in sync mode, as under WSGI, and runs it once per request
in a fixed pool of threads (WEB_THREADS). Each thread keeps its database connection between
requests, and `close_old_connections()` runs around every request as Django's request signals do
under WSGI (so CONN_MAX_AGE and broken-connection recovery still apply). Everything else (reading
the body, disconnect handling, streaming the response) is Django's ASGIHandler unchanged.

A sync view that waits (a REST consumer's long poll) holds one pool thread while it waits, so the
pool bounds how many such waits run at once in a process; later requests queue for a thread.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.db import close_old_connections
from django.http import FileResponse


class PooledASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self._pool = ThreadPoolExecutor(max_workers=settings.WEB_THREADS, thread_name_prefix="http")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        # No per-request ThreadSensitiveContext: the request's sync work runs in one pool thread,
        # so there is nothing for such a context to keep together (and it would start a thread).
        await self.handle(scope, receive, send)

    async def run_get_response(self, request):
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(self._pool, self._get_response_in_thread, request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response

    def _get_response_in_thread(self, request):
        close_old_connections()
        try:
            return self.get_response(request)
        finally:
            close_old_connections()


def get_asgi_application() -> PooledASGIHandler:
    """As django.core.asgi.get_asgi_application, with the pooled handler."""
    import django

    django.setup(set_prefix=False)
    return PooledASGIHandler()
