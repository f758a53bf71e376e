"""Consumer groups: rebalance latency and lag computation (issue 3).

Rebalance latency is the coordinator's own work from a membership change to a Stable group:
the change itself (a join or a leave) plus the rejoin of every other member, each as the member's
next poll would make it (`member_sync`), with members polling back to back. Real consumers add
their poll interval on top; this measures what the broker adds.
"""

import time

from bench.common import backend_label, fmt_ms, machine_markdown, median, progress, table

NAME = "groups"
TITLE = "Consumer groups: rebalance latency and lag (issue 3)"

MEMBER_COUNTS = (1, 10, 100)
LAG_GROUPS = 1000
LAG_PARTITIONS = 10


def _settle(group_id: str) -> int:
    from brokercore.coordinator.read import group_describe
    from brokercore.coordinator.server_members import member_sync

    calls = 0
    for _ in range(5):
        info = group_describe(group_id=group_id)
        if info.state == "Stable" and not any(m.awaiting_join or m.revoking for m in info.members):
            return calls
        for m in info.members:
            member_sync(group_id=group_id, member_id=m.member_id)
            calls += 1
    raise RuntimeError(f"group {group_id} did not settle")


def rebalance(ctx) -> list[dict]:
    from brokercore.coordinator.server_members import group_join, member_leave
    from brokercore.topics.service import topic_create

    topic_create(name="bench-groups", partitions=100)
    rounds = 2 if ctx.quick else 5
    out = []
    for n in MEMBER_COUNTS:
        group = f"bench-{n}"
        members = [group_join(group_id=group, topics=["bench-groups"], session_timeout_ms=60_000).member_id for _ in range(n)]
        _settle(group)
        joins, leaves = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            extra = group_join(group_id=group, topics=["bench-groups"], session_timeout_ms=60_000).member_id
            calls = _settle(group)
            joins.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            member_leave(group_id=group, member_id=extra)
            _settle(group)
            leaves.append(time.perf_counter() - t0)
        out.append({"members": n, "join_s": median(joins), "leave_s": median(leaves), "rejoins": calls, "rounds": rounds})
        progress(f"  rebalance with {n} members: join {median(joins) * 1000:.1f} ms, leave {median(leaves) * 1000:.1f} ms")
        del members
    return out


def lag(ctx) -> dict:
    from brokercore.coordinator.lag import groups_lag_totals, lag_samples_record
    from brokercore.coordinator.offsets import offsets_commit
    from brokercore.coordinator.read import group_describe, group_list
    from brokercore.log.append import records_append
    from brokercore.topics.service import topic_create
    from brokercore.types import RecordIn

    groups = 100 if ctx.quick else LAG_GROUPS
    topic_create(name="bench-lag", partitions=LAG_PARTITIONS)
    records_append(topic="bench-lag", records=[RecordIn(key=str(i).encode(), value=b"x" * 100) for i in range(5000)])
    t0 = time.perf_counter()
    for g in range(groups):
        offsets_commit(group_id=f"lag-{g}", offsets={("bench-lag", p): g % 100 for p in range(LAG_PARTITIONS)})
    commit_s = time.perf_counter() - t0

    def timed(fn, repeat=5):
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return median(times)

    return {
        "groups": groups,
        "partitions": LAG_PARTITIONS,
        "commit_per_group_s": commit_s / groups,
        "totals_s": timed(groups_lag_totals),
        "list_s": timed(group_list),
        "describe_s": timed(lambda: group_describe(group_id="lag-7")),
        "sample_s": timed(lag_samples_record, repeat=3),
    }


def run(ctx) -> dict:
    progress(f"[{ctx.backend}] consumer groups")
    return {"rebalance": rebalance(ctx), "lag": lag(ctx)}


METHOD = """\
**Method.** Rebalance: a topic of 100 partitions and a group of N server-managed members (range
assignor) in a Stable generation; one more member joins, and every member rejoins as its next
poll would (back to back), until the group is Stable again; then that member leaves and the rest
rejoin. The figure is the median wall time of {rounds} rounds, the coordinator's work only (real
consumers add their poll interval). Lag: {groups:,} groups with committed offsets on a topic of
{partitions} partitions; the time to compute every group's total lag (`groups_lag_totals`), the
group list page's data (`group_list`), one group's full description with lag in time
(`group_describe`), and one pass of the lag sampler (`lag_samples_record`).
"""


def render(results: dict, machine: dict) -> str:
    first = next(iter(results.values()), None)
    if first is None:
        return "No backend ran."
    parts = [
        machine_markdown(machine),
        METHOD.format(rounds=first["rebalance"][0]["rounds"], groups=first["lag"]["groups"], partitions=first["lag"]["partitions"]),
    ]
    for backend, r in results.items():
        label = backend_label(backend)
        parts.append(f"### {label}: rebalance latency\n\n" + table(
            ["Members", "join → Stable (ms)", "leave → Stable (ms)", "member polls per rebalance"],
            [(e["members"], fmt_ms(e["join_s"] * 1000), fmt_ms(e["leave_s"] * 1000), e["rejoins"]) for e in r["rebalance"]],
            align="rrrr",
        ))
        g = r["lag"]
        parts.append(f"### {label}: lag for {g['groups']:,} groups × {g['partitions']} partitions\n\n" + table(
            ["Operation", "ms"],
            [
                ("every group's total lag (groups_lag_totals)", fmt_ms(g["totals_s"] * 1000)),
                ("group list data (group_list)", fmt_ms(g["list_s"] * 1000)),
                ("one group described, with lag in time", fmt_ms(g["describe_s"] * 1000)),
                ("one lag-sampler pass (all groups)", fmt_ms(g["sample_s"] * 1000)),
                ("one offset commit (10 partitions)", fmt_ms(g["commit_per_group_s"] * 1000)),
            ],
            align="lr",
        ))
    return "\n\n".join(parts)
