"""Log: produce and fetch throughput (issue 2), against a raw-insert/raw-select baseline.

Produce: `records_append` on an 8-partition topic, keyed records (16-byte random keys, so the
Kafka partitioner spreads a batch over all partitions; 100-byte random values, no headers,
acks=all), one call per batch. Raw baseline: the same rows (same partition ids and columns) written
into `bench_raw_record`, a copy of `brokercore_record`'s table with all its indexes and
constraints, by binary COPY (PostgreSQL) or executemany (SQLite), one transaction per batch, with
offsets counted in Python: the database's own cost with no broker logic.

Fetch: `records_fetch` reading one partition from offset 0 to its high watermark in pages, against
a raw `SELECT ... ORDER BY offset LIMIT page` of the same columns.

Multi-process: 4 forked processes producing batches of 100 for a fixed time, on one shared topic
(they contend for the same partition rows), on one topic each, and the raw baseline.
"""

import cProfile
import io
import multiprocessing
import pstats
import random
import re
import time
from dataclasses import dataclass
from time import perf_counter

from bench.common import backend_label, fmt_int, fmt_ms, fmt_ratio, machine_markdown, median, progress, table

NAME = "log"
TITLE = "Log: produce and fetch (issue 2)"
TARGET_RATIO = 0.5
TARGET_BATCHES = (100, 1000)
RAW_TABLE = "bench_raw_record"


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
    """(RecordIn list, [(partition index, key, value, size)]) with the partitioner's choice."""
    from brokercore.partitioner import partition_for_key
    from brokercore.types import RecordIn

    rnd = random.Random(2)
    records, placed = [], []
    for _ in range(cfg.pool):
        key, value = rnd.randbytes(cfg.key_bytes), rnd.randbytes(cfg.value_bytes)
        records.append(RecordIn(key=key, value=value))
        placed.append((partition_for_key(key, cfg.partitions), key, value, len(key) + len(value)))
    return records, placed


def _batches(items: list, size: int) -> list[list]:
    n = max(1, len(items) // size)
    return [items[i * size : (i + 1) * size] for i in range(n)]


def _raw_batches(placed: list, size: int, partition_ids: list[int]) -> list[list]:
    """Raw batches hold the same rows as the broker's, grouped by partition like its insert."""
    out = []
    for batch in _batches(placed, size):
        rows = sorted(((partition_ids[idx], k, v, s) for idx, k, v, s in batch), key=lambda r: r[0])
        out.append(rows)
    return out


# --- Raw baseline ----------------------------------------------------------------------------


def raw_table_create() -> None:
    """`bench_raw_record`: brokercore_record's shape, indexes and constraints, empty."""
    from django.db import connection

    from brokercore.log.storage.meta import RECORD_TABLE

    with connection.cursor() as c:
        c.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        if connection.vendor == "postgresql":
            c.execute(f"CREATE TABLE {RAW_TABLE} (LIKE {RECORD_TABLE} INCLUDING ALL)")
            return
        c.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = %s AND sql IS NOT NULL", [RECORD_TABLE])
        objects = c.fetchall()
        for kind, _name, sql in sorted(objects, key=lambda o: o[0] != "table"):
            if kind == "table":
                sql = sql.replace(f'"{RECORD_TABLE}"', f'"{RAW_TABLE}"', 1)
            else:
                sql = re.sub(
                    r'^CREATE (UNIQUE )?INDEX "([^"]+)" ON "' + re.escape(RECORD_TABLE) + '"',
                    lambda m: f'CREATE {m.group(1) or ""}INDEX "bench_raw_{m.group(2)}" ON "{RAW_TABLE}"',
                    sql,
                )
            c.execute(sql)


class RawWriter:
    """Inserts rows into the raw table the fastest plain way: binary COPY / executemany."""

    COLUMNS = ("partition_id", "offset", "timestamp", "timestamp_type", "key", "value", "headers", "size")

    def __init__(self) -> None:
        from django.db import connection

        self.connection = connection
        cols = ", ".join(f'"{c}"' for c in self.COLUMNS)
        self.pg = connection.vendor == "postgresql"
        self.copy_sql = f"COPY {RAW_TABLE} ({cols}) FROM STDIN (FORMAT BINARY)"
        self.insert_sql = f"INSERT INTO {RAW_TABLE} ({cols}) VALUES ({', '.join('?' * len(self.COLUMNS))})"
        self.offsets: dict[int, int] = {}

    def write(self, batch: list[tuple]) -> None:
        from django.db import transaction

        from brokercore.log.append import ACKS_ALL, acks_durability

        ts = int(time.time() * 1000)
        offsets = self.offsets
        rows = []
        for pid, key, value, size in batch:
            o = offsets.get(pid, 0)
            offsets[pid] = o + 1
            rows.append((pid, o, ts, 0, key, value, None, size))
        # Committed as durably as the broker's acks=all (SQLite: synchronous=FULL; PostgreSQL's
        # default synchronous_commit is that already), so the two pay for the same fsync.
        with acks_durability(ACKS_ALL, self.connection), transaction.atomic(), self.connection.cursor() as c:
            raw = c.cursor  # the driver's cursor under Django's wrapper
            if self.pg:
                with raw.copy(self.copy_sql) as copy:
                    copy.set_types(["int8", "int8", "int8", "int2", "bytea", "bytea", "jsonb", "int4"])
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


def produce(cfg: Config, records, placed) -> list[dict]:
    from brokercore.log.append import records_append
    from brokercore.models import Partition
    from brokercore.topics.service import topic_create

    t = topic_create(name="bench-produce", partitions=cfg.partitions)
    pids = list(Partition.objects.filter(topic=t).order_by("index").values_list("id", flat=True))
    raw_table_create()
    writer = RawWriter()

    def broker(batch):
        records_append(topic="bench-produce", records=batch)

    out = []
    for size in cfg.batch_sizes:
        target = dict(cfg.round_records)[size]
        b_batches = _batches(records, size)
        r_batches = _raw_batches(placed, size, pids)
        # Warm-up: caches, prepared plans, the first pages of each table.
        _timed(broker, b_batches, size, size * 3, 1.0)
        _timed(writer.write, r_batches, size, size * 3, 1.0)
        rounds = {"broker": [], "raw": []}
        for r in range(cfg.rounds):
            order = [("broker", broker, b_batches), ("raw", writer.write, r_batches)]
            if r % 2:
                order.reverse()
            for label, fn, batches in order:
                rounds[label].append(_timed(fn, batches, size, target, cfg.round_cap_s))
        entry = {"batch": size}
        for label, rs in rounds.items():
            entry[label] = {
                "rate": median([x["rate"] for x in rs]),
                "rates": [x["rate"] for x in rs],
                "records": sum(x["records"] for x in rs),
                "seconds": sum(x["seconds"] for x in rs),
            }
        entry["ratio"] = entry["broker"]["rate"] / entry["raw"]["rate"]
        progress(
            f"  produce batch {size:>5}: broker {entry['broker']['rate']:>10,.0f} rec/s, "
            f"raw {entry['raw']['rate']:>10,.0f} rec/s, ratio {entry['ratio']:.2f}"
        )
        out.append(entry)
    return out


# --- Fetch -----------------------------------------------------------------------------------


def fetch(cfg: Config, records) -> list[dict]:
    from django.db import connection

    from brokercore.log.append import records_append
    from brokercore.log.read import records_fetch
    from brokercore.models import Partition
    from brokercore.topics.service import topic_create

    t = topic_create(name="bench-fetch", partitions=1)
    pid = Partition.objects.get(topic=t, index=0).pk
    batches = _batches(records, 1000)
    for i in range(-(-cfg.fetch_records // 1000)):
        records_append(topic="bench-fetch", records=batches[i % len(batches)], partition=0)
    hw = Partition.objects.get(pk=pid).high_watermark
    sql = (
        'SELECT "offset", "timestamp", "timestamp_type", "key", "value", "headers", "size" '
        'FROM brokercore_record WHERE partition_id = %s AND "offset" >= %s AND "offset" < %s '
        'ORDER BY "offset" LIMIT %s'
    )

    def sweep_broker(page):
        offset, n = 0, 0
        while offset < hw:
            res = records_fetch(topic="bench-fetch", partition=0, offset=offset, max_records=page, max_bytes=1 << 30)
            n += len(res.records)
            offset = res.next_offset
        return n

    def sweep_raw(page):
        offset, n = 0, 0
        with connection.cursor() as c:
            while offset < hw:
                c.execute(sql, [pid, offset, hw, page])
                rows = c.fetchall()
                n += len(rows)
                offset = rows[-1][0] + 1
        return n

    def stats_state() -> str:
        with connection.cursor() as c:
            if connection.vendor == "postgresql":
                c.execute("SELECT reltuples >= 0 FROM pg_class WHERE relname = 'brokercore_record'")
                return "analyzed" if c.fetchone()[0] else "never analyzed"
            c.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            return "analyzed" if c.fetchone()[0] else "never analyzed"

    out = []
    # First as a fresh database is (autovacuum has not analyzed the new rows yet), then after
    # ANALYZE: on PostgreSQL the plan of the page query depends on the table's statistics.
    for phase in ("fresh", "analyzed"):
        if phase == "analyzed":
            with connection.cursor() as c:
                c.execute("ANALYZE")
        for page in cfg.fetch_pages:
            entry = {"page": page, "records": hw, "phase": phase}
            for label, fn in (("broker", sweep_broker), ("raw", sweep_raw)):
                rates = []
                fn(page)  # warm-up sweep
                for _ in range(cfg.fetch_sweeps):
                    t0 = perf_counter()
                    n = fn(page)
                    rates.append(n / (perf_counter() - t0))
                entry[label] = {"rate": median(rates), "rates": rates}
            entry["ratio"] = entry["broker"]["rate"] / entry["raw"]["rate"]
            entry["statistics"] = stats_state()
            progress(
                f"  fetch page {page:>5} ({entry['statistics']}): broker {entry['broker']['rate']:>10,.0f} rec/s, "
                f"raw {entry['raw']['rate']:>10,.0f} rec/s, ratio {entry['ratio']:.2f}"
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
        raw_batches.append(_raw_batches(placed_slices[i], size, fake_ids))
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


def profile(cfg: Config, records) -> str:
    from brokercore.log.append import records_append
    from brokercore.log.read import records_fetch

    out = io.StringIO()
    for size in (100, 1000):
        batches = _batches(records, size)
        prof = cProfile.Profile()
        prof.enable()
        for i in range(max(5, 20_000 // size)):
            records_append(topic="bench-produce", records=batches[i % len(batches)])
        prof.disable()
        out.write(f"\n--- cProfile: records_append, batch {size} ---\n")
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
    prof = cProfile.Profile()
    prof.enable()
    offset, hw = 0, None
    while hw is None or offset < min(hw, 50_000):
        res = records_fetch(topic="bench-fetch", partition=0, offset=offset, max_records=5000, max_bytes=1 << 30)
        offset, hw = res.next_offset, res.high_watermark
    prof.disable()
    out.write("\n--- cProfile: records_fetch, page 5000 ---\n")
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
    return out.getvalue()


# --- Entry points ----------------------------------------------------------------------------


def run(ctx) -> dict:
    cfg = QUICK if ctx.quick else Config()
    records, placed = _pool(cfg)
    progress(f"[{ctx.backend}] log: produce")
    result = {"config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}}
    result["produce"] = produce(cfg, records, placed)
    progress(f"[{ctx.backend}] log: fetch")
    result["fetch"] = fetch(cfg, records)
    progress(f"[{ctx.backend}] log: multi-process produce")
    result["multi"] = multi_process(cfg, records, placed)
    if ctx.profile:
        text = profile(cfg, records)
        progress(text)
    return result


METHOD = """\
**Method.** `python -m bench log` runs each backend in its own process on a scratch database
(a temporary SQLite file in WAL mode with the project's settings; a fresh `kconsole_bench`
PostgreSQL database over TCP on 127.0.0.1), migrated by Django. Times are `time.perf_counter`
wall-clock on the client side, so they include the driver, the database server and the
round-trips.

- **Produce**: `brokercore.log.append.records_append` on an 8-partition topic, one call per
  batch of 1, 100 or 1000 records (16-byte random keys, so the Kafka partitioner spreads each
  batch over all 8 partitions; 100-byte random values; no headers; `acks=all`; 10,000 distinct
  records cycled). Each batch size runs {rounds} rounds of up to {round_records} (or
  {cap:g} s), alternating with the raw baseline; the table shows the median round.
- **Raw baseline**: the same rows (same partition ids, columns and types, grouped by partition
  like the broker's insert) written into `bench_raw_record`, a copy of `brokercore_record`
  with all its indexes and constraints (`CREATE TABLE ... (LIKE brokercore_record INCLUDING
  ALL)` on PostgreSQL, the same DDL on SQLite), by binary `COPY` (PostgreSQL) or
  `executemany` (SQLite), one transaction per batch committed as durably as `acks=all` (on
  SQLite `synchronous=FULL`), offsets counted in Python. That is what
  the database costs with no broker logic; **broker/raw** is the share of it the broker
  keeps. Target (issue 2): at least **{target}x** at batches of 100 and 1000 on both backends.
- **Fetch**: `brokercore.log.read.records_fetch` reading one partition of {fetch_records}
  records from offset 0 to the high watermark in pages of 500 and 5000 records (`max_bytes`
  large enough not to cut a page), median of {sweeps} sweeps; the raw baseline is the same
  `SELECT ... WHERE partition_id = ? AND offset >= ? ORDER BY offset LIMIT page` through the
  same connection, rows left as the driver returns them. Both run twice: first on the fresh
  table (its statistics are what autovacuum has gathered so far, usually none), then after
  `ANALYZE`.
- **Multi-process**: {procs} forked processes producing batches of {mp_batch} for
  {mp_seconds:g} s each after a common start, on one shared 8-partition topic (every batch
  locks all 8 partition rows, so producers queue behind each other), on one topic per process,
  and the raw baseline; the total is the sum of the processes' rates.
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
        sweeps=c["fetch_sweeps"],
        procs=c["mp_procs"],
        mp_batch=c["mp_batch"],
        mp_seconds=c["mp_seconds"],
    )


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
            target = ""
            if b in TARGET_BATCHES:
                target = "met" if e["ratio"] >= TARGET_RATIO else "**not met**"
            rows.append((
                b,
                fmt_int(e["broker"]["rate"]),
                fmt_ms(b / e["broker"]["rate"] * 1000),
                fmt_int(e["raw"]["rate"]),
                fmt_ms(b / e["raw"]["rate"] * 1000),
                fmt_ratio(e["ratio"]),
                target,
            ))
        parts.append(f"### {label}: produce\n\n" + table(
            ["Batch", "records_append rec/s", "ms/batch", "raw rec/s", "raw ms/batch", "broker/raw", f"≥{TARGET_RATIO}x"],
            rows, align="rrrrrrl",
        ))
        rows = [
            (
                e["page"],
                e.get("statistics", ""),
                fmt_int(e["broker"]["rate"]),
                fmt_ms(e["page"] / e["broker"]["rate"] * 1000),
                fmt_int(e["raw"]["rate"]),
                fmt_ratio(e["ratio"]),
            )
            for e in r["fetch"]
        ]
        parts.append(f"### {label}: fetch\n\n" + table(
            ["Page", "Table statistics", "records_fetch rec/s", "ms/page", "raw SELECT rec/s", "broker/raw"],
            rows, align="rlrrrr",
        ))
        single = {e["batch"]: e for e in r["produce"]}
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
            parts.append(f"### {label}: multi-process produce\n\n" + table(
                ["Writers", "Procs x batch", "total rec/s", "vs 1 process", "errors"], rows, align="lrrrl"
            ))
        ratios = {e["batch"]: e["ratio"] for e in r["produce"] if e["batch"] in TARGET_BATCHES}
        met = all(x >= TARGET_RATIO for x in ratios.values())
        verdicts.append(
            f"- {label}: {'met' if met else '**not met**'} "
            f"({', '.join(f'batch {b}: {x:.2f}x' for b, x in ratios.items())})."
        )
    parts.append(f"**Target: batched produce at least {TARGET_RATIO}x the raw baseline.**\n\n" + "\n".join(verdicts))
    return "\n\n".join(parts)
