"""The asyncio Kafka listener: accepts connections and answers Kafka requests.

Invariants: a connection's requests are answered in request order. Its plain Produce requests
(neither idempotent nor transactional) are read ahead and handled concurrently, up to
BROKER_KAFKA_MAX_INFLIGHT_PER_CONNECTION of them, so that they share group commits; their records
still land in every partition in request order, as Kafka's one-request-at-a-time handling gives
(log/ordering.py). Every other request is handled alone, after everything before it is answered
and before the next frame is read, as Kafka does: those change the session (SASL), read what
earlier requests wrote, or rely on sequence numbers (idempotent producers). A connection
authenticates (SASL/PLAIN, apis/sasl.py) before it may send anything but ApiVersions, unless
anonymous clients are allowed.
A connection that holds the listener without sending (idle past connections.max.idle.ms; stalled
inside a frame or before authenticating) is closed, and one address has at most
max.connections.per.ip open.
The event loop never touches the database: handlers run ORM/service code in a bounded thread
pool. A client that breaks the protocol loses its connection with one log line; everybody else
keeps being served.
"""

import asyncio
import functools
import logging
import socket
import ssl
import struct
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import DataError, InterfaceError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from brokercore.cluster.read import kafka_security_protocol
from brokercore.kafka import apis
from brokercore.kafka.apis import sasl
from brokercore.kafka.apis.registry import HANDLERS, Api, Node, RequestContext, RunSync, run_sync
from brokercore.kafka.protocol import (
    API_VERSIONS,
    ProtocolError,
    RequestHeader,
    frame_length,
    header_peek,
    request_decode,
    response_encode,
)
from brokercore.log import ordering

logger = logging.getLogger(__name__)

_WILDCARD_HOSTS = {"", "0.0.0.0", "::"}
# A client that connects and does not finish its TLS handshake is closed after this long (what
# asyncio uses by default).
TLS_HANDSHAKE_TIMEOUT_S = 60.0
PRODUCE = 0


async def _read(reader: asyncio.StreamReader, n: int, timeout_s: float, what: str) -> bytes:
    """Exactly n bytes, each read within timeout_s of the one before (a slow link sending a large
    frame is not cut off, a stalled one is): ProtocolError naming `what` when one is not."""
    chunks, got = [], 0
    while got < n:
        try:
            async with asyncio.timeout(timeout_s):
                chunk = await reader.read(n - got)
        except TimeoutError:
            raise ProtocolError(f"{what}: nothing received for {timeout_s:g} s") from None
        if not chunk:
            raise asyncio.IncompleteReadError(b"".join(chunks), n)
        chunks.append(chunk)
        got += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _advertised_host(bind_host: str) -> str:
    configured = settings.BROKER["KAFKA_ADVERTISED_HOST"]
    if configured:
        return configured
    # Like Kafka with a wildcard listener and no advertised.listeners: the machine's name.
    return socket.getfqdn() if bind_host in _WILDCARD_HOSTS else bind_host


class ListenerConfigError(Exception):
    """The listener's configuration cannot work (a TLS certificate that does not load)."""


class KafkaListener:
    """Kafka's protocol on host:port, advertised to clients as advertised_host:advertised_port;
    over TLS when given a certificate (`tls_cert`, `tls_key`: PEM files, default BROKER_KAFKA_TLS_*)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9092,
        advertised_host: str | None = None,
        advertised_port: int | None = None,
        node_id: int | None = None,
        *,
        workers: int | None = None,
        allow_anonymous: bool | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.advertised_host = advertised_host
        self.advertised_port = advertised_port
        self.node_id = settings.BROKER["NODE_ID"] if node_id is None else node_id
        self.workers = workers or settings.BROKER["KAFKA_WORKER_THREADS"]
        self.max_request_bytes = settings.BROKER["KAFKA_MAX_REQUEST_BYTES"]
        self.max_inflight = max(1, settings.BROKER["KAFKA_MAX_INFLIGHT_PER_CONNECTION"])
        self.allow_anonymous = settings.BROKER["KAFKA_ALLOW_ANONYMOUS"] if allow_anonymous is None else allow_anonymous
        self.tls_cert = settings.BROKER["KAFKA_TLS_CERT"] if tls_cert is None else tls_cert
        self.tls_key = (settings.BROKER["KAFKA_TLS_KEY"] if tls_key is None else tls_key) or None
        self.node: Node | None = None
        self._server: asyncio.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._tls: ssl.SSLContext | None = None
        self._connections: set[asyncio.Task] = set()
        # Kafka's connections.max.idle.ms; and how long a frame begun, or a connection that has not
        # authenticated, may go without sending a byte (Kafka leaves both to the idle timeout).
        self.idle_timeout_s = settings.BROKER["KAFKA_CONNECTIONS_MAX_IDLE_MS"] / 1000
        self.stall_timeout_s = settings.BROKER["KAFKA_REQUEST_STALL_TIMEOUT_MS"] / 1000
        # Kafka's max.connections.per.ip (0: no limit).
        self.max_connections_per_ip = settings.BROKER["KAFKA_MAX_CONNECTIONS_PER_IP"]
        self._per_ip: dict[str, int] = {}

    @property
    def bootstrap(self) -> str:
        """host:port clients should bootstrap from (the advertised address)."""
        assert self.node is not None, "the listener is not started"
        return f"{self.node.host}:{self.node.port}"

    @property
    def client_settings(self) -> str:
        """What a client sets to connect, for start-up lines."""
        protocol = kafka_security_protocol(self.allow_anonymous, bool(self.tls_cert))
        trust = " ssl.ca.location=<the CA that signed BROKER_KAFKA_TLS_CERT>" if self.tls_cert else ""
        if self.allow_anonymous:
            return f"security.protocol={protocol}{trust} (anonymous clients allowed)"
        return f"security.protocol={protocol} sasl.mechanism=PLAIN{trust} (a console username and an API token or password)"

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.tls_cert:
            return None
        # The standard library's server defaults: TLS 1.2 at least, its vetted ciphers, no client
        # certificates (clients authenticate with SASL/PLAIN inside the encrypted connection).
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except (OSError, ssl.SSLError) as e:
            files = self.tls_cert + (f" and key {self.tls_key}" if self.tls_key else "")
            raise ListenerConfigError(f"Cannot load the Kafka listener's TLS certificate {files}: {e}") from None
        return context

    async def start(self) -> None:
        """Bind and start accepting on the running loop (port 0 picks a free port)."""
        apis.load()
        self._tls = self._tls_context()
        self._worker_connections: list[BaseDatabaseWrapper] = []
        self._executor = ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="kafka-db", initializer=self._worker_start
        )
        # Plain TCP even with TLS on: _serve starts TLS itself, so that a failed handshake is
        # logged (asyncio's server-side TLS drops those silently outside its debug mode).
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        bound_port = self._server.sockets[0].getsockname()[1]
        self.node = Node(
            node_id=self.node_id,
            host=self.advertised_host or _advertised_host(self.host),
            port=self.advertised_port or bound_port,
            rack=settings.BROKER["KAFKA_RACK"] or None,
        )
        self.port = bound_port
        logger.info("Kafka listener on %s:%s, advertised as %s (node %s)", self.host, bound_port, self.bootstrap, self.node_id)

    async def stop(self) -> None:
        """Stop accepting, close every connection, release the worker threads' connections."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._executor is not None:
            executor, self._executor = self._executor, None
            wrappers, self._worker_connections = self._worker_connections, []
            await asyncio.get_running_loop().run_in_executor(None, _executor_close, executor, wrappers)

    def _worker_start(self) -> None:
        """In each new worker thread: remember its (thread-local) database connection wrappers."""
        self._worker_connections.extend(connections.all())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection, unless its address has max.connections.per.ip open already: then it is
        closed at once, as Kafka's acceptor does."""
        peer = writer.get_extra_info("peername") or ("?", 0)
        host = peer[0]
        if self.max_connections_per_ip and self._per_ip.get(host, 0) >= self.max_connections_per_ip:
            logger.warning("Kafka listener: refusing a connection from %s: it has %s open (max.connections.per.ip)",
                           host, self.max_connections_per_ip)
            writer.close()
            return
        self._per_ip[host] = self._per_ip.get(host, 0) + 1
        try:
            await self._connection(reader, writer, peer)
        finally:
            self._per_ip[host] -= 1
            if not self._per_ip[host]:
                del self._per_ip[host]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: tuple) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        session = sasl.Session(
            allow_anonymous=self.allow_anonymous, peer=f"{peer[0]}:{peer[1]}", host=peer[0] if peer[0] != "?" else None,
            tls=bool(self.tls_cert),
        )
        in_worker = functools.partial(run_sync, self._executor)  # the connection's database work
        pipeline = _Pipeline(writer, max_requests=self.max_inflight, max_bytes=self.max_request_bytes)
        # Until TLS is up: a handshake that fails or is cancelled leaves the stream's protocol
        # never told the connection was lost (asyncio's SSLProtocol), so wait_closed() would wait
        # forever; start_tls has closed the socket by then anyway.
        handshaking = self._tls is not None
        try:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                try:
                    # Our own deadline (a TimeoutError to name), before asyncio's (which aborts
                    # with a ConnectionAbortedError that reads like a hang-up).
                    async with asyncio.timeout(TLS_HANDSHAKE_TIMEOUT_S):
                        await writer.start_tls(self._tls, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S + 10)
                except (OSError, TimeoutError) as e:  # ssl.SSLError is an OSError
                    why, level = _tls_failure(e)
                    logger.log(level, "Kafka listener: TLS handshake with %s:%s failed: %s", peer[0], peer[1], why)
                    return
                handshaking = False
            try:
                try:
                    while await self._next(reader, writer, session, peer[0], in_worker, pipeline):
                        pass
                except (ProtocolError, asyncio.IncompleteReadError):
                    # The requests before the one that broke the protocol are answered first.
                    await pipeline.drain()
                    raise
            except asyncio.CancelledError:
                if pipeline.error is None:
                    raise  # the listener is stopping
                # A pipelined request failed: after the answers before it, the connection closes
                # as it would have had the request been handled alone.
                task.uncancel()
                raise pipeline.error from None
        except ProtocolError as e:
            logger.warning("Kafka listener: closing connection from %s:%s: %s", peer[0], peer[1], e)
        except asyncio.IncompleteReadError:
            logger.warning("Kafka listener: connection from %s:%s closed inside a request", peer[0], peer[1])
        except (ConnectionError, asyncio.CancelledError):
            pass
        except (OperationalError, InterfaceError) as e:
            # The database is unreachable (restarting, cut off): closing the connection is what a
            # client takes as retriable; it reconnects and resends, idempotent batches once.
            logger.warning("Kafka listener: closing connection from %s:%s: database unavailable: %s", peer[0], peer[1],
                           str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
        except DataError as e:
            # The database refused a value the request carried (a NUL in a group id on PostgreSQL,
            # say): the client's input, not a broker fault, so one line as for protocol errors.
            logger.warning("Kafka listener: closing connection from %s:%s: the database refused a value of its request: %s",
                           peer[0], peer[1], str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
        except Exception:
            logger.exception("Kafka listener: closing connection from %s:%s after an unexpected error", peer[0], peer[1])
        finally:
            await pipeline.close()
            self._connections.discard(task)
            if not handshaking:
                writer.close()
                try:
                    await writer.wait_closed()
                except (OSError, asyncio.CancelledError):  # how the connection ended, told above if at all
                    pass

    async def _next(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, session: sasl.Session, client_host: str,
        in_worker: RunSync, pipeline: "_Pipeline",
    ) -> bool:
        """Read one request and handle it, or hand it to the pipeline; False when the connection
        is done (the client hung up between requests, or the session asks to close)."""
        try:
            # Between requests a connection may idle for connections.max.idle.ms, but one that has
            # not authenticated, or has begun a frame, must keep sending.
            if session.limited:
                first = await _read(reader, 1, self.stall_timeout_s, "no authentication")
            else:
                try:
                    first = await _read(reader, 1, self.idle_timeout_s, "idle")
                except ProtocolError:
                    await pipeline.drain()
                    logger.info("Kafka listener: closing connection from %s: idle for connections.max.idle.ms",
                                session.peer)
                    return False
            prefix = first + await _read(reader, 3, self.stall_timeout_s, "a frame's length stalled")
        except asyncio.IncompleteReadError as e:
            await pipeline.drain()  # what the client sent before hanging up is still handled
            if e.partial:
                raise ProtocolError("connection closed inside a frame's length") from None
            return False
        if session.limited:
            size = frame_length(prefix, max_bytes=min(sasl.MAX_RECEIVE_SIZE, self.max_request_bytes),
                                limit="sasl.server.max.receive.size", header=session.state is not sasl.State.TOKEN)
        else:
            size = frame_length(prefix, max_bytes=self.max_request_bytes)
        # Buffer no more than the limits allow: the frames in flight stay within one request's
        # bytes, unless this one is alone.
        await pipeline.room(size)
        frame = await _read(reader, size, self.stall_timeout_s, "a request frame stalled")
        if session.state is sasl.State.TOKEN:
            await pipeline.drain()
            response = await sasl.token_exchange(session, frame, in_worker)
        else:
            if session.recheck_due:
                await sasl.session_recheck(session, in_worker)
            decoded = self._decode(frame, session)
            if isinstance(decoded, bytes):
                await pipeline.drain()
                response = decoded
            else:
                api, header, request = decoded
                if self.max_inflight > 1 and _pipelines(header, request):
                    places = [(t.name, p.index) for t in request.topic_data for p in t.partition_data]
                    pipeline.submit(lambda executor: self._handle(api, header, request, client_host, session, executor),
                                    self._executor, size, places)
                    return True
                await pipeline.drain()
                response = await self._handle(api, header, request, client_host, session, self._executor)
        if response:
            writer.write(response)
            await writer.drain()
        if session.close:
            await _linger(reader)
            return False
        return True

    def _decode(self, frame: bytes, session: sasl.Session) -> tuple[Api, RequestHeader, Any] | bytes:
        """The request's handler, header and payload, on the event loop (it reads no database), or
        the answer that needs no handler."""
        peek = header_peek(frame)
        session.admit(peek.api_key)
        api = HANDLERS.get(peek.api_key)
        if api is None:
            raise ProtocolError(f"unknown API key {peek.api_key}")
        if not api.supports(peek.api_version):
            if peek.api_key == API_VERSIONS:
                # Kafka answers an ApiVersions request it cannot parse with UNSUPPORTED_VERSION in
                # a v0 response that lists its ranges, so the client retries with a version it has.
                from brokercore.kafka.apis.meta import api_versions_unsupported

                return response_encode(peek.correlation_id, api_versions_unsupported())
            raise ProtocolError(
                f"unsupported version {peek.api_version} of API key {peek.api_key} "
                f"(supported {api.min_version}..{api.max_version})"
            )
        header, request = request_decode(frame)
        return api, header, request

    async def _handle(
        self, api: Api, header: RequestHeader, request: Any, client_host: str, session: sasl.Session,
        executor: Executor | None,
    ) -> bytes | None:
        ctx = RequestContext(
            api_key=header.api_key,
            api_version=header.api_version,
            correlation_id=header.correlation_id,
            client_id=header.client_id,
            client_host=client_host,
            node=self.node,
            session=session,
            executor=executor,
        )
        response = await api(ctx, request)
        if response is None:
            return None
        return response_encode(header.correlation_id, response)


# A v2 record batch's producer id: after baseOffset (8), batchLength (4), partitionLeaderEpoch (4),
# magic (1), crc (4), attributes (2), lastOffsetDelta (4), baseTimestamp and maxTimestamp (8 each).
_MAGIC_AT = 16
_PRODUCER_ID = struct.Struct(">q")
_PRODUCER_ID_AT = 43


def _pipelines(header: RequestHeader, request: Any) -> bool:
    """Whether a request may be handled beside the connection's other requests in flight: a plain
    Produce request, whose records group commit places in request order. Not an idempotent or
    transactional producer's (its sequence numbers are checked one batch after the other, under
    the partition lock, outside group commit), nor one whose batches the handler must refuse
    (handled alone, as any other request, it answers as before)."""
    if header.api_key != PRODUCE or getattr(request, "transactional_id", None) is not None:
        return False
    if not settings.BROKER["GROUP_COMMIT"]:  # appends would not keep request order without it
        return False
    for topic in request.topic_data:
        for part in topic.partition_data:
            records = part.records
            if (records is None or len(records) < _PRODUCER_ID_AT + _PRODUCER_ID.size or records[_MAGIC_AT] != 2
                    or _PRODUCER_ID.unpack_from(records, _PRODUCER_ID_AT)[0] != -1):
                return False
    return True


class _Pipeline:
    """A connection's requests in flight: each handled by its own task as soon as it is read, and
    answered by one writer task strictly in request order. The first request that fails (in
    order) ends the connection after the answers before it: the writer cancels the connection's
    task, which raises `error`."""

    def __init__(self, writer: asyncio.StreamWriter, *, max_requests: int, max_bytes: int) -> None:
        self.writer = writer
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.lane = ordering.Lane()
        self.error: BaseException | None = None
        self._pending: deque[tuple[asyncio.Task, int]] = deque()  # (the request's task, its frame's size)
        self._bytes = 0
        self._serving = asyncio.current_task()
        self._writing: asyncio.Task | None = None
        self._answered: asyncio.Future | None = None  # the reader waits: resolved when one is answered
        self._submitted: asyncio.Future | None = None  # the writer waits: resolved when one arrives

    def submit(
        self, handle: "Callable[[Executor], Coroutine[Any, Any, bytes | None]]", executor: Executor | None, size: int,
        places: list[tuple[str, int]],
    ) -> None:
        """Start handling a request now: `handle(executor)` runs its database work as the lane's
        next turn, so its appends to `places` (topic, partition) follow those of every request
        submitted before."""
        turn = self.lane.turn(places)
        task = asyncio.get_running_loop().create_task(handle(ordering.TurnExecutor(executor, turn)))
        # A task cancelled before it handed its work to the pool never will: later turns must not
        # wait for it. (Once handed over, the pool's future finishes the turn.)
        task.add_done_callback(lambda _: None if turn.submitted else turn.finish())
        self._pending.append((task, size))
        self._bytes += size
        if self._writing is None:
            self._writing = asyncio.get_running_loop().create_task(self._write())
            self._writing.add_done_callback(self._write_ended)
        _resolve(self._submitted)

    async def room(self, size: int) -> None:
        """Wait until a request of `size` bytes may be read: fewer than max_requests in flight and
        max_bytes buffered (or none in flight)."""
        while self._pending and (len(self._pending) >= self.max_requests or self._bytes + size > self.max_bytes):
            await self._wait_answered()

    async def drain(self) -> None:
        """Wait until every request in flight is answered."""
        while self._pending:
            await self._wait_answered()

    async def _wait_answered(self) -> None:
        self._answered = asyncio.get_running_loop().create_future()
        await self._answered

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                self._submitted = loop.create_future()
                await self._submitted
            task, size = self._pending[0]
            response = await task
            if response:
                self.writer.write(response)
            self._pending.popleft()
            self._bytes -= size
            # Answers already computed go out together; then wait for the socket to take them.
            if not (self._pending and self._pending[0][0].done()):
                await self.writer.drain()
            _resolve(self._answered)

    def _write_ended(self, writing: asyncio.Task) -> None:
        if writing.cancelled():
            return
        self.error = writing.exception()
        if self.error is not None and self._serving is not None:
            self._serving.cancel()

    async def close(self) -> None:
        """Stop handling and answering (the connection is closing)."""
        tasks = [task for task, _ in self._pending]
        if self._writing is not None:
            tasks.append(self._writing)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _resolve(future: asyncio.Future | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


async def _linger(reader: asyncio.StreamReader, seconds: float = 1.0) -> None:
    """Before closing after a final answer (a failed authentication), give the client up to
    `seconds` to read it and hang up first. Some clients (kafka-python 3) take an end-of-stream
    that arrives with the answer for a bare disconnect and never show the answer's error."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
    except (OSError, TimeoutError):
        pass


def _executor_close(executor: ThreadPoolExecutor, wrappers: list[BaseDatabaseWrapper]) -> None:
    """Shut the workers down, then close the database connections they left open: connections are
    per thread and the threads are gone (an open one would, e.g., keep PostgreSQL from dropping a
    test database)."""
    executor.shutdown(wait=True)
    for wrapper in wrappers:
        wrapper.inc_thread_sharing()
        try:
            wrapper.close()
        finally:
            wrapper.dec_thread_sharing()


def _tls_failure(e: BaseException) -> tuple[str, int]:
    """Why a TLS handshake failed, in the words an operator acts on, and how loudly to log it: a
    client that hangs up before finishing (a TCP health check, a port scan) is routine."""
    if isinstance(e, TimeoutError):
        return f"no handshake within {TLS_HANDSHAKE_TIMEOUT_S:g} s", logging.WARNING
    reason = getattr(e, "reason", None) or ""
    if reason in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "UNSUPPORTED_PROTOCOL", "RECORD_LAYER_FAILURE"):
        return f"the client does not speak TLS ({reason}): it should set security.protocol=SASL_SSL", logging.WARNING
    if reason.endswith(("ALERT_UNKNOWN_CA", "ALERT_BAD_CERTIFICATE", "ALERT_CERTIFICATE_UNKNOWN")):
        return (f"the client does not trust this listener's certificate ({reason}): give it the CA in ssl.ca.location",
                logging.WARNING)
    if isinstance(e, ConnectionError) or reason == "UNEXPECTED_EOF_WHILE_READING":
        return "the client closed the connection during the handshake", logging.INFO
    return str(e) or type(e).__name__, logging.WARNING


class ListenerThread:
    """A listener on its own event loop in a daemon thread (tests; code without a running loop)."""

    def __init__(self, listener: KafkaListener) -> None:
        self.listener = listener
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="kafka-listener", daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.listener.start())
        except BaseException as e:
            self._error = e
            self._started.set()
            return
        self._started.set()
        self.loop.run_forever()
        self.loop.close()

    def start(self, timeout: float = 10) -> "ListenerThread":
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError("the Kafka listener did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 10) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.listener.stop(), self.loop).result(timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
