"""Lab presets: one click sets up a topic, groups, consumers and a producer that teach one idea.

Plain data: the runner builds the lab, the lab page shows the explanation and the steps.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class GroupSpec:
    suffix: str  # the group id is "lab<n>-<suffix>"
    assignor: str
    prefix: str  # its consumers are <prefix>1, <prefix>2, ...


APP = (GroupSpec("app", "range", "c"),)


@dataclass(frozen=True)
class Preset:
    slug: str
    title: str
    idea: str  # one line for the preset card
    explanation: tuple[str, ...]  # paragraphs
    steps: tuple[str, ...]  # "try this"
    partitions: int
    producer_rate: int  # records/s
    # The usual lab: one range group ("app") of three consumers reading 20 records/s each, and the
    # producer's keys drawn from twelve. A preset names only what its idea changes.
    groups: tuple[GroupSpec, ...] = APP
    consumers: int = 3  # per group
    consumer_rate: int = 20  # records/s each
    keys: int = 12
    crash_after_s: float | None = None  # crash the second consumer this long after the start
    panel: str = ""  # "keys" or "compare": an extra panel on the lab page

PRESETS: dict[str, Preset] = {
    p.slug: p
    for p in (
        Preset(
            slug="idle",
            title="More consumers than partitions",
            idea="Three consumers, two partitions: one member sits idle.",
            explanation=(
                "Inside a consumer group each partition is read by exactly one member: that is how a "
                "group keeps each partition's records in order. Here three consumers share a topic with "
                "two partitions, so the assignor has nothing to give the third one: it is an idle member.",
                "An idle member is not wasted: it heartbeats and polls like the others, and takes over "
                "at the next rebalance. To read faster, add partitions, not consumers.",
            ),
            steps=(
                "Find the idle member in the assignment grid (its column is empty).",
                "Crash a busy consumer: when its session expires (6 s), the idle one takes its partition.",
                "Or add a partition: the group rebalances and the idle member gets it at once.",
            ),
            partitions=2,
            producer_rate=10,
        ),
        Preset(
            slug="crash",
            title="A consumer crashes",
            idea="A consumer stops heartbeating: its partitions wait for the session timeout.",
            explanation=(
                "A consumer that dies without saying goodbye is not noticed at once. The coordinator "
                "waits for its session timeout (session.timeout.ms, 6 s here: the broker's minimum). "
                "Until then its partitions are still assigned to it and nobody reads them: watch their "
                "lag grow.",
                "When the session expires the group rebalances, and the survivors take the partitions "
                "over from the last committed offset, so records the crashed consumer processed but had "
                "not committed are read again (at-least-once).",
            ),
            steps=(
                "Ten seconds after the start, c2 crashes: a countdown shows when its session expires.",
                "Watch c2's partition lag grow, then move to a survivor in the timeline.",
                "Compare with Stop: a graceful leave rebalances the group at once, without waiting.",
            ),
            partitions=3,
            producer_rate=15,
            crash_after_s=10,
        ),
        Preset(
            slug="keys",
            title="Partitions are added (keys move)",
            idea="More partitions change murmur2(key) % partitions: keys land elsewhere.",
            explanation=(
                "A record with a key goes to partition murmur2(key) % partitions. Add partitions and "
                "the modulus changes, so many keys now land on a different partition. Records already "
                "written stay where they are: for a while a key's older records sit in one partition "
                "and its newer ones in another, and Kafka's per-key ordering only holds while the "
                "partition count stays the same.",
                "The consumer group notices the new partitions on its next poll and rebalances to give "
                "them an owner. Topics whose consumers rely on keys are therefore created with enough "
                "partitions up front.",
            ),
            steps=(
                "Press “Add partitions” (3 → 4).",
                "The key table shows which keys moved; the grid gains a row and the group rebalances.",
            ),
            partitions=3,
            producer_rate=10,
            consumers=2,
            consumer_rate=30,
            panel="keys",
        ),
        Preset(
            slug="compare",
            title="Eager range vs cooperative-sticky",
            idea="Same topic, two groups: how many partitions stop during a rebalance?",
            explanation=(
                "Two groups read the same six-partition topic. With an eager assignor (range) every "
                "member gives up all its partitions when a rebalance starts, so the whole group stops "
                "until the new assignment is out.",
                "Cooperative-sticky (KIP-429) lets members keep what they own: only the partitions that "
                "must move are revoked (step 1, generation N) and handed to their new owners in a second, "
                "short rebalance (step 2, generation N+1). Fewer partitions pause, at the price of two "
                "rebalances.",
            ),
            steps=(
                "Add a consumer: one joins each group. Compare “partitions paused” below and in the timelines.",
                "Stop or crash one consumer of each group and compare again.",
            ),
            partitions=6,
            producer_rate=30,
            groups=(GroupSpec("range", "range", "r"), GroupSpec("coop", "cooperative-sticky", "s")),
            keys=24,
            panel="compare",
        ),
    )
}
