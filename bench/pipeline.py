"""Kafka listener pipelining: a default confluent-kafka producer at a steady rate, with a consumer (issue 15).

An application that keeps librdkafka's defaults (not idempotent, up to a million requests in
flight on a connection, linger.ms 5) sends a small Produce request every few milliseconds. Handled
one at a time, each pays a commit per partition alone; pipelined
(BROKER_KAFKA_MAX_INFLIGHT_PER_CONNECTION), a connection's requests share group commits.

A real listener (`manage.py kafka`, one process, no maintenance thread) is started with the
pipeline off (1 request in flight) and on (the default), alternating rounds. In each, for each
rate, one producer process hands records to the client at a steady rate for a fixed time while
one consumer process (assigned every partition of a fresh topic from offset 0) reads them; each
value carries its send time, so the consumer measures produce-to-consume latency.
"""

import multiprocessing
import os
import random
import struct
import time
from dataclasses import dataclass

from bench.common import backend_label, fmt_int, fmt_ms, kafka_listener, machine_markdown, median, progress, table

NAME = "pipeline"
TITLE = "Kafka listener pipelining: a default producer at a steady rate (issue 15)"
PARTITIONS = 8
VALUE_BYTES = 100
_STAMP = struct.Struct(">d")


@dataclass(frozen=True)
class Config:
    rates: tuple = (1000, 5000)  # records per second the producer hands to the client
    seconds: float = 8.0  # how long it produces at that rate
    drain_s: float = 10.0  # how long the consumer waits for the rest after the producer stops
    rounds: int = 2  # off and on alternate, this many times each
    inflight_on: int = 16


QUICK = Config(seconds=3.0, drain_s=5.0, rounds=1)


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def _producer(bootstrap: str, auth: dict, topic: str, rate: int, seconds: float, drain_s: float, start, queue) -> None:
    from confluent_kafka import Producer

    rnd = random.Random(rate)
    keys = [rnd.randbytes(16) for _ in range(1000)]
    pad = rnd.randbytes(VALUE_BYTES - _STAMP.size)
    failed: list[str] = []
    acked = [0]

    def delivered(err, msg):
        if err is not None:
            failed.append(str(err))
        else:
            acked[0] += 1

    # The client's defaults: only where to connect and how to authenticate.
    producer = Producer({"bootstrap.servers": bootstrap, **auth})
    producer.list_topics(topic, timeout=10)
    start.wait()
    t0 = time.monotonic()
    sent = 0
    while True:
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        due = min(int((now - t0) * rate) + 1, int(seconds * rate))
        while sent < due:
            value = _STAMP.pack(time.time()) + pad
            try:
                producer.produce(topic, key=keys[sent % len(keys)], value=value, on_delivery=delivered)
            except BufferError:
                break
            sent += 1
        producer.poll(0)
        time.sleep(0.001)
    left = producer.flush(drain_s)
    queue.put({"sent": sent, "acked": acked[0], "unflushed": left, "failed": failed[:3],
               "seconds": time.monotonic() - t0})


def _consumer(bootstrap: str, auth: dict, topic: str, expected_max: int, deadline_s: float, ready, queue) -> None:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{topic}", "enable.auto.commit": False,
                         **auth})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    consumer.consume(num_messages=1, timeout=0.5)  # connected before the producer starts
    ready.set()
    latencies: list[float] = []
    first = last = None
    deadline = time.monotonic() + deadline_s
    while len(latencies) < expected_max and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=10_000, timeout=0.2):
            if msg.error() is not None:
                continue
            now = time.time()
            latencies.append(now - _STAMP.unpack_from(msg.value())[0])
            first = first or now
            last = now
    consumer.close()
    queue.put({"received": len(latencies), "latencies": sorted(latencies), "first": first, "last": last})


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _workload(bootstrap: str, auth: dict, topic: str, rate: int, cfg: Config, listener_pid: int) -> dict:
    ctx = multiprocessing.get_context("spawn")
    start, ready, pq, cq = ctx.Event(), ctx.Event(), ctx.Queue(), ctx.Queue()
    expected = int(rate * cfg.seconds)
    consumer = ctx.Process(target=_consumer, args=(bootstrap, auth, topic, expected, cfg.seconds + cfg.drain_s + 2,
                                                   ready, cq))
    producer = ctx.Process(target=_producer, args=(bootstrap, auth, topic, rate, cfg.seconds, cfg.drain_s, start, pq))
    consumer.start()
    producer.start()
    ready.wait(60)
    time.sleep(1.5)  # the producer has connected
    cpu0 = _cpu_s(listener_pid)
    t0 = time.time()
    start.set()
    produced = pq.get(timeout=cfg.seconds + 120)
    consumed = cq.get(timeout=cfg.seconds + cfg.drain_s + 120)
    cpu = _cpu_s(listener_pid) - cpu0
    producer.join(30)
    consumer.join(30)
    lat = consumed["latencies"]
    # Achieved: records the consumer saw, over the time from the first send to the last one seen
    # (at least the producing time): a broker that keeps up reaches the offered rate.
    span = max(cfg.seconds, (consumed["last"] or t0) - t0)
    return {
        "rate": rate, "sent": produced["sent"], "acked": produced["acked"], "failed": produced["failed"],
        "received": consumed["received"], "achieved": consumed["received"] / span,
        "p50_ms": _percentile(lat, 0.5) * 1000, "p99_ms": _percentile(lat, 0.99) * 1000,
        "max_ms": (lat[-1] * 1000) if lat else float("nan"),
        "cpu_ms_per_1k": cpu / max(1, consumed["received"]) * 1e6,
    }


def run(ctx) -> dict:
    from django.db import connections

    from bench.kafka import _sasl
    from brokercore.topics.service import topic_create

    cfg = QUICK if ctx.quick else Config()
    progress(f"[{ctx.backend}] Kafka listener pipelining (default confluent-kafka producer, steady rate)")
    modes = {"off": 1, "on": cfg.inflight_on}
    topics = {}
    for r in range(cfg.rounds):
        for mode in modes:
            for rate in cfg.rates:
                topics[(r, mode, rate)] = name = f"bench-pipe-{r}-{mode}-{rate}"
                topic_create(name=name, partitions=PARTITIONS)
    auth = _sasl()
    connections.close_all()
    rounds: list[dict] = []
    for r in range(cfg.rounds):
        for mode, inflight in modes.items():
            # BENCH_KAFKA_PORT: a fixed port for the listener (on a machine shared with others).
            port = int(os.environ.get("BENCH_KAFKA_PORT") or 0) or None
            listener = kafka_listener(port, env={"BROKER_KAFKA_MAX_INFLIGHT_PER_CONNECTION": str(inflight)})
            try:
                for rate in cfg.rates:
                    w = _workload(f"127.0.0.1:{listener.port}", auth, topics[(r, mode, rate)], rate, cfg, listener.proc.pid)
                    w.update(round=r, mode=mode, inflight=inflight)
                    rounds.append(w)
                    progress(f"  round {r + 1} {mode:>3} ({inflight:>2} in flight) {rate:>5}/s: achieved "
                             f"{w['achieved']:>7,.0f}/s, received {w['received']:,}/{w['sent']:,}, "
                             f"p50 {w['p50_ms']:.0f} ms, p99 {w['p99_ms']:.0f} ms, "
                             f"listener CPU {w['cpu_ms_per_1k']:.0f} ms/1k records")
            finally:
                listener.stop()
    return {"config": {"rates": list(cfg.rates), "seconds": cfg.seconds, "drain_s": cfg.drain_s,
                       "rounds": cfg.rounds, "inflight_on": cfg.inflight_on}, "rounds": rounds}


METHOD = """\
**Method.** `python -m bench pipeline` starts `manage.py kafka` (the listener alone, one process,
no maintenance thread) on the scratch database, with `BROKER_KAFKA_MAX_INFLIGHT_PER_CONNECTION=1`
(**off**: one request at a time per connection, as before) and with {inflight_on} (**on**, the
default), alternating, {rounds} rounds each. In each round and for each rate, one producer process
with confluent-kafka {client} at its **defaults** (only `bootstrap.servers` and SASL/PLAIN set: not
idempotent, `linger.ms` 5, a million requests in flight allowed, acks=all) hands records
(16-byte keys from a set of 1,000, 100-byte values) to the client at a steady rate for {seconds:g}
s, then flushes; one consumer process (defaults, assigned all 8 partitions of a fresh topic from
offset 0, started first) reads them. Each value carries its send time (the wall clock, one
machine): latency is consume time minus send time, over every record received, including the
time a record waited in the producer's queue. Achieved rate: records received over the time from
the first send to the last record received (at least the {seconds:g} s of producing); the
consumer gives up {drain:g} s after the producer stops. Listener CPU: the listener process's user
+ system time over the workload, per 1,000 records received. The table shows the median round
of each; each round's figure is listed beside it.
"""


def _client() -> str:
    try:
        import confluent_kafka

        return f"{confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]})"
    except ImportError:
        return ""


def render(results: dict, machine: dict) -> str:
    first = next(iter(results.values()), None)
    if first is None:
        return "No backend ran."
    c = first["config"]
    parts = [machine_markdown(machine), METHOD.format(inflight_on=c["inflight_on"], rounds=c["rounds"], client=_client(),
                                                      seconds=c["seconds"], drain=c["drain_s"])]
    rows = []
    for backend, r in results.items():
        label = backend_label(backend)
        for rate in c["rates"]:
            for mode in ("off", "on"):
                rs = [w for w in r["rounds"] if w["rate"] == rate and w["mode"] == mode]
                if not rs:
                    continue
                mid = sorted(rs, key=lambda w: w["p99_ms"])[len(rs) // 2]
                received = sum(w["received"] for w in rs)
                sent = sum(w["sent"] for w in rs)
                rows.append((
                    label, fmt_int(rate), f"{mode} ({rs[0]['inflight']})",
                    fmt_int(median([w["achieved"] for w in rs])),
                    fmt_ms(median([w["p50_ms"] for w in rs])), fmt_ms(mid["p99_ms"]),
                    " / ".join(f"{w['p50_ms']:.0f}, {w['p99_ms']:.0f}" for w in rs),
                    f"{received:,}/{sent:,}",
                    f"{median([w['cpu_ms_per_1k'] for w in rs]):.0f}",
                ))
    parts.append("### Results\n\n" + table(
        ["Backend", "offered rec/s", "pipelining (in flight)", "achieved rec/s", "p50 ms", "p99 ms",
         "p50, p99 ms each round", "received/sent", "listener CPU ms/1k rec"],
        rows, align="lrlrrrlrr",
    ))
    return "\n\n".join(parts)
