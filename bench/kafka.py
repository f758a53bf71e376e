"""Kafka protocol: producer and consumer throughput through the listener with confluent-kafka (issue 6).

A real listener (`manage.py kafka`, one process, no maintenance thread) on the scratch database;
librdkafka clients (confluent-kafka) in other processes, as an application would connect.
Produce: 16-byte random keys, 100-byte random values, batched by the client (linger.ms=5, no
compression), to an 8-partition topic; the rate counts from the first produce() call until
flush() has every delivery report, and the latency is librdkafka's per-message produce-to-ack
time. Consume: one consumer assigned every partition from the beginning, reading the records the
produce runs wrote. Baseline: `records_append` in the benchmark process, batches of 100 and 1000,
in the same run (what the listener adds is the protocol, batch decoding and the event loop).
"""

import multiprocessing
import random
import time
from dataclasses import dataclass
from time import perf_counter

from bench.common import (
    api_token,
    backend_label,
    fmt_int,
    fmt_ms,
    kafka_listener,
    machine_markdown,
    produce_waiting,
    progress,
    table,
)

NAME = "kafka"
TITLE = "Kafka protocol: producer and consumer throughput with confluent-kafka (issue 6)"
TOPIC = "bench-kafka"
BASELINE_TOPIC = "bench-kafka-baseline"


@dataclass(frozen=True)
class Config:
    partitions: int = 8
    records: int = 100_000  # per produce run (split over the producers)
    runs: tuple = ((1, "all"), (1, "1"), (2, "all"))  # (producer processes, acks)
    baseline_batches: int = 200


QUICK = Config(records=10_000, runs=((1, "all"),), baseline_batches=20)


def _producer(bootstrap: str, auth: dict, count: int, acks: str, seed: int, start, queue) -> None:
    from confluent_kafka import Producer

    rnd = random.Random(seed)
    records = [(rnd.randbytes(16), rnd.randbytes(100)) for _ in range(count)]
    latencies: list[float] = []
    failed = []

    def delivered(err, msg):
        if err is not None:
            failed.append(str(err))
        else:
            latencies.append(msg.latency())

    producer = Producer({
        "bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5, "partitioner": "murmur2_random",
        "queue.buffering.max.messages": max(100_000, count), "enable.idempotence": acks == "all", **auth,
    })
    producer.list_topics(TOPIC, timeout=10)  # connect and learn the leaders before the clock starts
    start.wait()
    t0 = perf_counter()
    for key, value in records:
        produce_waiting(producer, TOPIC, key, value, delivered)
        producer.poll(0)
    producer.flush(120)
    queue.put({"seconds": perf_counter() - t0, "acked": len(latencies), "failed": failed[:3],
               "latencies": sorted(latencies)})


def produce(bootstrap: str, auth: dict, producers: int, acks: str, total: int) -> dict:
    ctx = multiprocessing.get_context("spawn")
    start, queue = ctx.Event(), ctx.Queue()
    share = total // producers
    procs = [ctx.Process(target=_producer, args=(bootstrap, auth, share, acks, i, start, queue)) for i in range(producers)]
    for p in procs:
        p.start()
    time.sleep(2)  # every producer has connected and built its records
    start.set()
    results = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(30)
    failed = [f for r in results for f in r["failed"]]
    if failed:
        raise RuntimeError(f"deliveries failed: {failed[:3]}")
    acked = sum(r["acked"] for r in results)
    latencies = sorted(x for r in results for x in r["latencies"])
    seconds = max(r["seconds"] for r in results)
    return {
        "producers": producers, "acks": acks, "records": acked, "rate": acked / seconds,
        "latency_p50": latencies[len(latencies) // 2], "latency_p99": latencies[int(len(latencies) * 0.99)],
    }


def consume(bootstrap: str, auth: dict, partitions: int, total: int) -> dict:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False,
                         "fetch.max.bytes": 50 << 20, **auth})
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(partitions)])
    seen = 0
    t0 = perf_counter()
    deadline = time.monotonic() + 300
    while seen < total and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=10_000, timeout=1.0):
            if msg.error() is None:
                seen += 1
    seconds = perf_counter() - t0
    consumer.close()
    return {"records": seen, "rate": seen / seconds}


def baseline(cfg: Config, batch: int) -> float:
    from brokercore.log.append import records_append
    from brokercore.types import RecordIn

    rnd = random.Random(7)
    batches = [[RecordIn(key=rnd.randbytes(16), value=rnd.randbytes(100)) for _ in range(batch)] for _ in range(10)]
    n = max(1, cfg.baseline_batches * 100 // batch)
    rates = []
    for _ in range(3):
        t0 = perf_counter()
        for i in range(n):
            records_append(topic=BASELINE_TOPIC, records=batches[i % len(batches)])
        rates.append(n * batch / (perf_counter() - t0))
    return max(rates)


def _sasl() -> dict:
    """librdkafka's settings for SASL/PLAIN with a new API token of a (non-staff) bench user: the
    clients authenticate as an application does (the topics exist already)."""
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN", "sasl.username": "bench-kafka",
            "sasl.password": api_token("bench-kafka", staff=False)}


def run(ctx) -> dict:
    from django.db import connections

    from brokercore.topics.service import topic_create

    cfg = QUICK if ctx.quick else Config()
    progress(f"[{ctx.backend}] Kafka protocol (confluent-kafka)")
    topic_create(name=TOPIC, partitions=cfg.partitions)
    topic_create(name=BASELINE_TOPIC, partitions=cfg.partitions)
    auth = _sasl()
    connections.close_all()  # the listener uses its own connections
    listener = kafka_listener()
    bootstrap = f"127.0.0.1:{listener.port}"
    try:
        runs = []
        for producers, acks in cfg.runs:
            r = produce(bootstrap, auth, producers, acks, cfg.records)
            runs.append(r)
            progress(f"  produce {producers} producer(s) acks={acks}: {r['rate']:>9,.0f} rec/s "
                     f"(p50 {r['latency_p50'] * 1000:.1f} ms, p99 {r['latency_p99'] * 1000:.1f} ms)")
        written = sum(r["records"] for r in runs)
        consumed = consume(bootstrap, auth, cfg.partitions, written)
        progress(f"  consume: {consumed['rate']:,.0f} rec/s ({consumed['records']:,} records)")
    finally:
        listener.stop()
    base = {str(b): baseline(cfg, b) for b in (100, 1000)}
    progress(f"  baseline records_append: batch 100 {base['100']:,.0f} rec/s, batch 1000 {base['1000']:,.0f} rec/s")
    return {"produce": runs, "consume": consumed, "baseline": base, "records": cfg.records}


METHOD = """\
**Method.** `python -m bench kafka` starts `manage.py kafka` (the listener alone, one process, no
maintenance thread) on the scratch database and drives it with confluent-kafka {client} from
separate processes, authenticated with SASL/PLAIN and an API token (as an application connects):
{records:,} records per produce run (16-byte random keys, 100-byte random
values, `linger.ms=5`, no compression, `partitioner=murmur2_random`, idempotence on with
acks=all) to an 8-partition topic, split over 1 or 2 producer processes; the rate runs from the
first `produce()` to `flush()` returning, the latency is librdkafka's produce-to-acknowledgement
time per message (every record is handed to the client at once, so it includes the wait in the
client's own queue). Consume: one consumer assigned every partition from offset 0 reads every record
the produce runs wrote. Baseline: `records_append` in the benchmark process, in the same run.
"""


def render(results: dict, machine: dict) -> str:
    first = next(iter(results.values()), None)
    if first is None:
        return "No backend ran."
    try:
        import confluent_kafka

        client = f"{confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]})"
    except ImportError:
        client = ""
    parts = [machine_markdown(machine), METHOD.format(client=client, records=first["records"])]
    for backend, r in results.items():
        label = backend_label(backend)
        rows = [
            (f"produce, {p['producers']} producer(s), acks={p['acks']}", fmt_int(p["rate"]),
             fmt_ms(p["latency_p50"] * 1000), fmt_ms(p["latency_p99"] * 1000), f"{p['rate'] / r['baseline']['1000']:.2f}x")
            for p in r["produce"]
        ]
        rows.append((f"consume, one consumer ({fmt_int(r['consume']['records'])} records)", fmt_int(r["consume"]["rate"]), "", "", ""))
        rows.append(("records_append in-process, batches of 100 (baseline)", fmt_int(r["baseline"]["100"]), "", "", ""))
        rows.append(("records_append in-process, batches of 1000 (baseline)", fmt_int(r["baseline"]["1000"]), "", "", ""))
        parts.append(f"### {label}\n\n" + table(
            ["Measure", "records/s", "p50 ms", "p99 ms", "vs append x1000"], rows, align="lrrrr",
        ))
    return "\n\n".join(parts)
