"""`python -m bench wide`: the log at scale (issue 15): the cleaner dropping a million records, and
a 1,000-partition topic (produce, the topic page, the message browser's "all partitions").

Times are `time.perf_counter` in the benchmark's process (server time for pages, through Django's
test client with a logged-in staff user; no network). PostgreSQL runs on a fresh scratch database
that has never been analyzed, as right after a bulk load.
"""

import time
from dataclasses import dataclass

from bench.common import backend_label, fmt_int, machine_markdown, median, progress, table

NAME = "wide"
TITLE = "The log at scale: the cleaner, and a 1,000-partition topic (issue 15)"
CLEAN_TARGET_S = 3.0  # log_clean of 1M records on PostgreSQL, no ANALYZE
PAGE_TARGET_MS = 150.0  # topic page and browser "all partitions" at 1,000 partitions
WIDE_TARGET_RATIO = 0.8  # produce at 1,000 partitions against 8


@dataclass(frozen=True)
class Config:
    clean_records: int = 1_000_000
    clean_batch: int = 1_000
    wide_partitions: int = 1_000
    produce_records: int = 100_000
    produce_batch: int = 2_000  # records per records_append call, spread over every partition
    page_rounds: int = 5


QUICK = Config(clean_records=20_000, wide_partitions=100, produce_records=10_000, page_rounds=2)


def _records(n: int, value: bytes, partitions: int | None = None):
    from brokercore.types import RecordIn

    return [RecordIn(key=b"k%d" % i, value=value, partition=None if partitions is None else i % partitions) for i in range(n)]


def clean(cfg: Config) -> dict:
    """Append cfg.clean_records to one partition, then let retention drop them all: the cleaner's
    pass (retention moves the log start, then removes the batches) timed."""
    from brokercore.log.append import records_append
    from brokercore.log.cleaner import log_clean
    from brokercore.topics.service import topic_configs_alter, topic_create

    topic_create(name="bench.clean", partitions=1)
    value = b"v" * 100
    for start in range(0, cfg.clean_records, cfg.clean_batch):
        records_append(topic="bench.clean", records=_records(min(cfg.clean_batch, cfg.clean_records - start), value), partition=0)
    topic_configs_alter(name="bench.clean", set_configs={"retention.ms": "0"})
    t0 = time.perf_counter()
    stats = log_clean(now_ms=int(time.time() * 1000) + 60_000)
    took = time.perf_counter() - t0
    return {"records": cfg.clean_records, "seconds": took, "retention_deleted": stats.retention_deleted,
            "purged": stats.rows_purged}


def _produce_rate(topic: str, partitions: int, cfg: Config) -> float:
    """What the Produce API does with a client's requests (as librdkafka sends them: one batch per
    partition, the call's records spread over every partition): check each batch
    (`producer_batch`), then append the request's batches together (`batches_append`)."""
    from brokercore.log.append import batches_append
    from brokercore.log.batch import batch_build, producer_batch

    value = b"v" * 100
    ts = int(time.time() * 1000)
    requests = []
    for c in range(max(1, cfg.produce_records // cfg.produce_batch)):
        rows: dict[int, list] = {}
        for i in range(cfg.produce_batch):
            rows.setdefault(i % partitions, []).append((ts, b"k%d-%d" % (c, i), value, ()))
        requests.append({p: batch_build(r) for p, r in rows.items()})
    t0 = time.perf_counter()
    for request in requests:
        batches = {p: producer_batch(data, version=9, max_uncompressed=1 << 30) for p, data in request.items()}
        results = batches_append(topic=topic, batches=batches)
        assert not any(isinstance(r, Exception) for r in results.values()), results
    return max(1, cfg.produce_records // cfg.produce_batch) * cfg.produce_batch / (time.perf_counter() - t0)


def wide(cfg: Config) -> dict:
    """Produce to 8 and to cfg.wide_partitions partitions in alternating rounds; then time the
    topic page and the message browser of the wide topic."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from brokercore.topics.service import topic_create

    topic_create(name="bench.narrow", partitions=8)
    topic_create(name="bench.wide", partitions=cfg.wide_partitions)
    rates = {8: [], cfg.wide_partitions: []}
    for _ in range(3):
        for n, topic in ((8, "bench.narrow"), (cfg.wide_partitions, "bench.wide")):
            rates[n].append(_produce_rate(topic, n, cfg))
    user = get_user_model().objects.create_user("bench-wide", password="x", is_staff=True)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    pages = []
    for label, url in (
        ("topic page", "/topics/bench.wide/"),
        ("browser, all partitions, newest", "/topics/bench.wide/messages/"),
        ("browser, all partitions, oldest", "/topics/bench.wide/messages/?seek=oldest"),
    ):
        client.get(url)  # warm: templates, URL resolver
        times, queries = [], 0
        for _ in range(cfg.page_rounds):
            with CaptureQueriesContext(connection) as q:
                t0 = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            queries = len(q)
        pages.append({"page": label, "ms": median(times), "queries": queries})
    return {"partitions": cfg.wide_partitions, "narrow": median(rates[8]), "wide": median(rates[cfg.wide_partitions]),
            "pages": pages}


def run(ctx) -> dict:
    cfg = QUICK if ctx.quick else Config()
    progress(f"[{ctx.backend}] wide: log_clean of {cfg.clean_records:,} records")
    result = {"config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}, "clean": clean(cfg)}
    progress(f"[{ctx.backend}] wide: {cfg.wide_partitions:,} partitions")
    result["wide"] = wide(cfg)
    return result


def render(results: dict, machine: dict) -> str:
    first = next(iter(results.values()), None)
    if first is None:
        return "No backend ran."
    c = first["config"]
    method = f"""**Method.** `python -m bench wide`, each backend in its own process on a scratch database
(PostgreSQL's never analyzed).

- **Cleaner**: {c['clean_records']:,} records of 100 bytes appended to one partition in calls of
  {c['clean_batch']:,} (one record batch each); then `retention.ms` is set to 0 and one `log_clean`
  pass is timed: retention moves the log start past every record, then the batches are deleted.
  Target: under {CLEAN_TARGET_S:g} s on PostgreSQL without ANALYZE.
- **Produce at {c['wide_partitions']:,} partitions**: the Produce API's work for requests of
  {c['produce_batch']:,} records spread over every partition, one batch per partition as librdkafka
  sends them (`producer_batch` checks each, `batches_append` writes the request's batches in one
  transaction), {c['produce_records']:,} records a round, against the same on 8 partitions, 3
  alternating rounds, median. Target: at least {WIDE_TARGET_RATIO}x the 8-partition rate.
- **Pages**: the topic page and the message browser ("all partitions", newest and oldest) of the
  {c['wide_partitions']:,}-partition topic after the produce rounds, median of {c['page_rounds']} requests,
  with the number of SQL queries (PostgreSQL's batch reads go through psycopg directly and are not
  counted). Target: under {PAGE_TARGET_MS:g} ms.
"""
    rows = []
    verdicts = []
    for backend, r in results.items():
        label = backend_label(backend)
        cl = r["clean"]
        rows.append((label, f"log_clean, {cl['records']:,} records", f"{cl['seconds']:.2f} s",
                     f"{cl['retention_deleted']:,} past the log start, {cl['purged']:,} removed"))
        if backend == "postgres":
            met = cl["seconds"] < CLEAN_TARGET_S
            verdicts.append(f"- {label}, log_clean: {'met' if met else '**not met**'} ({cl['seconds']:.2f} s).")
        w = r["wide"]
        ratio = w["wide"] / w["narrow"] if w["narrow"] else 0
        rows.append((label, f"produce, {w['partitions']:,} partitions", f"{fmt_int(w['wide'])} rec/s",
                     f"8 partitions: {fmt_int(w['narrow'])} rec/s ({ratio:.2f}x)"))
        verdicts.append(f"- {label}, produce at {w['partitions']:,} partitions: "
                        f"{'met' if ratio >= WIDE_TARGET_RATIO else '**not met**'} ({ratio:.2f}x of 8 partitions).")
        for p in w["pages"]:
            rows.append((label, p["page"], f"{p['ms']:.0f} ms", f"{p['queries']} queries"))
            verdicts.append(f"- {label}, {p['page']}: {'met' if p['ms'] < PAGE_TARGET_MS else '**not met**'} "
                            f"({p['ms']:.0f} ms).")
    return "\n\n".join([
        machine_markdown(machine), method,
        table(["Backend", "What", "Time or rate", "Detail"], rows),
        "**Goals.**\n" + "\n".join(verdicts),
    ])
