"""Reading a topic back after a fault, and judging it against what the clients were told.

`log_read` and `wait_drained` run where Django is set up on the database under test (in the test
process, or `load_proc verify` in a child for a database the test process is not connected to);
`judge` works on their JSON and the clients' result files only.
"""

import time

# The load's user: REST calls and Kafka connections (SASL/PLAIN) authenticate with its API token.
LOAD_USER = "reliability"


def load_setup(topic: str, partitions: int, configs: dict | None = None) -> dict:
    """The topic under load and a staff user's API token: {"token": ...}."""
    from django.contrib.auth import get_user_model

    from brokercore.topics.service import topic_create
    from console.api.tokens import token_create

    topic_create(name=topic, partitions=partitions, configs=configs or None)
    user = get_user_model().objects.create_user(username=LOAD_USER, password="reliability-pw", is_staff=True)
    return {"token": token_create(user=user, name="reliability")[1]}


def log_read(topic: str) -> dict:
    """Every partition's offsets and record keys, and every group's committed offsets."""
    from brokercore.log.read import partition_offsets_list, records_fetch
    from brokercore.models import CommittedOffset

    partitions = {}
    for p in partition_offsets_list(topic=topic):
        index, position, records = p.partition, p.log_start_offset, []
        while position < p.high_watermark:
            batch = records_fetch(topic=topic, partition=index, offset=position, max_records=5000, max_bytes=64 << 20)
            if not batch.records:
                break
            records += [[r.offset, r.key.decode() if r.key is not None else None] for r in batch.records]
            position = batch.records[-1].offset + 1
        partitions[str(index)] = {"log_start": p.log_start_offset, "hw": p.high_watermark, "records": records}
    committed: dict[str, dict[str, int]] = {}
    for group, index, offset in CommittedOffset.objects.filter(partition__topic__name=topic).values_list(
        "group__group_id", "partition__index", "offset"
    ):
        committed.setdefault(group, {})[str(index)] = offset
    return {"partitions": partitions, "committed": committed}


def wait_drained(topic: str, groups: list[str], timeout: float) -> dict[str, bool]:
    """Wait until each group has committed the high watermark of every partition."""
    from brokercore.log.read import partition_offsets_list
    from brokercore.models import CommittedOffset

    deadline, done = time.monotonic() + timeout, {}
    while True:
        hws = {p.partition: p.high_watermark for p in partition_offsets_list(topic=topic)}
        for group in groups:
            rows = dict(CommittedOffset.objects.filter(group__group_id=group, partition__topic__name=topic)
                        .values_list("partition__index", "offset"))
            done[group] = all(rows.get(i, 0) >= hw for i, hw in hws.items())
        if all(done.values()) or time.monotonic() > deadline:
            return done
        time.sleep(0.25)


def judge(log: dict, producers: list[dict], consumers: dict[str, list[dict]]) -> tuple[dict, list[str]]:
    """(figures, problems): problems is empty when every guarantee held.

    - every acknowledged record is stored exactly once, where its client was told;
    - records of idempotent producers are never stored twice, acknowledged or not;
    - each partition's offsets run gapless from its log start to its high watermark;
    - no commit was ahead of what its consumer had consumed, no committed offset is past the
      high watermark, and below each group's committed offset every record was consumed.
    """
    problems: list[str] = []
    where: dict[str, list[tuple[int, int]]] = {}
    for p, part in log["partitions"].items():
        offsets = [o for o, _ in part["records"]]
        if offsets != list(range(part["log_start"], part["hw"])):
            missing = sorted(set(range(part["log_start"], part["hw"])) - set(offsets))
            problems.append(f"partition {p}: offsets not gapless from {part['log_start']} to {part['hw']} (missing {missing[:10]})")
        for o, key in part["records"]:
            where.setdefault(key, []).append((int(p), o))
    figures = {"records_stored": sum(len(v) for v in where.values())}
    starts = {p: part["log_start"] for p, part in log["partitions"].items()}
    acked = lost = retained_away = misplaced = dup_acked = dup_unacked = unacked_stored = 0
    for prod in producers:
        idempotent = prod.get("acks") == "all"
        for key, place in prod["acked"].items():
            acked += 1
            places = where.get(key, [])
            if not places and place[1] < starts[str(place[0])]:
                retained_away += 1  # below the log start: retention removed it, as it should
            elif not places:
                lost += 1
            elif len(places) > 1:
                dup_acked += 1
            elif list(places[0]) != place:
                misplaced += 1
        for key in prod["failed"]:
            places = where.get(key, [])
            unacked_stored += bool(places)
            if len(places) > 1 and idempotent:
                dup_unacked += 1
    figures.update(acknowledged=acked, lost=lost, removed_by_retention=retained_away, duplicated=dup_acked, misplaced=misplaced,
                   unacknowledged=sum(len(p["failed"]) for p in producers), unacknowledged_but_stored=unacked_stored)
    for name, n in (("acknowledged records lost", lost), ("acknowledged records stored twice", dup_acked),
                    ("acknowledged records not where the client was told", misplaced),
                    ("idempotent records stored twice", dup_unacked)):
        if n:
            problems.append(f"{n} {name}")
    hws = {p: part["hw"] for p, part in log["partitions"].items()}
    for group, members in consumers.items():
        seen: dict[str, set[int]] = {}
        for m in members:
            for p, offsets in m["offsets"].items():
                seen.setdefault(p, set()).update(offsets)
        figures[f"{group}_consumed"] = sum(len(s) for s in seen.values())
        figures[f"{group}_redelivered"] = sum(len(o) for m in members for o in m["offsets"].values()) - figures[f"{group}_consumed"]
        # Every commit a member was told succeeded, and what the database holds at the end.
        commits = [(f"{m['role']} commit", p, o) for m in members for p, o in m["commits"].items()]
        commits += [("stored commit", p, o) for p, o in log["committed"].get(group, {}).items()]
        for what, p, offset in commits:
            if offset > hws[p]:
                problems.append(f"{group}: {what} {offset} on partition {p} is past the high watermark {hws[p]}")
            not_consumed = set(range(starts[p], offset)) - seen.get(p, set())
            if not_consumed:
                problems.append(f"{group}: {what} {offset} on partition {p} is ahead of consumption: "
                                f"never consumed {sorted(not_consumed)[:10]}")
    return figures, problems


def resumed_after(progress_lines: list[dict], t: float) -> float | None:
    """Seconds from `t` until the client's count next went up (None: it never did)."""
    before = max((line["done"] for line in progress_lines if line["t"] <= t), default=0)
    later = [line["t"] for line in progress_lines if line["t"] > t and line["done"] > before]
    return round(min(later) - t, 2) if later else None
