"""The load every fault test runs, and the run around one kind of fault.

Producers: confluent-kafka with acks=all (idempotent, retrying), confluent-kafka with acks=1 (no
retries) and a REST producer. Consumers: a group of two confluent-kafka members and a REST consumer
in a second group, all committing after each batch. Each is a process of its own.
"""

import time
from collections.abc import Callable
from pathlib import Path

from tests.reliability.checks import judge, resumed_after
from tests.reliability.conftest import Load, load_proc

TOPIC, PARTITIONS = "orders", 4
KAFKA_GROUP, REST_GROUP = "kafka-readers", "rest-readers"


def clients_start(load: Load, *, kafka: bool = True, rest: bool = True) -> None:
    if kafka:
        load.start("producers", "kafka-producer", "kafka-acks-all", "--acks", "all")
        load.start("producers", "kafka-producer", "kafka-acks-1", "--acks", "1")
        load.start("consumers", "kafka-consumer", "kafka-member-1", "--group", KAFKA_GROUP)
        load.start("consumers", "kafka-consumer", "kafka-member-2", "--group", KAFKA_GROUP)
    if rest:
        load.start("producers", "rest-producer", "rest-producer")
        load.start("consumers", "rest-consumer", "rest-consumer", "--group", REST_GROUP)


def faulted_run(*, db_url: str, load_dir: Path, load: Load, fault: Callable[[], dict], faults: int,
                steady_s: float) -> tuple[dict, list[str]]:
    """Run the load, apply `fault` `faults` times `steady_s` apart, then stop the producers, let the
    consumers drain, and judge. `fault` returns figures of its own (e.g. the restart time)."""
    groups = sorted({KAFKA_GROUP if "kafka" in n else REST_GROUP for n in load.names() if "member" in n or "consumer" in n})
    fault_figures, began, ended = [], 0.0, 0.0
    time.sleep(steady_s)
    for _ in range(faults):
        began = time.time()
        fault_figures.append(fault())
        ended = time.time()
        time.sleep(steady_s)
    producers = load.stop("producers")
    log = load_proc(db_url, load_dir, "verify", "--topic", TOPIC, *[a for g in groups for a in ("--group", g)],
                    "--timeout", "60")
    consumers = load.stop("consumers")
    by_group = {g: [c for c in consumers if (g == KAFKA_GROUP) == c["name"].startswith("kafka")] for g in groups}
    figures, problems = judge(log, producers, by_group)
    problems += [f"{g} did not catch up with the log (committed offsets below the high watermark)"
                 for g, done in log["drained"].items() if not done]
    # Every client made progress after the last fault was over; seconds from the fault's start.
    resumed = {name: resumed_after(load.progress(name), ended) for name in load.names()}
    problems += [f"{name} did not resume after the fault" for name, s in resumed.items() if s is None]
    resumed = {name: round(s + ended - began, 2) for name, s in resumed.items() if s is not None}
    figures["faults"] = fault_figures
    figures["resumed_after_s"] = resumed
    figures["per_producer"] = {p["name"]: {"sent": p["sent"], "acked": len(p["acked"]), "failed": len(p["failed"])}
                               for p in producers}
    figures["commit_errors"] = {c["name"]: c["commit_error_count"] for c in consumers}
    return figures, problems
