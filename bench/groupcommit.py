"""Group commit: 32 concurrent single-record producers, with group commit on and off (issue 7).

In-process: 32 threads of the benchmark process (each with its own database connection, as the
server's HTTP pool threads and the Kafka listener's threads have) call `records_append` with one
keyed record each, the next as soon as the last returned, for a fixed time. Off
(`BROKER["GROUP_COMMIT"] = False`) every call is its own transaction: the one-commit-per-record
baseline, measured in the same run, alternating with on. Also one lone producer, on and off: what
group commit costs a caller nobody else is writing beside.

Where the time goes: CPU time and context switches per record of each round, how many callers
the groups held, and the in-process ceilings (no database, no grouping: see `ceilings`).

REST: the same through `manage.py serve` (started once with group commit on, once off): 4 client
processes of 8 threads each, every thread a keep-alive connection sending one-record v2 produce
requests back to back.
"""

import multiprocessing
import os
import random
import resource
import threading
import time
from dataclasses import dataclass
from time import perf_counter

from bench.common import (
    api_token,
    backend_label,
    fmt_int,
    fmt_ms,
    fmt_ratio,
    machine_markdown,
    progress,
    table,
    web_server,
)

NAME = "groupcommit"
TITLE = "Group commit: concurrent single-record producers (issue 7)"
TARGET_RATIO = 5.0
TOPIC = "bench-gc"
REST_TOPIC = "bench-gc-rest"


@dataclass(frozen=True)
class Config:
    partitions: int = 8
    producers: int = 32
    seconds: float = 2.0
    rounds: int = 5  # off and on alternate, this many times each; the median round counts
    rest_procs: int = 4
    rest_threads: int = 8
    rest_seconds: float = 4.0


QUICK = Config(seconds=0.5, rounds=1, rest_seconds=1.0)


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


# --- In process ------------------------------------------------------------------------------


def _run_threads(producers: int, seconds: float, call, on_start=lambda: None) -> tuple[float, object, list[str]]:
    """`producers` threads run `call(i, n)` back to back for `seconds` after a common start, each
    with its own database connection; `call(i, 0)`, before the start, connects and warms up.
    Returns (the timed window in seconds, what `on_start()` returned at its start, the errors).
    A thread that fails breaks the start barrier, so nobody waits for it."""
    from django.db import connection

    errors: list[str] = []
    ready = threading.Barrier(producers + 1)
    stop = threading.Event()

    def run(i: int) -> None:
        try:
            call(i, 0)
            ready.wait()
            n = 1
            while not stop.is_set():
                call(i, n)
                n += 1
        except Exception as e:  # shown in the table
            errors.append(f"{type(e).__name__}: {e}")
            if not ready.broken:
                ready.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(producers)]
    for t in threads:
        t.start()
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        pass
    started = on_start()
    t0 = perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return perf_counter() - t0, started, errors


def _round(cfg: Config, producers: int, on: bool, acks) -> dict:
    from django.conf import settings

    from brokercore.log import group_commit
    from brokercore.log.append import records_append
    from brokercore.types import RecordIn

    settings.BROKER["GROUP_COMMIT"] = on
    rnd = random.Random(producers)
    records = [[RecordIn(key=rnd.randbytes(16), value=rnd.randbytes(100))] for _ in range(producers * 50)]
    latencies: list[list[float]] = [[] for _ in range(producers)]
    mine = [records[i::producers] for i in range(producers)]

    def produce(i: int, n: int) -> None:
        t = perf_counter()
        records_append(topic=TOPIC, records=mine[i][n % len(mine[i])], acks=acks)
        if n:  # the first call connects and caches the topic: not timed
            latencies[i].append(perf_counter() - t)

    def window_start():
        return group_commit.counts(), group_commit.group_sizes(), os.times(), resource.getrusage(resource.RUSAGE_SELF)

    elapsed, (before, sizes_before, cpu0, ru0), errors = _run_threads(producers, cfg.seconds, produce, window_start)
    cpu1, ru1 = os.times(), resource.getrusage(resource.RUSAGE_SELF)
    after, sizes_after = group_commit.counts(), group_commit.group_sizes()
    settings.BROKER["GROUP_COMMIT"] = True
    every = sorted(x for lat in latencies for x in lat)
    groups = after["groups"] - before["groups"]
    n = max(1, len(every))
    sizes = {k: v - sizes_before.get(k, 0) for k, v in sizes_after.items() if v - sizes_before.get(k, 0)}
    return {
        "rate": len(every) / elapsed,
        "appends": len(every),
        "p50_ms": _percentile(every, 0.5) * 1000,
        "p99_ms": _percentile(every, 0.99) * 1000,
        "callers_per_commit": (after["callers"] - before["callers"]) / groups if groups else 1.0,
        # The whole process's, over the timed window, per record written: with one core's worth
        # of GIL, CPU per record bounds the rate; switches are what handing the GIL around costs.
        "cpu_us_per_record": (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / n * 1e6,
        "cpu_cores": (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed,
        "switches_per_record": (ru1.ru_nvcsw + ru1.ru_nivcsw - ru0.ru_nvcsw - ru0.ru_nivcsw) / n,
        "group_sizes": {str(k): v for k, v in sorted(sizes.items())} if on else {},
        "errors": errors[:3],
    }


# (producers, acks): the target's case, a lone producer, and the target's case with acks=1, whose
# commits SQLite does not fsync (what grouping saves when a commit is cheap).
CASES = (("many", "all"), (1, "all"), ("many", 1))


def _acks_note(entry: dict) -> str:
    acks = entry.get("acks", "all")  # runs saved before acks=1 was measured: all
    return "" if acks == "all" else f", acks={acks}"


def case_label(entry: dict) -> str:
    n = entry["producers"]
    who = f"{n} threads" if n > 1 else "1 thread (lone)"
    return who + _acks_note(entry)


def in_process(cfg: Config, backend: str) -> list[dict]:
    out = []
    for producers, acks in CASES:
        producers = cfg.producers if producers == "many" else producers
        rounds: dict[str, list[dict]] = {"off": [], "on": []}
        for _ in range(cfg.rounds):
            for mode in ("off", "on"):
                rounds[mode].append(_round(cfg, producers, mode == "on", acks))
        entry = {"producers": producers, "acks": acks}
        for mode, rs in rounds.items():
            best = sorted(rs, key=lambda r: r["rate"])[len(rs) // 2]  # the median round
            entry[mode] = {**best, "rates": [r["rate"] for r in rs]}
        entry["ratio"] = entry["on"]["rate"] / entry["off"]["rate"] if entry["off"]["rate"] else float("nan")
        # Each on round against the off round just before it: the two shared the machine's load,
        # which on a shared 2-core machine moves single rounds by a third.
        entry["paired_ratios"] = [
            on["rate"] / off["rate"] for off, on in zip(rounds["off"], rounds["on"]) if off["rate"]
        ]
        progress(
            f"  [{backend}] {producers:>2} producers, acks={acks}: off {entry['off']['rate']:>8,.0f} rec/s "
            f"(p50 {entry['off']['p50_ms']:.2f} ms, p99 {entry['off']['p99_ms']:.1f} ms), "
            f"on {entry['on']['rate']:>8,.0f} rec/s (p50 {entry['on']['p50_ms']:.2f} ms, "
            f"p99 {entry['on']['p99_ms']:.1f} ms, {entry['on']['callers_per_commit']:.1f} callers/commit), "
            f"{entry['ratio']:.2f}x"
        )
        out.append(entry)
    return out


def _threads_rate(producers: int, seconds: float, call) -> float:
    """Calls per second of `producers` threads each running `call(i, n)` back to back."""
    counts = [0] * producers

    def counted(i: int, n: int) -> None:
        call(i, n)
        counts[i] = n

    elapsed, _, errors = _run_threads(producers, seconds, counted)
    if errors:
        raise RuntimeError(errors[0])
    return sum(counts) / elapsed


def ceilings(cfg: Config) -> dict:
    """What the in-process loop could reach at best, each part measured on its own.

    - python: `producers` threads run `records_append` with the database write replaced by an
      instant answer and group commit off: everything a caller does in Python, nothing else.
    - handoff: `producers` threads each hand a request to one thread and wait for its answer
      (a lock per request, the way group commit wakes a caller); no database, no Python work.
    - write: one thread writes groups of `producers` one-record batches with the real write, as a
      group-commit leader does (records per second of the database alone).
    - serial: the rate if every record costs its share of Python and of the write one after the
      other (1 / (1/python + 1/write)): what grouping can reach while one thread at a time holds
      the GIL and the write needs most of a core of its own.
    - free_write: the grouped loop itself (group commit on, `producers` threads), with the write
      replaced by a wait as long as one group's real write that holds no GIL and uses no CPU:
      what grouping reaches if the database's work cost this process nothing but time.
    """
    from django.conf import settings
    from django.db import connection

    from brokercore.log import append as log
    from brokercore.log import storage
    from brokercore.types import RecordIn

    rnd = random.Random(7)
    records = [[RecordIn(key=rnd.randbytes(16), value=rnd.randbytes(100))] for _ in range(1000)]
    out = {}

    def appends_rate(write) -> float:
        """Records per second of `producers` threads calling records_append, the write replaced
        by `write`: the point is to take the database out."""
        real_write = storage.append
        storage.append = write
        try:
            return _threads_rate(
                cfg.producers,
                cfg.seconds,
                lambda i, n: log.records_append(topic=TOPIC, records=records[(i * 31 + n) % 1000]),
            )
        finally:
            storage.append = real_write

    settings.BROKER["GROUP_COMMIT"] = False
    try:
        out["python"] = appends_rate(lambda conn, batches, **kw: {pid: 0 for pid in batches})
    finally:
        settings.BROKER["GROUP_COMMIT"] = True

    import queue as queue_mod

    inbox: queue_mod.SimpleQueue = queue_mod.SimpleQueue()

    def answer() -> None:
        while (lock := inbox.get()) is not None:
            lock.release()

    def hand(i: int, n: int) -> None:
        lock = threading.Lock()
        lock.acquire()
        inbox.put(lock)
        lock.acquire()

    server = threading.Thread(target=answer)
    server.start()
    try:
        out["handoff"] = _threads_rate(cfg.producers, cfg.seconds, hand)
    finally:
        inbox.put(None)
        server.join()

    meta = storage.topic_for_append(TOPIC)
    batch = [r[0] for r in records[: cfg.producers]]
    _, _, groups = log._place(TOPIC, meta, batch, None, "round_robin", log.ACKS_ALL)
    storage.append(connection, groups, meta=meta, acks=log.ACKS_ALL, log_append_time=False)
    writes, t0 = 0, perf_counter()
    while perf_counter() - t0 < cfg.seconds:
        storage.append(connection, groups, meta=meta, acks=log.ACKS_ALL, log_append_time=False)
        writes += 1
    out["write"] = writes * len(batch) / (perf_counter() - t0)
    out["serial"] = 1 / (1 / out["python"] + 1 / out["write"])

    per_write = len(batch) / out["write"]

    def free_write(conn, batches, **kw):
        time.sleep(per_write)
        return {pid: 0 for pid in batches}

    out["free_write"] = appends_rate(free_write)
    progress("  ceilings: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in out.items()))
    return out


# --- Through the REST proxy ------------------------------------------------------------------


def _rest_client(port, token, threads, seconds, start, queue, seed):
    from bench.rest import V2_BINARY, Http, _payload

    try:
        clients = [Http(port, token) for _ in range(threads)]
        bodies = [_payload(1, seed * 1000 + i) for i in range(50)]
        for c in clients:
            status, answer = c.call("POST", f"/rest/topics/{REST_TOPIC}", bodies[0], content_type=V2_BINARY)
            if status != 200:
                raise RuntimeError(f"produce answered {status}: {answer}")
        latencies: list[list[float]] = [[] for _ in clients]
        failures: list[str] = []
        start.wait()
        t0 = perf_counter()

        def send(i):
            n = 0
            while perf_counter() - t0 < seconds:
                t = perf_counter()
                status, answer = clients[i].call(
                    "POST", f"/rest/topics/{REST_TOPIC}", bodies[n % len(bodies)], content_type=V2_BINARY
                )
                latencies[i].append(perf_counter() - t)
                if status != 200:
                    failures.append(f"produce answered {status}: {answer}")
                    return
                n += 1

        ts = [threading.Thread(target=send, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if failures:
            raise RuntimeError(failures[0])
        queue.put({"latencies": [x for lat in latencies for x in lat], "seconds": perf_counter() - t0})
    except Exception as e:  # reported to the parent, which shows it
        queue.put({"error": f"{type(e).__name__}: {e}"})


def _rest_round(cfg: Config, token: str, on: bool) -> dict:
    import os

    os.environ["BROKER_GROUP_COMMIT"] = "1" if on else "0"
    server = web_server()
    port = server.port
    try:
        ctx = multiprocessing.get_context("spawn")
        start, queue = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=_rest_client, args=(port, token, cfg.rest_threads, cfg.rest_seconds, start, queue, i))
            for i in range(cfg.rest_procs)
        ]
        for p in procs:
            p.start()
        time.sleep(2.0)  # every client connected and warmed up
        start.set()
        results = [queue.get(timeout=cfg.rest_seconds + 60) for _ in procs]
        for p in procs:
            p.join()
    finally:
        server.stop()
        os.environ.pop("BROKER_GROUP_COMMIT", None)
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        return {"rate": 0.0, "p50_ms": float("nan"), "p99_ms": float("nan"), "errors": errors[:3]}
    every = sorted(x for r in results for x in r["latencies"])
    seconds = max(r["seconds"] for r in results)
    return {
        "rate": len(every) / seconds,
        "p50_ms": _percentile(every, 0.5) * 1000,
        "p99_ms": _percentile(every, 0.99) * 1000,
        "errors": [],
    }


def over_rest(cfg: Config, backend: str) -> dict:
    from django.db import connections

    from brokercore.topics.service import topic_create

    topic_create(name=REST_TOPIC, partitions=cfg.partitions)
    token = api_token("bench-gc", staff=True)
    connections.close_all()
    entry = {"clients": cfg.rest_procs * cfg.rest_threads}
    for mode in ("off", "on"):
        entry[mode] = _rest_round(cfg, token, mode == "on")
    entry["ratio"] = entry["on"]["rate"] / entry["off"]["rate"] if entry["off"]["rate"] else float("nan")
    progress(
        f"  [{backend}] REST, {entry['clients']} clients x 1 record: off {entry['off']['rate']:,.0f} rec/s, "
        f"on {entry['on']['rate']:,.0f} rec/s, {entry['ratio']:.2f}x {entry['off']['errors'] + entry['on']['errors'] or ''}"
    )
    return entry


# --- Entry points ----------------------------------------------------------------------------


def run(ctx) -> dict:
    from django.conf import settings

    from brokercore.topics.service import topic_create

    cfg = QUICK if ctx.quick else Config()
    progress(f"[{ctx.backend}] group commit: {cfg.producers} producers in one process")
    topic_create(name=TOPIC, partitions=cfg.partitions)
    result = {
        "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "settings": {k: settings.BROKER[k] for k in ("GROUP_COMMIT_LINGER_US", "GROUP_COMMIT_MAX_RECORDS")},
        "in_process": in_process(cfg, ctx.backend),
        "ceilings": ceilings(cfg),
    }
    progress(f"[{ctx.backend}] group commit: through the REST proxy")
    result["rest"] = over_rest(cfg, ctx.backend)
    return result


METHOD = """\
**Method.** `python -m bench groupcommit`, each backend in its own process on a scratch database
(as for the log benchmark). An 8-partition topic; every append is one record (16-byte random
key, so the partitioner spreads producers over all partitions; 100-byte random value; `acks=all`
unless a row says acks=1: on SQLite acks=all commits with `synchronous=FULL`, the WAL fsynced
at each commit, and acks=1 with `synchronous=NORMAL`, not fsynced; on PostgreSQL both flush the
WAL, as there are no standbys).

- **In process**: {producers} threads, each with its own database connection, call
  `records_append` back to back for {seconds:g} s after a common start. **Off**
  (`BROKER_GROUP_COMMIT=0`) is one transaction per record, the baseline; **on** is the default.
  Off and on alternate, {rounds} rounds each; the table shows the median round. Latency is per
  `records_append` call, measured by the caller. "Callers/commit" is how many appends one
  transaction carried on average. The lone-producer rows are one thread doing the same.
- **REST**: `manage.py serve` (daphne, one process, `WEB_THREADS` 32) started with group commit
  off, then on; {rest_procs} client processes of {rest_threads} threads, each thread one
  keep-alive connection sending one-record Confluent v2 produce requests back to back for
  {rest_seconds:g} s; latency per request as the client sees it.
- Settings: `BROKER_GROUP_COMMIT_LINGER_US` = {linger}, `BROKER_GROUP_COMMIT_MAX_RECORDS` = {max_records}.
"""


def method_text(result: dict) -> str:
    """The method section, from any backend's result (one run's configuration is the same in each)."""
    c = result["config"]
    return METHOD.format(
        producers=c["producers"],
        seconds=c["seconds"],
        rounds=c["rounds"],
        rest_procs=c["rest_procs"],
        rest_threads=c["rest_threads"],
        rest_seconds=c["rest_seconds"],
        linger=result["settings"]["GROUP_COMMIT_LINGER_US"],
        max_records=result["settings"]["GROUP_COMMIT_MAX_RECORDS"],
    )


def render(results: dict, machine: dict) -> str:
    first = next(iter(results.values()), None)
    if first is None:
        return "No backend ran."
    c = first["config"]
    parts = [machine_markdown(machine), method_text(first)]
    rows, verdicts = [], []
    for backend, r in results.items():
        label = backend_label(backend)
        for e in r["in_process"]:
            who = case_label(e)
            for mode in ("off", "on"):
                m = e[mode]
                rows.append(
                    (
                        label,
                        who,
                        mode,
                        fmt_int(m["rate"]),
                        fmt_ms(m["p50_ms"]),
                        fmt_ms(m["p99_ms"]),
                        f"{m['callers_per_commit']:.1f}" if mode == "on" else "1",
                        fmt_ratio(e["ratio"]) if mode == "on" else "",
                        "; ".join(m["errors"]),
                    )
                )
            if e["producers"] > 1 and e.get("acks", "all") == "all":
                met = e["ratio"] >= TARGET_RATIO
                verdicts.append(f"- {label}: {'met' if met else '**not met**'} ({e['ratio']:.2f}x).")
            elif e["producers"] > 1:
                verdicts.append(f"- {label}, acks={e['acks']} (not the target's case, shown for comparison): {e['ratio']:.2f}x.")
        rest = r.get("rest")
        if rest:
            for mode in ("off", "on"):
                m = rest[mode]
                rows.append(
                    (
                        label,
                        f"REST, {rest['clients']} clients",
                        mode,
                        fmt_int(m["rate"]),
                        fmt_ms(m["p50_ms"]),
                        fmt_ms(m["p99_ms"]),
                        "",
                        fmt_ratio(rest["ratio"]) if mode == "on" else "",
                        "; ".join(m["errors"]),
                    )
                )
    parts.append(
        "### Results\n\n"
        + table(
            ["Backend", "Producers", "Group commit", "rec/s", "p50 ms", "p99 ms", "callers/commit", "on/off", "errors"],
            rows,
            align="lllrrrrrl",
        )
    )
    parts.append(
        f"**Target: {c['producers']} concurrent single-record producers at least {TARGET_RATIO:g}x the "
        "one-commit-per-record rate of the same run** (acks=all, the default of this broker's "
        "adapters and of Kafka's clients).\n\n" + "\n".join(verdicts)
    )
    parts.append(_where_the_time_goes(results, c["producers"]))
    return "\n\n".join(p for p in parts if p)


def _caller_percentile(sizes: dict, q: float) -> float:
    """The size of the group the caller at quantile `q` was in (callers, not groups, counted)."""
    by_caller = sorted((int(k), int(k) * v) for k, v in sizes.items())
    total = sum(n for _, n in by_caller)
    if not total:
        return float("nan")
    seen = 0
    for size, n in by_caller:
        seen += n
        if seen >= total * q:
            return size
    return by_caller[-1][0]


def _where_the_time_goes(results: dict, producers: int) -> str:
    rows, ceiling_rows = [], []
    for backend, r in results.items():
        label = backend_label(backend)
        many = [e for e in r["in_process"] if e["producers"] > 1]
        lone = {e.get("acks", "all"): e for e in r["in_process"] if e["producers"] == 1}
        for e in many:
            if "cpu_us_per_record" not in e["on"]:  # a run saved before these were measured
                continue
            for mode in ("off", "on"):
                m = e[mode]
                sizes = m.get("group_sizes") or {}
                rows.append(
                    (
                        label,
                        f"{mode}{_acks_note(e)}",
                        " / ".join(fmt_int(x) for x in m.get("rates", [m["rate"]])),
                        f"{m['cpu_us_per_record']:.0f}",
                        f"{m['cpu_cores']:.2f}",
                        f"{m['switches_per_record']:.1f}",
                        f"{_caller_percentile(sizes, 0.1):.0f} / {_caller_percentile(sizes, 0.5):.0f}" if sizes else "",
                    )
                )
            paired = sorted(e.get("paired_ratios", []))
            if paired:
                rows.append((label, f"on / off, each round{_acks_note(e)}", " / ".join(f"{x:.2f}x" for x in paired), "", "", "", ""))
            alone = lone.get(e.get("acks", "all"))
            if alone and alone["off"]["rate"]:
                rows.append(
                    (
                        label,
                        f"on / lone off{_acks_note(e)}",
                        f"{e['on']['rate'] / alone['off']['rate']:.2f}x",
                        "",
                        "",
                        "",
                        "",
                    )
                )
        cl = r.get("ceilings")
        if cl:
            ceiling_rows.append(
                (
                    label,
                    *(
                        fmt_int(cl[k]) if k in cl else ""
                        for k in ("python", "handoff", "write", "serial", "free_write")
                    ),
                )
            )
    if not rows:
        return ""
    out = [
        "### Where the time goes\n\n"
        + table(
            [
                "Backend",
                "Group commit",
                "rec/s, each round",
                "CPU µs/record",
                "cores busy",
                "switches/record",
                "group of the p10 / p50 caller",
            ],
            rows,
            align="llrrrrr",
        )
    ]
    if ceiling_rows:
        out.append(
            table(
                [
                    "Backend",
                    "Python only, rec/s",
                    "handoff only, calls/s",
                    "write of one group, rec/s",
                    "serial bound, rec/s",
                    "grouped, write free, rec/s",
                ],
                ceiling_rows,
                align="lrrrrr",
            )
        )
    out.append(CEILINGS.replace("{producers}", str(producers)))
    return "\n\n".join(out)


CEILINGS = """\
CPU and switches are the benchmark process's (all its threads) over the timed window, divided by
the records written; "cores busy" is that CPU over the wall time (the GIL lets one thread run
Python at a time; the database's own work, and psycopg's or sqlite3's waits, run without it).
"On / off, each round" divides each on round by the off round run just before it, sorted.
"On / lone off" compares the grouped rate with one thread committing each record alone, the
fastest the one-commit-per-record path goes here. Ceilings, each measured alone in the same
process ({producers} threads unless said): *Python only* is `records_append` with the write
replaced by an instant answer and group commit off; *handoff only* is every thread handing a
request to one thread and waiting on a lock for its answer, nothing else; *write of one group* is
one thread writing a group of one-record batches as a leader does; *serial bound* is
1 / (1/Python + 1/write), the best a design reaches when each record's Python and its share of
the write run one after the other; *grouped, write free* is the grouped loop with the write
replaced by a wait as long as one group's write that uses no CPU and holds no GIL."""
