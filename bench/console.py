"""Console: produce → websocket latency of live fragments, and server times of the big pages.

Live latency runs in this process: the live consumer (`LiveConsumer`) under Channels' test
communicator on the in-memory channel layer, appends made by a separate producer thread (as the
Kafka protocol or REST API threads of a server would) with the server's event loop registered the
way `serve` does (`events.server_loop_set`), and the change watcher running as it does while any
page is open. The time runs from the start of the `records_append` call to the arrival of the
first websocket message that shows the record (tail) or the new high watermark (topic page). No
network, browser, Redis or htmx swap is included.

Pages: 1,000 topics of 1-3 partitions, one topic with a partition of 1,000,000 records of ~100
bytes, throughput samples as the maintenance thread leaves them; each page is requested through
`django.test.Client` (logged in as a staff user) and timed on the client side, so the figure is
the server's whole work for the request (middleware, session, view, queries, template) without
the network.
"""

import asyncio
import bisect
import cProfile
import io
import math
import pstats
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter

from bench.common import backend_label, fmt_int, fmt_ms, machine_markdown, median, progress, table

NAME = "console"
TITLE = "Console: live push latency and page server times"

DOMAINS = ("orders", "payments", "shipping", "billing", "users", "search", "audit", "inventory", "pricing", "alerts")
ENTITIES = ("events", "commands", "changes", "snapshots", "dlq")
BIG = "bench.big"
LIVE = "bench.live"
FILTER_HIT = "vip"  # in 1 % of the big topic's values
FILTER_MISS = "zz-nomatch"  # in none: the filter scans its whole budget


@dataclass(frozen=True)
class Config:
    topics: int = 1000
    big_records: int = 1_000_000
    batch: int = 10_000
    record_spacing_ms: int = 10  # timestamps of the big partition: 1,000,000 records over ~2.8 h
    small_records: int = 300
    samples: int = 13  # throughput samples per topic in the rate window (one per 5 s, 60 s)
    page_runs: int = 7
    paced_appends: int = 200
    paced_interval_s: float = 0.05
    # Idle topic: the next append 1 s after the previous push, well after the watcher's echo of
    # the previous append (<= 0.5 s) and the throttle window that echo opens (0.25 s).
    idle_appends: int = 15
    idle_gap_s: float = 1.0
    sparse_appends: int = 24
    sparse_interval_s: float = 0.37  # ~2.7 msg/s, not a multiple of the watcher's 0.5 s poll
    burst_s: float = 3.0
    render_runs: int = 15


QUICK = Config(
    topics=100, big_records=50_000, small_records=100, page_runs=2, paced_appends=30, idle_appends=4,
    sparse_appends=6, burst_s=1.0, render_runs=3,
)


def _name(i: int) -> str:
    return f"{DOMAINS[i % len(DOMAINS)]}.{ENTITIES[(i // len(DOMAINS)) % len(ENTITIES)]}.{i:04d}"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


# --- Data ------------------------------------------------------------------------------------


def _big_batch(start: int, n: int, t0_ms: int, spacing: int):
    from brokercore.types import RecordIn

    out = []
    for i in range(start, start + n):
        flag = FILTER_HIT if i % 100 == 0 else "std"
        value = f'{{"order":{i},"customer":"c{i % 5000:04d}","amount":{i % 997}.{i % 100:02d},"flag":"{flag}","note":"ok"}}'
        value = value.ljust(92, " ").encode()
        out.append(RecordIn(key=f"c{i % 5000:04d}".encode(), value=value, timestamp=t0_ms + i * spacing))
    return out


def populate(cfg: Config) -> dict:
    from django.contrib.auth.models import User

    from brokercore.cluster.nodes import throughput_sample
    from brokercore.log.append import records_append
    from brokercore.models import ThroughputSample, Topic
    from brokercore.topics.service import topic_create
    from brokercore.types import RecordIn

    out: dict = {}
    User.objects.create_user("bench-staff", password="bench-pw-12345", is_staff=True)

    t0 = perf_counter()
    names = []
    for i in range(cfg.topics):
        name = _name(i)
        topic_create(name=name, partitions=1 + i % 3)
        names.append(name)
    out["topics"] = cfg.topics
    out["topics_s"] = perf_counter() - t0
    progress(f"  {cfg.topics:,} topics created in {out['topics_s']:.1f} s ({out['topics_s'] / cfg.topics * 1000:.2f} ms each)")

    small = names[len(names) // 2]  # 1-3 partitions, a few hundred records
    records_append(topic=small, records=[RecordIn(key=f"k{i}".encode(), value=b"v" * 90) for i in range(cfg.small_records)])

    topic_create(name=BIG, partitions=1)
    now_ms = int(time.time() * 1000)
    t_first = now_ms - cfg.big_records * cfg.record_spacing_ms - 60_000
    t0 = perf_counter()
    for start in range(0, cfg.big_records, cfg.batch):
        n = min(cfg.batch, cfg.big_records - start)
        records_append(topic=BIG, records=_big_batch(start, n, t_first, cfg.record_spacing_ms), partition=0)
    out["big_records"] = cfg.big_records
    out["big_s"] = perf_counter() - t0
    out["big_first_ms"] = t_first
    progress(f"  {cfg.big_records:,} records appended to {BIG} in {out['big_s']:.1f} s "
             f"({cfg.big_records / out['big_s']:,.0f} rec/s, batches of {cfg.batch:,})")

    topic_create(name=LIVE, partitions=1)
    records_append(topic=LIVE, records=[RecordIn(key=b"k", value=f"warm {i}".encode()) for i in range(30)])

    # The maintenance thread samples every topic's watermark every 5 s: seed the last minute
    # (what topic_rates reads), then keep sampling while pages are timed (see _sampler_tick).
    topics = list(Topic.objects.filter(deleted_at__isnull=True).values_list("pk", flat=True))
    rows = []
    for k in range(cfg.samples):
        at = now_ms - (cfg.samples - 1 - k) * 5000 - 2500
        rows += [ThroughputSample(topic_id=pk, at_ms=at, high_watermark_sum=k * (pk % 7)) for pk in topics]
    ThroughputSample.objects.bulk_create(rows, batch_size=5000)
    throughput_sample()
    out["small"] = small
    out["samples_rows"] = ThroughputSample.objects.count()
    return out


_last_sample = [0.0]


def _sampler_tick() -> None:
    """What the server's maintenance thread does every 5 s (so the rate window stays realistic)."""
    from brokercore.cluster.nodes import throughput_sample

    if perf_counter() - _last_sample[0] >= 5.0:
        throughput_sample()
        _last_sample[0] = perf_counter()


def stats_state() -> str:
    from django.db import connection

    from brokercore.log.storage.meta import BATCH_TABLE

    with connection.cursor() as c:
        if connection.vendor == "postgresql":
            c.execute(
                "SELECT c.reltuples, s.last_analyze IS NOT NULL OR s.last_autoanalyze IS NOT NULL "
                "FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = %s",
                [BATCH_TABLE],
            )
            reltuples, analyzed = c.fetchone()
            if reltuples < 0 and not analyzed:
                return "never analyzed"
            return f"analyzed ({reltuples:,.0f} rows estimated)" if analyzed else f"vacuumed only ({reltuples:,.0f} rows estimated)"
        c.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
        return "analyzed" if c.fetchone()[0] else "never analyzed"


# --- Pages -----------------------------------------------------------------------------------


def _live_topics() -> int:
    from brokercore.models import Topic

    return Topic.objects.filter(deleted_at__isnull=True).count()


def _pages(cfg: Config, setup: dict) -> list[tuple[str, str, str | None]]:
    """(label, URL, a string the page must contain)."""
    mid = cfg.big_records // 2
    first_ms = setup["big_first_ms"]

    def at(offset: int) -> tuple[str, int]:
        """The form's time (whole seconds, UTC) near a record, and the first offset at or after it."""
        t = datetime.fromtimestamp((first_ms + offset * cfg.record_spacing_ms) // 1000, tz=UTC)
        return f"{t:%Y-%m-%dT%H:%M:%S}", max(0, -(-(int(t.timestamp()) * 1000 - first_ms) // cfg.record_spacing_ms))

    mid_time, mid_ts_offset = at(mid)
    early_time, early_ts_offset = at(1000)
    small = setup["small"]
    m = f"/topics/{BIG}/messages/"
    return [
        ("overview", "/", None),
        # The list shows at most 200 rows; its summary counts every live topic, the other
        # benchmarks' included.
        (f"topic list ({cfg.topics + 2:,} topics)", "/topics/", f"{_live_topics()} topics."),
        ("topic list, search ?q=payments", "/topics/?q=payments", "match"),
        ("topic list, sort by records (desc)", "/topics/?sort=-records", None),
        ("topic detail, big topic", f"/topics/{BIG}/", None),
        ("topic detail, small topic", f"/topics/{small}/", None),
        ("messages, newest (default)", m, f'<span class="off mono">{cfg.big_records - 1}</span>'),
        ("messages, oldest", m + "?partition=all&seek=oldest", '<span class="off mono">0</span>'),
        ("messages, seek offset (middle)", m + f"?partition=0&seek=offset&offset={mid}", f'<span class="off mono">{mid}</span>'),
        ("messages, next page from the middle", m + f"?partition=0&from=0:{mid + 50}", f'<span class="off mono">{mid + 50}</span>'),
        ("messages, seek time (middle)", m + f"?partition=all&seek=timestamp&time={mid_time}",
         f'<span class="off mono">{mid_ts_offset}</span>'),
        ("messages, seek time (near the start)", m + f"?partition=all&seek=timestamp&time={early_time}",
         f'<span class="off mono">{early_ts_offset}</span>'),
        (f"messages, filter “{FILTER_HIT}” (1 % match)", m + f"?partition=all&seek=newest&q={FILTER_HIT}&field=any", FILTER_HIT),
        ("messages, filter without match (scan cap)", m + f"?partition=all&seek=newest&q={FILTER_MISS}&field=any", "Stopped after examining"),
        ("messages, small topic", f"/topics/{small}/messages/", None),
    ]


def _client():
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.get(username="bench-staff"))
    return client


class QueryTimer:
    """A connection.execute_wrapper: how many queries, and the time spent in cursor.execute."""

    def __init__(self):
        self.n, self.s, self.slowest = 0, 0.0, (0.0, "")

    def __call__(self, execute, sql, params, many, context):
        t0 = perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            d = perf_counter() - t0
            self.n += 1
            self.s += d
            if d > self.slowest[0]:
                self.slowest = (d, sql[:400])


def pages_time(cfg: Config, setup: dict, phase: str) -> list[dict]:
    from django.db import connection

    client = _client()
    out = []
    for label, url, expect in _pages(cfg, setup):
        _sampler_tick()
        r = client.get(url)  # warm-up
        ok = r.status_code == 200 and (expect is None or expect in r.content.decode())
        times = []
        for _ in range(cfg.page_runs):
            t0 = perf_counter()
            client.get(url)
            times.append(perf_counter() - t0)
        timer = QueryTimer()
        with connection.execute_wrapper(timer):
            client.get(url)
        entry = {
            "label": label, "url": url, "phase": phase, "status": r.status_code, "ok": ok,
            "median_s": median(times), "max_s": max(times), "times": times, "bytes": len(r.content),
            "queries": timer.n, "db_s": timer.s, "slowest_sql": [timer.slowest[1], timer.slowest[0]],
        }
        progress(f"  [{phase}] {label:<44} {entry['median_s'] * 1000:>8.1f} ms (max {entry['max_s'] * 1000:.1f}), "
                 f"{timer.n} queries, execute {timer.s * 1000:.1f} ms (slowest {timer.slowest[0] * 1000:.1f} ms)"
                 f"{'' if ok else '  ** CHECK FAILED: HTTP ' + str(r.status_code)}")
        out.append(entry)
    return out


def selectors_time(cfg: Config) -> list[dict]:
    """The reads behind the slow parts of the pages and pushes, on their own."""
    from brokercore.cluster.read import brokers_list
    from brokercore.topics.read import cluster_totals, topic_describe, topic_list, topic_rates
    from console.live import watcher

    def timed(fn, n=5):
        fn()
        ts = []
        for _ in range(n):
            t0 = perf_counter()
            fn()
            ts.append(perf_counter() - t0)
        return median(ts)

    items = [
        ("topic_rates() (every topic's msg/s)", topic_rates),
        ("topic_list() (every topic, aggregated)", topic_list),
        ("cluster_totals()", cluster_totals),
        ("brokers_list()", brokers_list),
        ("topic_describe(big topic)", lambda: topic_describe(name=BIG)),
        ("change watcher snapshot() (every 0.5 s while a page is open)", watcher.snapshot),
    ]
    return [{"label": label, "s": timed(fn)} for label, fn in items]


def profile_pages(cfg: Config, setup: dict, entries: list[dict]) -> str:
    client = _client()
    out = io.StringIO()
    for e in sorted(entries, key=lambda e: -e["median_s"])[:3]:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(3):
            client.get(e["url"])
        prof.disable()
        out.write(f"\n--- cProfile: GET {e['url']} (3 requests) ---\n")
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
    return out.getvalue()


# --- Live latency ----------------------------------------------------------------------------

_TAIL_POS = re.compile(r'data-pos="0:(\d+)"')
_TOPIC_RECORDS = re.compile(r'<span class="num">([\d,]+)</span><span class="label">records</span>')


def _parse_tail(text: str) -> tuple[int | None, set[int]]:
    shown = {int(x) for x in _TAIL_POS.findall(text)}
    return (max(shown) if shown else None), shown


def _parse_topic(text: str) -> tuple[int | None, set[int]]:
    m = _TOPIC_RECORDS.search(text)
    # One partition, log start 0: records = high watermark, so the newest offset is records - 1.
    return (int(m.group(1).replace(",", "")) - 1 if m else None), set()


class Receiver:
    """Reads every message of one websocket and notes when it arrived and what it covers."""

    def __init__(self, comm, parse):
        self.comm, self.parse = comm, parse
        self.pushes: list[tuple[float, int]] = []  # (arrival, highest offset covered so far)
        self.shown: set[int] = set()
        self.covered = -1
        self.unparsed = 0
        self.task = asyncio.ensure_future(self._run())

    async def _run(self):
        while True:
            text = await self.comm.receive_from(timeout=3600)
            t = perf_counter()
            covered, shown = self.parse(text)
            if covered is None:
                self.unparsed += 1
                continue
            self.covered = max(self.covered, covered)
            self.shown |= shown
            self.pushes.append((t, self.covered))

    async def until(self, offset: int, timeout: float) -> bool:
        deadline = perf_counter() + timeout
        while self.covered < offset:
            if self.task.done():
                raise RuntimeError("the websocket stopped") from self.task.exception()
            if perf_counter() > deadline:
                return False
            await asyncio.sleep(0.002)
        return True

    def latencies(self, markers: list[tuple[int, float, float]], since: int) -> tuple[list[float], int]:
        """For each (offset, t0, t_done): arrival of the first push covering it minus t0."""
        pushes = self.pushes[since:]
        covered = [c for _, c in pushes]
        out, lost = [], 0
        for offset, t0, _ in markers:
            i = bisect.bisect_left(covered, offset)
            if i == len(pushes):
                lost += 1
            else:
                out.append(pushes[i][0] - t0)
        return out, lost


def _summary(mode: str, sub: str, markers, rec: Receiver, since: int, wall_s: float) -> dict:
    lat, lost = rec.latencies(markers, since)
    appends = [done - t0 for _, t0, done in markers]
    pushes = len(rec.pushes) - since
    entry = {
        "subscription": sub, "mode": mode, "appends": len(markers), "lost": lost,
        "p50_s": _pct(lat, 0.5), "p95_s": _pct(lat, 0.95), "max_s": max(lat) if lat else float("nan"),
        "mean_s": sum(lat) / len(lat) if lat else float("nan"), "min_s": min(lat) if lat else float("nan"),
        "append_p50_s": _pct(appends, 0.5), "pushes": pushes, "wall_s": wall_s,
        "append_rate": len(markers) / wall_s if wall_s else 0,
    }
    if sub.startswith("tail"):
        entry["shown"] = sum(1 for o, _, _ in markers if o in rec.shown)
    progress(
        f"  {sub:<16} {mode:<7} n={len(markers):>4} p50 {entry['p50_s'] * 1000:6.1f} ms  p95 {entry['p95_s'] * 1000:6.1f} ms  "
        f"max {entry['max_s'] * 1000:6.1f} ms  pushes {pushes}  lost {lost}"
        + (f"  shown {entry['shown']}/{len(markers)}" if "shown" in entry else "")
    )
    return entry


def _append_one(i: int) -> tuple[int, float, float]:
    from brokercore.log.append import records_append
    from brokercore.types import RecordIn

    t0 = perf_counter()
    [r] = records_append(topic=LIVE, records=[RecordIn(key=b"k", value=f"marker-{i}".encode())], partition=0)
    return r.offset, t0, perf_counter()


def _paced(n: int, interval: float, first: int) -> list[tuple[int, float, float]]:
    out = []
    start = perf_counter()
    for i in range(n):
        delay = start + i * interval - perf_counter()
        if delay > 0:
            time.sleep(delay)
        out.append(_append_one(first + i))
    return out


def _burst(seconds: float, first: int) -> list[tuple[int, float, float]]:
    out = []
    end = perf_counter() + seconds
    i = first
    while perf_counter() < end:
        out.append(_append_one(i))
        i += 1
    return out


async def _live_async(cfg: Config, user) -> list[dict]:
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.db import connections

    from brokercore import events
    from console.live.consumers import LiveConsumer

    loop = asyncio.get_running_loop()
    has_server_loop = hasattr(events, "server_loop_set")
    if has_server_loop:
        events.server_loop_set(loop)  # as `serve` does: worker threads hand events to this loop
    producer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-producer")

    async def run_in_producer(fn, *args):
        if has_server_loop:
            return await loop.run_in_executor(producer, fn, *args)
        return await database_sync_to_async(fn)(*args)  # publish hops back to this loop by itself

    counter = [0]
    results = []

    async def open_loop(mode: str, sub: str, rec, appender, *args) -> dict:
        """One producer run that appends on its own clock, whatever the pushes do; its summary
        once the push of its last append arrived. `appender` takes the first record's number last."""
        since, t_start = len(rec.pushes), perf_counter()
        markers = await run_in_producer(appender, *args, counter[0])
        counter[0] += len(markers)
        wall = perf_counter() - t_start
        await rec.until(markers[-1][0], 5)
        return _summary(mode, sub, markers, rec, since, wall)
    try:
        for sub, parse in ((f"tail:{LIVE}", _parse_tail), (f"topic:{LIVE}", _parse_topic)):
            path = f"/ws/live/?s={sub}"
            comm = WebsocketCommunicator(LiveConsumer.as_asgi(), path)
            comm.scope["user"] = user
            comm.scope["query_string"] = path.partition("?")[2].encode()
            connected, code = await comm.connect(timeout=10)
            if not connected:
                raise RuntimeError(f"websocket {path} refused ({code})")
            rec = Receiver(comm, parse)
            # The initial fragments (the page's re-sync on connect), then a quiet spell.
            deadline = perf_counter() + 10
            while not rec.pushes and perf_counter() < deadline:
                await asyncio.sleep(0.01)
            if not rec.pushes:
                raise RuntimeError(f"no initial fragment on {path} (unparsed messages: {rec.unparsed})")
            await asyncio.sleep(0.6)

            # Idle topic: each append finds the consumer's throttle open (the leading edge).
            since, markers, t_start = len(rec.pushes), [], perf_counter()
            for _ in range(cfg.idle_appends):
                m = await run_in_producer(_append_one, counter[0])
                counter[0] += 1
                markers.append(m)
                await rec.until(m[0], 5)
                await asyncio.sleep(cfg.idle_gap_s)
            results.append(_summary("idle", sub, markers, rec, since, perf_counter() - t_start))
            await asyncio.sleep(0.6)

            # Sparse: an append every sparse_interval_s (open loop), a low-traffic topic.
            results.append(await open_loop("sparse", sub, rec, _paced, cfg.sparse_appends, cfg.sparse_interval_s))
            await asyncio.sleep(1.0)

            # Paced: one append every interval, whatever the pushes do (open loop).
            results.append(await open_loop("paced", sub, rec, _paced, cfg.paced_appends, cfg.paced_interval_s))
            await asyncio.sleep(0.6)

            # Back to back: single-record appends as fast as one producer thread goes.
            results.append(await open_loop("burst", sub, rec, _burst, cfg.burst_s))
            results[-1]["unparsed"] = rec.unparsed

            rec.task.cancel()
            try:
                await rec.task
            except (asyncio.CancelledError, Exception):
                pass
            await comm.disconnect()
            await asyncio.sleep(0.6)  # let the watcher see no client and stop
    finally:
        if has_server_loop:
            events.server_loop_set(None)
        await loop.run_in_executor(producer, connections.close_all)
        producer.shutdown()
        await database_sync_to_async(connections.close_all)()
    return results


def renders_time(cfg: Config, user) -> list[dict]:
    """One push's server work (fragments.render, sync), without the channel layer or throttle."""
    from brokercore.log.append import records_append
    from brokercore.types import RecordIn
    from console.live import fragments

    out = []
    for sub in (f"tail:{LIVE}", f"topic:{LIVE}"):
        state: dict = {}
        fragments.render(sub, state, user)  # the initial render, as on connect
        times = []
        for i in range(cfg.render_runs):
            records_append(topic=LIVE, records=[RecordIn(key=b"k", value=f"render-{i}".encode())], partition=0)
            t0 = perf_counter()
            html = fragments.render(sub, state, user)
            times.append(perf_counter() - t0)
        out.append({"subscription": sub.split(":")[0], "s": median(times), "max_s": max(times), "bytes": len(html)})
        progress(f"  render one push of {sub}: {median(times) * 1000:.2f} ms ({len(html):,} bytes)")
    return out


def live(cfg: Config) -> dict:
    from django.conf import settings
    from django.contrib.auth.models import User

    from brokercore import events
    from console.live import watcher
    from console.live.consumers import THROTTLE_S

    user = User.objects.get(username="bench-staff")
    renders = renders_time(cfg, user)
    results = asyncio.run(_live_async(cfg, user))
    return {
        "latency": results, "renders": renders, "throttle_s": THROTTLE_S,
        "event_throttle_s": getattr(events, "THROTTLE_S", None),
        "watcher_poll_s": watcher.POLL_S,
        "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1],
    }


# --- Entry points ----------------------------------------------------------------------------


def run(ctx) -> dict:
    from channels.layers import channel_layers
    from django.conf import settings
    from django.db import connection

    cfg = QUICK if ctx.quick else Config()
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()

    progress(f"[{ctx.backend}] console: populating")
    setup = populate(cfg)
    result = {"config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}, "setup": setup}

    result["stats_before"] = stats_state()
    progress(f"[{ctx.backend}] console: pages ({result['stats_before']})")
    pages = pages_time(cfg, setup, "as loaded")
    with connection.cursor() as c:
        c.execute("ANALYZE")
    result["stats_after"] = stats_state()
    progress(f"[{ctx.backend}] console: pages after ANALYZE ({result['stats_after']})")
    pages += pages_time(cfg, setup, "analyzed")
    result["pages"] = pages
    result["selectors"] = selectors_time(cfg)
    for s in result["selectors"]:
        progress(f"  {s['label']:<62} {s['s'] * 1000:8.2f} ms")
    if ctx.profile:
        progress(profile_pages(cfg, setup, [p for p in pages if p["phase"] == "analyzed"]))

    progress(f"[{ctx.backend}] console: live latency")
    result["live"] = live(cfg)
    return result


METHOD = """\
**Method.** `python -m bench console` runs each backend in its own process on a scratch database
(as for the other benchmarks).

- **Data**: {topics:,} topics of 1-3 partitions (named like `payments.events.0001`, ten name
  prefixes) created one by one with `topic_create`; one of them gets {small:,} records; `{big}`
  has one partition of {big_records:,} records of ~100 bytes (5-byte key, 92-byte JSON value,
  create timestamps {spacing} ms apart), appended by `records_append` in batches of {batch:,};
  `{live}` (1 partition) for the live measurements. The throughput-sample table holds what the
  server's maintenance thread keeps writing (one sample per topic every 5 s; the bench keeps
  sampling while it times pages), so `topic_rates` reads a realistic minute of samples.
- **Pages**: `django.test.Client` logged in as a staff user, one warm-up request then
  {runs} timed requests per page (median and max), client-side `perf_counter`: the server's whole
  work (middleware, session and user lookups, view, queries, template) without network or
  browser. Queries and "query ms" (time inside `cursor.execute`, summed) come from one more
  request; on SQLite rows are stepped partly in the later fetch, so that figure undercounts there.
  First on the freshly loaded database (table statistics as autovacuum left them: PostgreSQL
  may or may not have analyzed the new rows; SQLite has none), then after `ANALYZE`.
- **Live latency** (in-process): the live websocket consumer (`LiveConsumer`) under Channels'
  `WebsocketCommunicator` on the in-memory channel layer, subscribed to `tail:{live}` (the live
  tail) or `topic:{live}` (the topic page's partitions table), with the change watcher polling
  as it does while a page is open. A separate producer thread appends one record per call
  (`records_append`, acks=all) and the server loop is registered as `serve` does, so events go
  from the producer's commit to the consumer's loop like in the server. Latency = arrival of the
  first websocket message showing the record (tail: its `data-pos` row, or a newer one when the
  push is cut at 200 rows; topic: the new high watermark) minus the start of the append call, so
  it includes the append's own commit. **No network, browser, htmx swap or Redis** is included:
  a browser adds its network round-trip and DOM swap; Redis adds a hop per event.
  Modes: *idle*: one append, wait for its push, then {gap:g} s of silence, so every append
  finds the consumer's {throttle:g} s throttle open (its leading edge: rendered at once);
  *sparse*: {sparse} appends every {sparse_interval:g} s (open loop, a low-traffic topic);
  *paced*: {paced} appends every {interval:g} s (open loop, 20 msg/s); *burst*: back-to-back
  single-record appends from one thread for {burst:g} s. The consumer pushes at most once per
  {throttle:g} s per connection (the first change after a quiet spell at once, later ones
  coalesced until {throttle:g} s after the previous push); services publish an append event at
  most once per {event_throttle} s per topic, and the change watcher (polling every {poll:g} s)
  announces whatever it sees change, including this process's own appends. Under steady traffic
  the latency therefore spreads between the render time and about {throttle:g} s + render time:
  that spread is the throttle working as designed, not a cost.
"""


def render(results: dict, machine: dict) -> str:
    first = next(iter(results.values()), None)
    if first is None:
        return "No backend ran."
    c = first["config"]
    lv = first["live"]
    parts = [
        machine_markdown(machine),
        METHOD.format(
            topics=c["topics"], small=c["small_records"], big=BIG, big_records=c["big_records"],
            spacing=c["record_spacing_ms"], batch=c["batch"], live=LIVE, runs=c["page_runs"],
            gap=c["idle_gap_s"], throttle=lv["throttle_s"], paced=c["paced_appends"],
            sparse=c["sparse_appends"], sparse_interval=c["sparse_interval_s"],
            interval=c["paced_interval_s"], burst=c["burst_s"],
            event_throttle=f"{lv['event_throttle_s']:g}" if lv.get("event_throttle_s") is not None else "n/a",
            poll=lv["watcher_poll_s"],
        ),
    ]

    # Live latency, both backends in one table.
    rows = []
    for backend, r in results.items():
        for e in r["live"]["latency"]:
            shown = f"{e['shown']}/{e['appends']}" if "shown" in e else ""
            rows.append((
                backend_label(backend), e["subscription"].split(":")[0], e["mode"], e["appends"],
                f"{e['append_rate']:.0f}", fmt_ms(e["append_p50_s"] * 1000),
                fmt_ms(e["p50_s"] * 1000), fmt_ms(e["p95_s"] * 1000), fmt_ms(e["max_s"] * 1000),
                e["pushes"], shown, e["lost"],
            ))
    parts.append("### Produce → websocket fragment latency (in-process)\n\n" + table(
        ["Backend", "Subscription", "Mode", "Appends", "appends/s", "append ms (p50)", "p50 ms", "p95 ms",
         "max ms", "pushes", "rows shown", "never arrived"],
        rows, align="lllrrrrrrrrr",
    ))
    rows = []
    for backend, r in results.items():
        for e in r["live"]["renders"]:
            rows.append((backend_label(backend), e["subscription"], fmt_ms(e["s"] * 1000), fmt_ms(e["max_s"] * 1000), fmt_int(e["bytes"])))
    parts.append("One push's server work (`fragments.render` of one subscription after one new record, "
                 "median of the runs; the latency above adds the commit, the event hop and the throttle):\n\n"
                 + table(["Backend", "Subscription", "render ms", "max ms", "bytes"], rows, align="llrrr"))

    for backend, r in results.items():
        label = backend_label(backend)
        s = r["setup"]
        parts.append(
            f"### {label}: data and pages\n\n"
            f"{s['topics']:,} topics created in {s['topics_s']:.1f} s ({s['topics_s'] / s['topics'] * 1000:.2f} ms per "
            f"`topic_create`); {s['big_records']:,} records appended to `{BIG}` in {s['big_s']:.1f} s "
            f"({s['big_records'] / s['big_s']:,.0f} records/s). Table statistics of `brokercore_recordbatch`: "
            f"{r['stats_before']} when the first pages were timed, {r['stats_after']} after `ANALYZE`."
        )
        before = {p["label"]: p for p in r["pages"] if p["phase"] == "as loaded"}
        after = {p["label"]: p for p in r["pages"] if p["phase"] == "analyzed"}
        rows = []
        for lbl, a in after.items():
            b = before.get(lbl)
            flag = "" if a["ok"] and (b is None or b["ok"]) else f" **(HTTP {a['status']}, check failed)**"
            rows.append((
                lbl + flag,
                fmt_ms(b["median_s"] * 1000) if b else "",
                fmt_ms(b["max_s"] * 1000) if b else "",
                fmt_ms(a["median_s"] * 1000),
                fmt_ms(a["max_s"] * 1000),
                a["queries"],
                fmt_ms(a["db_s"] * 1000),
                fmt_ms(a["slowest_sql"][1] * 1000),
                f"{a['bytes'] / 1024:,.0f}",
            ))
        parts.append(table(
            ["Page", "median ms (as loaded)", "max", "median ms (analyzed)", "max", "queries", "query ms",
             "slowest query ms", "KiB"],
            rows, align="lrrrrrrrr",
        ))
        urls = ", ".join(f"`{p['url']}`" for p in after.values() if "messages" in p["url"] and BIG in p["url"])
        parts.append(f"Message-browser URLs (big topic): {urls}.")
        parts.append(table(
            ["Selector (analyzed)", "ms"],
            [(x["label"], fmt_ms(x["s"] * 1000)) for x in r["selectors"]],
            align="lr",
        ))
    return "\n\n".join(parts)
