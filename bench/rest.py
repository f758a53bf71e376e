"""REST proxy: produce and consume throughput over HTTP (issue 5).

A real server (`manage.py serve`: daphne, one process) on the scratch database; clients in other
processes with keep-alive HTTP/1.1 connections (`http.client`), as a script or service would use
the proxy. Produce: Confluent v2 `POST /rest/topics/{t}` in the binary embedded format (16-byte
random keys, 100-byte random values, base64), 1 or 100 records per request, 1 or 4 concurrent
clients, each sending its next request when the last was answered. Consume: one v2 consumer
instance (binary format, earliest) reading a pre-filled topic with `GET .../records` until it has
every record. Baseline: `records_append` called directly in the benchmark process with the same
records in batches of 100, measured in the same run (what the proxy adds is HTTP, JSON, base64,
auth and Django).
"""

import base64
import http.client
import json
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
    machine_markdown,
    median,
    progress,
    table,
    web_server,
)

NAME = "rest"
TITLE = "REST proxy: produce and consume throughput (issue 5)"
TARGET = 25_000  # records/s with 100 records per request, one server process
TOPIC = "bench-rest"
CONSUME_TOPIC = "bench-rest-consume"
V2_BINARY = "application/vnd.kafka.binary.v2+json"


@dataclass(frozen=True)
class Config:
    partitions: int = 8
    seconds: float = 5.0
    runs: tuple = ((1, 1), (1, 100), (4, 1), (4, 100))  # (clients, records per request)
    rounds: int = 3
    consume_records: int = 50_000
    baseline_batches: int = 300


QUICK = Config(seconds=1.0, rounds=1, consume_records=5_000, baseline_batches=30)


class Http:
    """One keep-alive connection with the token; answers (status, parsed JSON)."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.auth = f"Bearer {token}"

    def call(self, method: str, path: str, body=None, *, content_type="application/json", accept=None):
        headers = {"Authorization": self.auth, "Host": "127.0.0.1"}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if accept:
            headers["Accept"] = accept
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)


def _payload(n: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    records = [
        {"key": base64.b64encode(rnd.randbytes(16)).decode(), "value": base64.b64encode(rnd.randbytes(100)).decode()}
        for _ in range(n)
    ]
    return json.dumps({"records": records}).encode()


def _producer(port, token, per_request, seconds, start, queue, seed):
    try:
        client = Http(port, token)
        bodies = [_payload(per_request, seed * 1000 + i) for i in range(20)]
        status, answer = client.call("POST", f"/rest/topics/{TOPIC}", bodies[0], content_type=V2_BINARY)
        if status != 200:
            raise RuntimeError(f"produce answered {status}: {answer}")
        start.wait()
        latencies = []
        t0 = perf_counter()
        done = 0
        while perf_counter() - t0 < seconds:
            t = perf_counter()
            status, answer = client.call("POST", f"/rest/topics/{TOPIC}", bodies[done % len(bodies)], content_type=V2_BINARY)
            latencies.append(perf_counter() - t)
            if status != 200:
                raise RuntimeError(f"produce answered {status}: {answer}")
            done += 1
        queue.put({"records": done * per_request, "seconds": perf_counter() - t0, "latency_p50": median(latencies)})
    except Exception as e:  # reported to the parent, which fails the run
        queue.put({"error": f"{type(e).__name__}: {e}"})


def produce_over_http(port: int, token: str, clients: int, per_request: int, seconds: float) -> dict:
    ctx = multiprocessing.get_context("spawn")
    start, queue = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_producer, args=(port, token, per_request, seconds, start, queue, i)) for i in range(clients)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0)  # every client connected and warmed up
    start.set()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join()
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError("; ".join(errors))
    return {
        "rate": sum(r["records"] / r["seconds"] for r in results),
        "latency_p50": median([r["latency_p50"] for r in results]),
    }


def consume_over_http(port: int, token: str, total: int) -> dict:
    client = Http(port, token)
    base = f"/rest/consumers/bench-rest-{random.randrange(10**9)}"
    status, answer = client.call(
        "POST", base, {"name": "c1", "format": "binary", "auto.offset.reset": "earliest"},
        content_type="application/vnd.kafka.v2+json",
    )
    if status != 200:
        raise RuntimeError(f"consumer create answered {status}: {answer}")
    inst = f"{base}/instances/c1"
    status, answer = client.call("POST", f"{inst}/subscription", {"topics": [CONSUME_TOPIC]}, content_type="application/vnd.kafka.v2+json")
    if status not in (200, 204):
        raise RuntimeError(f"subscribe answered {status}: {answer}")
    got, polls, empty = 0, 0, 0
    t0 = perf_counter()
    while got < total:
        status, records = client.call("GET", f"{inst}/records?timeout=1000&max_bytes=67108864", accept=V2_BINARY)
        if status != 200:
            raise RuntimeError(f"records answered {status}: {records}")
        polls += 1
        got += len(records)
        empty = empty + 1 if not records else 0
        if empty > 20:
            raise RuntimeError(f"consumer stalled at {got} of {total} records")
    elapsed = perf_counter() - t0
    client.call("DELETE", inst)
    return {"records": got, "seconds": elapsed, "rate": got / elapsed, "polls": polls}


def baseline(cfg: Config) -> float:
    """records_append in this process, batches of 100 of the same shape, best of three runs."""
    from brokercore.log.append import records_append
    from brokercore.types import RecordIn

    rnd = random.Random(7)
    batches = [[RecordIn(key=rnd.randbytes(16), value=rnd.randbytes(100)) for _ in range(100)] for _ in range(20)]
    rates = []
    for _ in range(3):
        t0 = perf_counter()
        for i in range(cfg.baseline_batches):
            records_append(topic=TOPIC, records=batches[i % len(batches)])
        rates.append(cfg.baseline_batches * 100 / (perf_counter() - t0))
    return max(rates)


def _setup(cfg: Config) -> str:
    from brokercore.log.append import records_append
    from brokercore.topics.service import topic_create
    from brokercore.types import RecordIn

    topic_create(name=TOPIC, partitions=cfg.partitions)
    topic_create(name=CONSUME_TOPIC, partitions=cfg.partitions)
    rnd = random.Random(3)
    for start in range(0, cfg.consume_records, 1000):
        n = min(1000, cfg.consume_records - start)
        records_append(topic=CONSUME_TOPIC, records=[RecordIn(key=rnd.randbytes(16), value=rnd.randbytes(100)) for _ in range(n)])
    return api_token("bench", staff=True)


def run(ctx) -> dict:
    from django.db import connections

    cfg = QUICK if ctx.quick else Config()
    progress(f"[{ctx.backend}] REST proxy")
    token = _setup(cfg)
    connections.close_all()  # the server and the clients use their own connections
    server = web_server()
    try:
        produce = []
        for clients, per_request in cfg.runs:
            rates = []
            for _ in range(cfg.rounds):
                rates.append(produce_over_http(server.port, token, clients, per_request, cfg.seconds))
            best = max(rates, key=lambda r: r["rate"])
            entry = {
                "clients": clients,
                "per_request": per_request,
                "rate": median([r["rate"] for r in rates]),
                "rates": [r["rate"] for r in rates],
                "latency_p50": best["latency_p50"],
            }
            produce.append(entry)
            progress(
                f"  produce {clients} client(s) x {per_request:>3} rec/request: {entry['rate']:>9,.0f} rec/s "
                f"(p50 {entry['latency_p50'] * 1000:.1f} ms/request)"
            )
        consume = consume_over_http(server.port, token, cfg.consume_records)
        progress(f"  consume: {consume['rate']:,.0f} rec/s ({consume['records']:,} records, {consume['polls']} polls)")
    finally:
        server.stop()
    base = baseline(cfg)
    progress(f"  baseline records_append batch 100: {base:,.0f} rec/s")
    return {"produce": produce, "consume": consume, "baseline": base, "seconds": cfg.seconds, "rounds": cfg.rounds}


METHOD = """\
**Method.** `python -m bench rest` starts `manage.py serve` (daphne, one process, no maintenance
thread) on the scratch database and drives it from separate client processes over keep-alive HTTP/1.1
with a staff bearer token. Produce: Confluent v2 `POST /rest/topics/{{topic}}` in the binary embedded
format (16-byte keys, 100-byte values, base64) to an 8-partition topic, 1 or 100 records per
request, 1 or 4 clients each sending its next request when the last was answered, {seconds:g} s
per round, median of {rounds} rounds. Consume: one v2 consumer instance (binary, earliest) reading
a pre-filled topic with `GET .../records` until it has every record. Baseline: `records_append`
in the benchmark process with the same records in batches of 100, in the same run. **Target
(issue 5): at least {target:,} records/s with 100 records per request from one server process.**
"""


def render(results: dict, machine: dict) -> str:
    first = next(iter(results.values()), None)
    if first is None:
        return "No backend ran."
    parts = [machine_markdown(machine), METHOD.format(seconds=first["seconds"], rounds=first["rounds"], target=TARGET)]
    verdicts = []
    for backend, r in results.items():
        label = backend_label(backend)
        rows = [
            (e["clients"], e["per_request"], fmt_int(e["rate"]), fmt_ms(e["latency_p50"] * 1000), f"{e['rate'] / r['baseline']:.2f}x")
            for e in r["produce"]
        ]
        parts.append(f"### {label}: REST produce\n\n" + table(
            ["Clients", "Records/request", "records/s", "p50 ms/request", "vs records_append"], rows, align="rrrrr",
        ))
        c = r["consume"]
        parts.append(f"### {label}: REST consume and baseline\n\n" + table(
            ["Measure", "records/s"],
            [
                (f"v2 consumer, one instance ({fmt_int(c['records'])} records, {c['polls']} polls)", fmt_int(c["rate"])),
                ("records_append in-process, batches of 100 (baseline)", fmt_int(r["baseline"])),
            ],
            align="lr",
        ))
        best100 = max((e["rate"] for e in r["produce"] if e["per_request"] == 100), default=0)
        verdicts.append(f"- {label}: {'met' if best100 >= TARGET else '**not met**'} ({fmt_int(best100)} records/s at 100 records/request).")
    parts.append(f"**Target: {TARGET:,} records/s at 100 records per request, one server process.**\n\n" + "\n".join(verdicts))
    return "\n\n".join(parts)
