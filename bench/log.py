"""Log: produce and fetch throughput (issues 2 and 15), against a raw COPY / raw SELECT of the
same record-batch rows.

The log is stored as Kafka stores it, one `brokercore_recordbatch` row per record batch. Two
append paths and two read paths are measured:

Produce, console/REST/CLI path: `records_append` on an 8-partition topic, keyed records (16-byte
random keys, so the Kafka partitioner spreads a call over all partitions; 100-byte random values,
no headers, acks=all), one call per batch of 1, 100 or 1000 records; it encodes one record batch
per partition. Kafka path: what the Produce API does with one partition's batch, `producer_batch`
(Kafka's checks of a producer's batch) then `batch_append` (stored as it came), for pre-built
uncompressed producer batches of 1, 100 or 1000 records, one partition per call, cycling over
the 8 partitions. Raw baseline: the same batch rows (same partition ids, columns and bytes, the
base offset written into each batch) written into `bench_raw_recordbatch`, a copy of
`brokercore_recordbatch` with all its indexes and constraints, by binary COPY (PostgreSQL) or
executemany (SQLite), one acks=all-durable transaction per call, offsets counted in Python.

Fetch: one-partition logs written through the Kafka path in batches of 100 and 1000 records, read
from offset 0 to the high watermark by `records_fetch` (records decoded, pages of 500 and 5000
records) and by `records_fetch_many` (Kafka's Fetch: stored batch bytes, 1 MiB per partition),
against a raw `SELECT data ... ORDER BY last_offset LIMIT n` over the primary key range of the
same batches.

Multi-process: 4 forked processes calling `records_append` with batches of 100 for a fixed time,
on one shared topic (they contend for the same partition rows), on one topic each, and the raw
baseline.
"""

import cProfile
import io
import multiprocessing
import pstats
import random
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from time import perf_counter

from bench.common import backend_label, fmt_int, fmt_ms, fmt_ratio, machine_markdown, median, progress, table

NAME = "log"
TITLE = "Log: produce and fetch (issues 2 and 15)"
# Issue 15: produce >= 0.8x a raw COPY of the same batches, fetch >= 0.8x a raw SELECT of the same bytes.
TARGET_RATIO = 0.8
TARGET_BATCHES = (100, 1000)
RAW_TABLE = "bench_raw_recordbatch"
PATHS = ("records_append", "kafka")
PATH_LABELS = {"records_append": "records_append", "kafka": "Kafka: producer_batch + batch_append"}
# The Produce API's version the Kafka path's batches are checked as (any of 3..11 checks alike
# for uncompressed batches).
PRODUCE_VERSION = 9
# Kafka consumers' defaults: max.partition.fetch.bytes 1 MiB, fetch.max.bytes 50 MiB.
PARTITION_FETCH_BYTES = 1 << 20
FETCH_MAX_BYTES = 50 << 20


@dataclass(frozen=True)
class Config:
    partitions: int = 8
    key_bytes: int = 16
    value_bytes: int = 100
    pool: int = 10_000  # distinct records, cycled through
    batch_sizes: tuple = (1, 100, 1000)
    rounds: int = 3  # broker and raw alternate, this many times each; the median round counts
    round_records: tuple = ((1, 2_000), (100, 30_000), (1000, 60_000))
    round_cap_s: float = 3.0  # a round stops after this long even if short of its record count
    fetch_records: int = 100_000
    fetch_batches: tuple = (100, 1000)  # records per stored batch of each fetched log
    fetch_pages: tuple = (500, 5000)
    fetch_sweeps: int = 3
    mp_procs: int = 4
    mp_batch: int = 100
    mp_seconds: float = 4.0


QUICK = Config(
    pool=2_000, rounds=1, round_records=((1, 200), (100, 2_000), (1000, 4_000)), round_cap_s=0.5,
    fetch_records=5_000, fetch_sweeps=1, mp_seconds=1.0,
)


# --- Data ------------------------------------------------------------------------------------


def _pool(cfg: Config):
    """(RecordIn list, [(partition index, key, value)]) with the partitioner's choice."""
    from brokercore.partitioner import partition_for_key
    from brokercore.types import RecordIn

    rnd = random.Random(2)
    records, placed = [], []
    for _ in range(cfg.pool):
        key, value = rnd.randbytes(cfg.key_bytes), rnd.randbytes(cfg.value_bytes)
        records.append(RecordIn(key=key, value=value))
        placed.append((partition_for_key(key, cfg.partitions), key, value))
    return records, placed


def _batches(items: list, size: int) -> list[list]:
    n = max(1, len(items) // size)
    return [items[i * size : (i + 1) * size] for i in range(n)]


# A batch row before its offsets are known: partition id, span, max timestamp, record count,
# record bytes, attributes, producer id, producer epoch, base sequence, batch bytes.
Template = tuple[int, int, int, int, int, int, int, int, int, bytes]


def _append_templates(placed: list, size: int, partition_ids: list[int]) -> list[list[Template]]:
    """What `records_append` writes for each call of `size` records: one uncompressed batch per
    partition the call's records land in, in partition id order, as its storage does."""
    from brokercore.log.batch import batch_build

    ts = int(time.time() * 1000)
    out = []
    for call in _batches(placed, size):
        groups: dict[int, list] = defaultdict(list)
        for idx, key, value in call:
            groups[partition_ids[idx]].append((ts, key, value, ()))
        out.append([
            (pid, len(rows), ts, len(rows), sum(len(k) + len(v) for _, k, v, _ in rows), 0, -1, -1, -1, batch_build(rows))
            for pid, rows in sorted(groups.items())
        ])
    return out


def _producer_batches(placed: list, size: int, partitions: int) -> list[tuple[int, bytes]]:
    """(partition index, batch bytes) as a non-idempotent Kafka producer sends them: `size`
    records of one partition per batch, uncompressed, timestamped by the client; one batch per
    slice of the pool, partitions taken in turn."""
    from brokercore.log.batch import batch_build

    ts = int(time.time() * 1000)
    out = []
    for i, call in enumerate(_batches(placed, size)):
        rows = [(ts + j // 50, key, value, ()) for j, (_, key, value) in enumerate(call)]
        out.append((i % partitions, batch_build(rows)))
    return out


def _kafka_templates(batches: list[tuple[int, bytes]], partition_ids: list[int]) -> list[list[Template]]:
    """The rows `batch_append` stores for each producer batch: its bytes as sent, and the index
    columns `producer_batch` reads from it (done here, outside the raw baseline's timing)."""
    from brokercore.log.batch import producer_batch

    out = []
    for idx, data in batches:
        b = producer_batch(data, version=PRODUCE_VERSION, max_uncompressed=1 << 30)
        out.append([(
            partition_ids[idx], b.span, b.max_timestamp, b.count, b.size, b.attributes, b.producer_id, b.producer_epoch,
            b.base_sequence, b.data,
        )])
    return out


# --- Raw baseline ----------------------------------------------------------------------------


def raw_table_create() -> None:
    """`bench_raw_recordbatch`: brokercore_recordbatch's shape, indexes and constraints, empty."""
    from django.db import connection

    from brokercore.log.storage.meta import BATCH_TABLE

    with connection.cursor() as c:
        c.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        if connection.vendor == "postgresql":
            c.execute(f"CREATE TABLE {RAW_TABLE} (LIKE {BATCH_TABLE} INCLUDING ALL)")
            return
        c.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = %s AND sql IS NOT NULL", [BATCH_TABLE])
        objects = c.fetchall()
        for kind, _name, sql in sorted(objects, key=lambda o: o[0] != "table"):
            if kind == "table":
                sql = sql.replace(f'"{BATCH_TABLE}"', f'"{RAW_TABLE}"', 1)
            else:
                sql = re.sub(
                    r'^CREATE (UNIQUE )?INDEX "([^"]+)" ON "' + re.escape(BATCH_TABLE) + '"',
                    lambda m: f'CREATE {m.group(1) or ""}INDEX "bench_raw_{m.group(2)}" ON "{RAW_TABLE}"',
                    sql,
                )
            c.execute(sql)


class RawWriter:
    """Writes batch rows into the raw table the fastest plain way: binary COPY / executemany."""

    # The storage's own column list, so the raw rows are the broker's rows.
    TYPES = ("int8", "int8", "int8", "int8", "int4", "int4", "int2", "int8", "int2", "int4", "bytea")

    def __init__(self) -> None:
        from django.db import connection

        from brokercore.log.storage.meta import BATCH_COLUMNS

        self.connection = connection
        cols = ", ".join(f'"{c}"' for c in BATCH_COLUMNS)
        self.pg = connection.vendor == "postgresql"
        self.copy_sql = f"COPY {RAW_TABLE} ({cols}) FROM STDIN (FORMAT BINARY)"
        self.insert_sql = f"INSERT INTO {RAW_TABLE} ({cols}) VALUES ({', '.join('?' * len(BATCH_COLUMNS))})"
        self.offsets: dict[int, int] = {}

    def write(self, templates: list[Template]) -> None:
        from django.db import transaction

        from brokercore.log.append import ACKS_ALL, acks_durability
        from brokercore.log.batch import with_base_offset

        offsets = self.offsets
        rows = []
        for pid, span, max_ts, count, size, attributes, producer_id, producer_epoch, base_sequence, data in templates:
            base = offsets.get(pid, 0)
            offsets[pid] = base + span
            rows.append((
                pid, base, base + span - 1, max_ts, count, size, attributes, producer_id, producer_epoch, base_sequence,
                with_base_offset(data, base),
            ))
        # Committed as durably as the broker's acks=all (SQLite: synchronous=FULL; PostgreSQL's
        # default synchronous_commit is that already), so the two pay for the same fsync.
        with acks_durability(ACKS_ALL, self.connection), transaction.atomic(), self.connection.cursor() as c:
            raw = c.cursor  # the driver's cursor under Django's wrapper
            if self.pg:
                with raw.copy(self.copy_sql) as copy:
                    copy.set_types(self.TYPES)
                    for row in rows:
                        copy.write_row(row)
            else:
                raw.executemany(self.insert_sql, rows)


# --- Produce ---------------------------------------------------------------------------------


def _timed(fn, batches: list, size: int, target_records: int, cap_s: float) -> dict:
    n_batches = max(1, target_records // size)
    t0 = perf_counter()
    deadline = t0 + cap_s
    done = 0
    nb = len(batches)
    while done < n_batches:
        fn(batches[done % nb])
        done += 1
        if perf_counter() > deadline:
            break
    elapsed = perf_counter() - t0
    return {"records": done * size, "seconds": elapsed, "rate": done * size / elapsed}


def _kafka_produce(topic: str):
    """One partition's part of a Produce request, as the Produce API handles it."""
    from django.conf import settings

    from brokercore.log.append import batch_append
    from brokercore.log.batch import producer_batch

    limit = settings.BROKER["KAFKA_MAX_REQUEST_BYTES"]

    def fn(call: tuple[int, bytes]) -> None:
        idx, data = call
        batch = producer_batch(data, version=PRODUCE_VERSION, max_uncompressed=limit)
        batch_append(topic=topic, partition=idx, batch=batch, acks=-1)

    return fn


def produce(cfg: Config, records, placed) -> list[dict]:
    from brokercore.log.append import records_append
    from brokercore.models import Partition
    from brokercore.topics.service import topic_create

    pids = {}
    for path, topic in (("records_append", "bench-produce"), ("kafka", "bench-produce-kafka")):
        t = topic_create(name=topic, partitions=cfg.partitions)
        pids[path] = list(Partition.objects.filter(topic=t).order_by("index").values_list("id", flat=True))
    raw_table_create()
    writer = RawWriter()

    def append(batch):
        records_append(topic="bench-produce", records=batch)

    kafka = _kafka_produce("bench-produce-kafka")

    out = []
    for path in PATHS:
        for size in cfg.batch_sizes:
            target = dict(cfg.round_records)[size]
            if path == "records_append":
                fn, b_batches = append, _batches(records, size)
                r_batches = _append_templates(placed, size, pids[path])
            else:
                fn, b_batches = kafka, _producer_batches(placed, size, cfg.partitions)
                r_batches = _kafka_templates(b_batches, pids[path])
            # Warm-up: caches, prepared plans, the first pages of each table.
            _timed(fn, b_batches, size, size * 3, 1.0)
            _timed(writer.write, r_batches, size, size * 3, 1.0)
            rounds = {"broker": [], "raw": []}
            for r in range(cfg.rounds):
                order = [("broker", fn, b_batches), ("raw", writer.write, r_batches)]
                if r % 2:
                    order.reverse()
                for label, f, batches in order:
                    rounds[label].append(_timed(f, batches, size, target, cfg.round_cap_s))
            entry = {"path": path, "batch": size, "rows_per_call": median([len(t) for t in r_batches])}
            for label, rs in rounds.items():
                entry[label] = {
                    "rate": median([x["rate"] for x in rs]),
                    "rates": [x["rate"] for x in rs],
                    "records": sum(x["records"] for x in rs),
                    "seconds": sum(x["seconds"] for x in rs),
                }
            entry["ratio"] = entry["broker"]["rate"] / entry["raw"]["rate"]
            progress(
                f"  produce {path:>14} batch {size:>5}: broker {entry['broker']['rate']:>10,.0f} rec/s, "
                f"raw {entry['raw']['rate']:>10,.0f} rec/s, ratio {entry['ratio']:.2f}"
            )
            out.append(entry)
    return out


# --- Fetch -----------------------------------------------------------------------------------


def _fetch_log(cfg: Config, placed, n: int) -> tuple[str, int, int, int]:
    """A one-partition topic holding about cfg.fetch_records records in stored batches of `n`,
    written through the Kafka path: (topic, partition id, high watermark, bytes of one batch)."""
    from django.db import connection

    from brokercore.log.storage.meta import BATCH_TABLE
    from brokercore.models import Partition
    from brokercore.topics.service import topic_create

    topic = f"bench-fetch-{n}"
    t = topic_create(name=topic, partitions=1)
    pid = Partition.objects.get(topic=t, index=0).pk
    batches = [(0, data) for _, data in _producer_batches(placed, n, 1)]
    produce_one = _kafka_produce(topic)
    for i in range(-(-cfg.fetch_records // n)):
        produce_one(batches[i % len(batches)])
    hw = Partition.objects.get(pk=pid).high_watermark
    with connection.cursor() as c:
        c.execute(f"SELECT max(length(data)) FROM {BATCH_TABLE} WHERE partition_id = %s", [pid])
        batch_bytes = c.fetchone()[0]
    return topic, pid, hw, batch_bytes


def _stats_state() -> str:
    from django.db import connection

    from brokercore.log.storage.meta import BATCH_TABLE

    with connection.cursor() as c:
        if connection.vendor == "postgresql":
            c.execute("SELECT reltuples >= 0 FROM pg_class WHERE relname = %s", [BATCH_TABLE])
            return "analyzed" if c.fetchone()[0] else "never analyzed"
        c.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
        return "analyzed" if c.fetchone()[0] else "never analyzed"


def _fetch_sweeps(topic: str, pid: int, hw: int, n: int, batch_bytes: int, page: int | None):
    """(broker sweep, raw sweep) reading the log from offset 0 to `hw`; each answers (records,
    bytes). page None: Kafka's Fetch (`records_fetch_many`), else `records_fetch` in pages of
    `page` records. The raw sweep reads, per step, the batches the broker's answer needs, by
    the primary key range, rows left as the driver returns them."""
    from django.db import connection

    from brokercore.log.read import records_fetch, records_fetch_many
    from brokercore.log.storage.meta import BATCH_TABLE

    sql = (
        f"SELECT last_offset, data FROM {BATCH_TABLE} WHERE partition_id = %s AND last_offset >= %s "
        f"AND base_offset < %s ORDER BY last_offset LIMIT %s"
    )

    if page is None:
        per_fetch = max(1, PARTITION_FETCH_BYTES // batch_bytes)

        def broker():
            offset, size = 0, 0
            while offset < hw:
                got = records_fetch_many(requests=[(topic, 0, offset, PARTITION_FETCH_BYTES)], max_bytes=FETCH_MAX_BYTES)
                res = got.results[0]
                size += len(res.data)
                offset = res.next_offset
            return hw, size

        def raw():
            # As the broker reads them: on PostgreSQL bytea in binary (text would send the bytes
            # as hex, twice the size, and the comparison would flatter the broker).
            offset, size = 0, 0
            if connection.vendor == "postgresql":
                import psycopg

                connection.ensure_connection()
                with psycopg.Cursor(connection.connection) as c:
                    while offset < hw:
                        c.execute(sql, [pid, offset, hw, per_fetch], binary=True, prepare=True)
                        rows = c.fetchall()
                        size += sum(len(d) for _, d in rows)
                        offset = rows[-1][0] + 1
                return hw, size
            with connection.cursor() as c:
                while offset < hw:
                    c.execute(sql, [pid, offset, hw, per_fetch])
                    rows = c.fetchall()
                    size += sum(len(d) for _, d in rows)
                    offset = rows[-1][0] + 1
            return hw, size

        return broker, raw

    def broker():
        offset, count = 0, 0
        while offset < hw:
            res = records_fetch(topic=topic, partition=0, offset=offset, max_records=page, max_bytes=1 << 30)
            count += len(res.records)
            offset = res.next_offset
        return count, 0

    def raw():
        # The same steps as the broker's (offset += page), each reading exactly the batches
        # that hold [offset, offset + page): the batches are aligned at multiples of n.
        offset, size = 0, 0
        with connection.cursor() as c:
            while offset < hw:
                need = (min(offset + page, hw) - 1) // n - offset // n + 1
                c.execute(sql, [pid, offset, hw, need])
                rows = c.fetchall()
                size += sum(len(d) for _, d in rows)
                offset = min(offset + page, hw)
        return hw, size

    return broker, raw


def fetch(cfg: Config, placed) -> list[dict]:
    from django.db import connection

    logs = [(n, *_fetch_log(cfg, placed, n)) for n in cfg.fetch_batches]
    out = []
    # First as a fresh database is (autovacuum has not analyzed the new rows yet), then after
    # ANALYZE: on PostgreSQL the plan of the range query depends on the table's statistics.
    for phase in ("fresh", "analyzed"):
        if phase == "analyzed":
            with connection.cursor() as c:
                c.execute("ANALYZE")
        for n, topic, pid, hw, batch_bytes in logs:
            for path, page in [("records_fetch", p) for p in cfg.fetch_pages] + [("records_fetch_many", None)]:
                broker, raw = _fetch_sweeps(topic, pid, hw, n, batch_bytes, page)
                entry = {
                    "path": path, "log_batch": n, "batch_bytes": batch_bytes, "page": page, "records": hw, "phase": phase,
                }
                for label, fn in (("broker", broker), ("raw", raw)):
                    rates, byte_rates = [], []
                    fn()  # warm-up sweep
                    for _ in range(cfg.fetch_sweeps):
                        t0 = perf_counter()
                        count, size = fn()
                        elapsed = perf_counter() - t0
                        rates.append(count / elapsed)
                        byte_rates.append(size / elapsed)
                    entry[label] = {"rate": median(rates), "rates": rates, "bytes_rate": median(byte_rates)}
                entry["ratio"] = entry["broker"]["rate"] / entry["raw"]["rate"]
                entry["statistics"] = _stats_state()
                progress(
                    f"  fetch {path:>18} log batch {n:>4} page {page or '1 MiB':>5} ({entry['statistics']}): "
                    f"broker {entry['broker']['rate']:>10,.0f} rec/s, raw {entry['raw']['rate']:>10,.0f} rec/s, "
                    f"ratio {entry['ratio']:.2f}"
                )
                out.append(entry)
    return out


# --- Multi-process produce -------------------------------------------------------------------


def _mp_child(kind, arg, batches, size, seconds, start, queue):
    from django.db import connections

    from brokercore.log.append import records_append

    try:
        if kind == "raw":
            writer = RawWriter()
            fn = writer.write
        else:
            def fn(batch):
                records_append(topic=arg, records=batch)
        fn(batches[0])  # connect and warm up before the common start
        start.wait()
        t0 = perf_counter()
        done = 0
        while perf_counter() - t0 < seconds:
            fn(batches[done % len(batches)])
            done += 1
        queue.put({"records": done * size, "seconds": perf_counter() - t0})
    except Exception as e:  # reported to the parent, which shows it in the table
        queue.put({"error": f"{type(e).__name__}: {e}"})
    finally:
        connections.close_all()


def _mp_run(kind, args_per_proc, batches_per_proc, size, seconds) -> dict:
    from django.db import connections

    connections.close_all()  # children must not share the parent's connection
    ctx = multiprocessing.get_context("fork")
    start, queue = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_mp_child, args=(kind, a, b, size, seconds, start, queue))
        for a, b in zip(args_per_proc, batches_per_proc)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let every child connect and warm up
    start.set()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    errors = [r["error"] for r in results if "error" in r]
    ok = [r for r in results if "error" not in r]
    return {
        "rate": sum(r["records"] / r["seconds"] for r in ok),
        "records": sum(r["records"] for r in ok),
        "errors": errors,
    }


def multi_process(cfg: Config, records, placed) -> list[dict]:
    from brokercore.models import Partition
    from brokercore.topics.service import topic_create

    n, size = cfg.mp_procs, cfg.mp_batch
    # Each process produces its own slice of the pool, so they do not write identical rows.
    slices = [records[i::n] for i in range(n)]
    placed_slices = [placed[i::n] for i in range(n)]

    topic_create(name="bench-mp-shared", partitions=cfg.partitions)
    own = []
    for i in range(n):
        topic_create(name=f"bench-mp-{i}", partitions=cfg.partitions)
        own.append(f"bench-mp-{i}")
    # Raw writers use partition ids no broker partition has, one range per process.
    raw_batches = []
    for i in range(n):
        fake_ids = [1_000_000 * (i + 1) + p for p in range(cfg.partitions)]
        raw_batches.append(_append_templates(placed_slices[i], size, fake_ids))
    broker_batches = [_batches(s, size) for s in slices]
    assert Partition.objects.filter(topic__name="bench-mp-shared").count() == cfg.partitions

    out = []
    for label, kind, args, batches in (
        ("broker, one shared topic", "broker", ["bench-mp-shared"] * n, broker_batches),
        ("broker, one topic per process", "broker", own, broker_batches),
        ("raw baseline", "raw", [None] * n, raw_batches),
    ):
        r = _mp_run(kind, args, batches, size, cfg.mp_seconds)
        r.update({"label": label, "procs": n, "batch": size})
        progress(f"  {n} processes x batch {size}, {label}: {r['rate']:>10,.0f} rec/s {r['errors'] or ''}")
        out.append(r)
    return out


# --- Profile (optional) ----------------------------------------------------------------------


def _profiled(title: str, fn, out: io.StringIO) -> None:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out.write(f"\n--- cProfile: {title} ---\n")
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)


def profile(cfg: Config, records, placed) -> str:
    from django.db import connection

    from brokercore.log.append import records_append
    from brokercore.log.storage.meta import BATCH_TABLE
    from brokercore.models import Partition

    out = io.StringIO()
    kafka = _kafka_produce("bench-produce-kafka")
    for size in (100, 1000):
        batches = _batches(records, size)
        produced = _producer_batches(placed, size, cfg.partitions)
        calls = max(5, 20_000 // size)

        def appends(batches=batches, calls=calls):
            for i in range(calls):
                records_append(topic="bench-produce", records=batches[i % len(batches)])

        def produces(produced=produced, calls=calls):
            for i in range(calls):
                kafka(produced[i % len(produced)])

        _profiled(f"records_append, batch {size}", appends, out)
        _profiled(f"Kafka produce (producer_batch + batch_append), batch {size}", produces, out)
    for n in cfg.fetch_batches:
        topic = f"bench-fetch-{n}"
        p = Partition.objects.get(topic__name=topic, index=0)
        with connection.cursor() as c:
            c.execute(f"SELECT max(length(data)) FROM {BATCH_TABLE} WHERE partition_id = %s", [p.pk])
            batch_bytes = c.fetchone()[0]
        for page in (5000, None):
            broker, _ = _fetch_sweeps(topic, p.pk, p.high_watermark, n, batch_bytes, page)
            what = "records_fetch_many, 1 MiB" if page is None else f"records_fetch, page {page}"
            _profiled(f"{what}, log batches of {n}", broker, out)
    return out.getvalue()


# --- Entry points ----------------------------------------------------------------------------


def run(ctx) -> dict:
    cfg = QUICK if ctx.quick else Config()
    records, placed = _pool(cfg)
    progress(f"[{ctx.backend}] log: produce")
    result = {"config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}}
    result["produce"] = produce(cfg, records, placed)
    progress(f"[{ctx.backend}] log: fetch")
    result["fetch"] = fetch(cfg, placed)
    progress(f"[{ctx.backend}] log: multi-process produce")
    result["multi"] = multi_process(cfg, records, placed)
    if ctx.profile:
        text = profile(cfg, records, placed)
        progress(text)
    return result


METHOD = """\
**Method.** `python -m bench log` runs each backend in its own process on a scratch database
(a temporary SQLite file in WAL mode with the project's settings; a fresh `kconsole_bench`
PostgreSQL database over TCP on 127.0.0.1), migrated by Django. Times are `time.perf_counter`
wall-clock on the client side, so they include the driver, the database server and the
round-trips. The log is stored as Kafka stores it: one `brokercore_recordbatch` row per record
batch (the batch's bytes with its base offset written in, and its index columns).

- **Produce, `records_append`** (the console, REST and CLI path): an 8-partition topic, one call
  per batch of 1, 100 or 1000 records (16-byte random keys, so the Kafka partitioner spreads each
  call over all 8 partitions; 100-byte random values; no headers; `acks=all`; 10,000 distinct
  records cycled). It validates and places every record and encodes one record batch per
  partition, so a call of 100 records writes 8 batch rows of about 12 records.
- **Produce, Kafka path** (what the Produce API does with one partition's batch):
  `brokercore.log.batch.producer_batch` (Kafka's checks of a producer's batch: CRC-32C, lengths,
  offset deltas, timestamps) then `brokercore.log.append.batch_append` (stored as it came, no
  record decoded), for pre-built uncompressed batches of 1, 100 or 1000 records as a
  non-idempotent producer sends them, one partition per call, partitions in turn.
- Each produce case runs {rounds} rounds of up to {round_records} (or {cap:g} s), alternating
  with its raw baseline; the tables show the median round.
- **Raw baseline (produce)**: the same batch rows (same partition ids, index columns and batch
  bytes, the base offset written into each batch; built before the clock starts) written into
  `bench_raw_recordbatch`, a copy of `brokercore_recordbatch` with all its indexes and
  constraints (`CREATE TABLE ... (LIKE brokercore_recordbatch INCLUDING ALL)` on PostgreSQL, the
  same DDL on SQLite), by binary `COPY` (PostgreSQL) or `executemany` (SQLite), one transaction
  per call committed as durably as `acks=all` (on SQLite `synchronous=FULL`), offsets counted in
  Python. That is what the database costs with no broker logic; **broker/raw** is the share of it
  the broker keeps. Goal (issue 15): at least **{target}x** at batches of 100 and 1000.
- **Fetch**: one-partition logs of {fetch_records} records written through the Kafka path in
  batches of {fetch_batches} records, read from offset 0 to the high watermark, median of
  {sweeps} sweeps (after one warm-up sweep). `records_fetch` (records decoded one by one, as the
  console, REST and CLI read them) in pages of {fetch_pages} records (`max_bytes` large enough not
  to cut a page); `records_fetch_many` (Kafka's Fetch: the stored batches as they are,
  concatenated) with {partition_fetch} per partition (Kafka's default
  `max.partition.fetch.bytes`). **Raw baseline (fetch)**: `SELECT last_offset, data FROM
  brokercore_recordbatch WHERE partition_id = ? AND last_offset >= ? AND base_offset < ? ORDER BY
  last_offset LIMIT n` through the same connection, rows left as the driver returns them, with n
  the batches each broker step needs: those holding the page's offsets for `records_fetch`, as
  many as fit in {partition_fetch} for `records_fetch_many`. Goal (issue 15): `records_fetch_many`
  at least **{target}x** the raw `SELECT` of the same bytes; `records_fetch` decodes every record,
  which a `SELECT` does not, so its ratio is shown, not held to the goal. Everything runs twice:
  first on the fresh table (its statistics are what autovacuum has gathered so far, usually
  none), then after `ANALYZE`.
- **Multi-process**: {procs} forked processes calling `records_append` with batches of
  {mp_batch} for {mp_seconds:g} s each after a common start, on one shared 8-partition topic
  (every call locks all 8 partition rows, so producers queue behind each other), on one topic per
  process, and the raw baseline (the same batch rows); the total is the sum of the processes'
  rates.
"""


def method_text(result: dict) -> str:
    """The method section, from any backend's result (one run's configuration is the same in each)."""
    c = result["config"]
    return METHOD.format(
        rounds=c["rounds"],
        round_records=", ".join(f"{n:,} records (batch {b})" for b, n in c["round_records"]),
        cap=c["round_cap_s"],
        target=TARGET_RATIO,
        fetch_records=f"{c['fetch_records']:,}",
        fetch_batches=" and ".join(f"{n:,}" for n in c.get("fetch_batches", ())),
        fetch_pages=" and ".join(f"{n:,}" for n in c["fetch_pages"]),
        partition_fetch=f"{PARTITION_FETCH_BYTES >> 20} MiB",
        sweeps=c["fetch_sweeps"],
        procs=c["mp_procs"],
        mp_batch=c["mp_batch"],
        mp_seconds=c["mp_seconds"],
    )


def _verdict(ratio: float) -> str:
    return "met" if ratio >= TARGET_RATIO else "**not met**"


def render(results: dict, machine: dict) -> str:
    first = next(iter(results.values()), None)
    if first is None:
        return "No backend ran."
    parts = [machine_markdown(machine), method_text(first)]
    verdicts = []
    for backend, r in results.items():
        label = backend_label(backend)
        rows = []
        for e in r["produce"]:
            b = e["batch"]
            rows.append((
                PATH_LABELS[e.get("path", "records_append")],
                b,
                e.get("rows_per_call", ""),
                fmt_int(e["broker"]["rate"]),
                fmt_ms(b / e["broker"]["rate"] * 1000),
                fmt_int(e["raw"]["rate"]),
                fmt_ms(b / e["raw"]["rate"] * 1000),
                fmt_ratio(e["ratio"]),
                _verdict(e["ratio"]) if b in TARGET_BATCHES else "",
            ))
        parts.append(f"### {label}: produce\n\n" + table(
            ["Path", "Records/call", "Batch rows/call", "broker rec/s", "ms/call", "raw COPY rec/s", "raw ms/call",
             "broker/raw", f"≥{TARGET_RATIO}x"],
            rows, align="lrrrrrrrl",
        ))
        rows = [
            (
                e.get("path", "records_fetch"),
                f"{e.get('log_batch', '')}" + (f" ({e['batch_bytes'] / 1024:,.1f} KiB)" if e.get("batch_bytes") else ""),
                f"{e['page']:,} records" if e["page"] else f"{PARTITION_FETCH_BYTES >> 20} MiB",
                e.get("statistics", ""),
                fmt_int(e["broker"]["rate"]),
                fmt_int(e["raw"]["rate"]),
                f"{e['raw'].get('bytes_rate', 0) / 1e6:,.0f}",
                fmt_ratio(e["ratio"]),
                _verdict(e["ratio"]) if e.get("path") == "records_fetch_many" else "(decodes)",
            )
            for e in r["fetch"]
        ]
        parts.append(f"### {label}: fetch\n\n" + table(
            ["Path", "Records/stored batch", "Step", "Table statistics", "broker rec/s", "raw SELECT rec/s",
             "raw MB/s", "broker/raw", f"≥{TARGET_RATIO}x"],
            rows, align="lrrlrrrrl",
        ))
        single = {e["batch"]: e for e in r["produce"] if e.get("path", "records_append") == "records_append"}
        rows = []
        for e in r.get("multi", []):
            one = single.get(e["batch"], {}).get("raw" if "raw" in e["label"] else "broker", {}).get("rate")
            rows.append((
                e["label"],
                f"{e['procs']} x {e['batch']}",
                fmt_int(e["rate"]),
                fmt_ratio(e["rate"] / one) if one else "",
                "; ".join(e["errors"]),
            ))
        if rows:
            parts.append(f"### {label}: multi-process produce (records_append)\n\n" + table(
                ["Writers", "Procs x batch", "total rec/s", "vs 1 process", "errors"], rows, align="lrrrl"
            ))
        produce_ratios = [
            (PATH_LABELS[e.get("path", "records_append")], e["batch"], e["ratio"])
            for e in r["produce"] if e["batch"] in TARGET_BATCHES
        ]
        fetch_ratios = [
            (e.get("log_batch"), e["ratio"])
            for e in r["fetch"] if e.get("path") == "records_fetch_many" and e.get("phase") == "analyzed"
        ]
        verdicts.append(
            f"- {label}: produce "
            + ", ".join(f"{p} batch {b}: {x:.2f}x ({_verdict(x)})" for p, b, x in produce_ratios)
            + "; fetch (`records_fetch_many`, analyzed) "
            + ", ".join(f"batches of {n}: {x:.2f}x ({_verdict(x)})" for n, x in fetch_ratios)
            + "."
        )
    parts.append(
        f"**Goals (issue 15): produce at least {TARGET_RATIO}x a raw COPY of the same batches, Kafka "
        f"fetch at least {TARGET_RATIO}x a raw SELECT of the same bytes.**\n\n" + "\n".join(verdicts)
    )
    return "\n\n".join(parts)
