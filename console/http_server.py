"""Request-body limits enforced by the HTTP server itself, before a body is read.

Daphne (through Twisted) reads a request's whole body before it starts the application, then
queues all of it in memory for the application to receive: no ASGI middleware or Django setting
(DATA_UPLOAD_MAX_MEMORY_SIZE applies after that) can stop a client from making the server hold
half a gigabyte. So the checks run in Twisted's request, as soon as the headers are in:

- a Content-Length over the limit is answered 413 at once, and the connection closed unread;
- a streamed (chunked) body is counted as it arrives and refused the same way at the limit;
- a body sent without credentials (no Authorization header, no session cookie) to anything but
  the login pages is refused 401 (REST) or 403 (console) before it is read: every endpoint that
  takes a body needs a logged-in caller, so nothing else could come of reading it.

The limit is settings.REST["MAX_BODY_BYTES"] (DATA_UPLOAD_MAX_MEMORY_SIZE is the same). Only the
refusal happens here; authentication itself stays in Django (console.api.auth, sessions).
"""

import json
from collections.abc import Iterable
from http import HTTPStatus

from daphne.http_protocol import HTTPFactory, WebRequest
from django.conf import settings
from django.urls import reverse
from twisted.internet.interfaces import IAddress
from twisted.web.http import HTTPChannel

from console.api.errors import TOO_LARGE, UNAUTHORIZED

REST_ROOT = b"/rest/"


def _anonymous_body_allowed(path: bytes) -> bool:
    """Where a caller without credentials may send a body: the login forms (and REST with
    REST_ALLOW_ANONYMOUS)."""
    if path.startswith(REST_ROOT):
        return settings.REST["ALLOW_ANONYMOUS"]
    return path.decode("latin-1") in {reverse("login"), reverse("admin:login")}


def refusal(
    *, path: bytes, length: int | None, headers: Iterable[tuple[bytes, list[bytes]]]
) -> tuple[int, str, dict[str, str]] | None:
    """(status, message, extra headers) if the request must be refused before its body is read;
    `length` is the Content-Length, None for a chunked body."""
    limit = settings.REST["MAX_BODY_BYTES"]
    if length is not None and length > limit:
        return 413, f"The request body is {length} bytes; the limit is {limit}.", {}
    if length == 0:
        return None
    path = path.split(b"?", 1)[0]
    names = {name.lower(): b";".join(values) for name, values in headers}
    if b"authorization" in names or _anonymous_body_allowed(path):
        return None
    cookie = settings.SESSION_COOKIE_NAME.encode()
    if any(c.strip().split(b"=", 1)[0] == cookie for c in names.get(b"cookie", b"").split(b";")):
        return None
    if path.startswith(REST_ROOT):
        return (
            401,
            "Authentication required: send 'Authorization: Bearer <token>' (or basic auth, or log in to the console).",
            {"WWW-Authenticate": 'Bearer realm="kafka-console"'},
        )
    return 403, "Log in first: this page takes no data from a caller who is not logged in.", {}


def _response(path: bytes, status: int, message: str, headers: dict[str, str]) -> bytes:
    if path.startswith(REST_ROOT):
        code = {413: TOO_LARGE, 401: UNAUTHORIZED}[status]
        body, content_type = json.dumps({"error_code": code, "message": message}).encode(), "application/json"
    else:
        body, content_type = message.encode(), "text/plain; charset=utf-8"
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}", "Connection: close",
            *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class LimitedWebRequest(WebRequest):
    """Daphne's request, refusing a body it must not read (see the module docstring)."""

    refused = False
    received = 0

    def gotLength(self, length: int | None) -> None:
        self.refuse_if(refusal(path=self.channel._path, length=length, headers=self.requestHeaders.getAllRawHeaders()))
        if not self.refused:
            super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        self.received += len(data)
        limit = settings.REST["MAX_BODY_BYTES"]
        if self.received > limit:
            self.refuse_if((413, f"The request body is over the limit of {limit} bytes.", {}))
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        # What arrived in the same read as a refused request's end is not served.
        if not self.refused:
            super().requestReceived(command, path, version)

    def refuse_if(self, answer: tuple[int, str, dict[str, str]] | None) -> None:
        """Answer and close the connection without reading on; the client gets the answer even
        while it is still sending (it reads it when its write fails or, with Expect:
        100-continue, before it sends anything)."""
        if answer is None:
            return
        self.refused = True
        self.content = None
        # Twisted would otherwise send 100 Continue after the refusal.
        self.requestHeaders.removeHeader(b"Expect")
        transport = self.channel.transport
        transport.write(_response(self.channel._path, *answer))
        transport.loseConnection()


class LimitedHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr: IAddress) -> HTTPChannel:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = LimitedWebRequest
        return protocol
