"""Display-building for a consumer group's page (and the lab, which shows the same partials):
member labels and colours, the assignment grid, the rebalance timeline's entries and the lag
chart. Pure functions over brokercore's read views and the clock's now; no request, no ORM, no
Kafka rules (those stay in brokercore).
"""

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from brokercore.coordinator.history import timeline_classify
from brokercore.coordinator.lag import PartitionLag
from brokercore.coordinator.read import GroupView, MemberView
from brokercore.models import ConsumerGroup, RebalanceEvent
from console.templatetags.console import colour

LAG_BAR_FLOOR = 50
REBALANCING = (ConsumerGroup.State.PREPARING_REBALANCE, ConsumerGroup.State.COMPLETING_REBALANCE)


# --- Members: a short label and a stable colour each -------------------------------------------

_UUID_TAIL = re.compile(r"-([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Who:
    member_id: str
    label: str  # "c1", or "consumer·3f2a" when several members share a client id
    colour: str  # m0..m9


def members_named(member_ids: Iterable[str]) -> dict[str, Who]:
    """Labels and colours for member ids given in order of first appearance (so a member keeps its
    colour when others come and go). Member ids are `<client id>-<uuid>`; the label is the client
    id, with the uuid's first characters only when two members share a client id."""
    ids = list(dict.fromkeys(member_ids))
    parts = {}
    for mid in ids:
        m = _UUID_TAIL.search(mid)
        parts[mid] = (mid[: m.start()] or "member", m.group(1)[:4]) if m else (mid, "")
    counts = Counter(prefix for prefix, _ in parts.values())
    out = {}
    for i, mid in enumerate(ids):
        prefix, short = parts[mid]
        label = prefix if counts[prefix] == 1 or not short else f"{prefix}·{short}"
        if len(label) > 28:
            label = label[:27] + "…"
        out[mid] = Who(mid, label, colour(i))
    return out


def dom_id(group_id: str) -> str:
    """An element-id-safe token for a group id (group ids may hold any character)."""
    return "g" + hashlib.sha1(group_id.encode()).hexdigest()[:10]


def relabel(text: str, names: dict[str, Who]) -> str:
    """`text` (a rebalance reason) with each member id replaced by its label."""
    for mid, who in names.items():
        if mid in text:
            text = text.replace(mid, who.label)
    return text


def tp_label(topic: str, partition: int, single_topic: bool) -> str:
    """A partition as the grid and timeline name it: P3, or orders-3 when the group reads several topics."""
    return f"P{partition}" if single_topic else f"{topic}-{partition}"


# --- The assignment grid -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GridColumn:
    """A member's column: the member as brokercore describes it, plus what only the page adds."""

    member: MemberView
    who: Who
    silent_deadline_ms: int | None  # set when the member has been silent for half its session
    silent_left: str  # the countdown's first value, before the page's script ticks it


@dataclass(frozen=True)
class Cell:
    kind: str  # owned, revoking, or "" (free)
    colour: str
    idle: bool  # the column's member owns nothing
    silent: bool  # the column's member has stopped heartbeating (for half its session or more)


def countdown(deadline_ms: int | None, now_ms: int) -> str:
    """What static/js/console.js shows for data-deadline-ms, rendered once on the server so a
    pushed fragment never flashes an empty countdown."""
    if deadline_ms is None:
        return ""
    left = (deadline_ms - now_ms) / 1000
    return f"{left:.1f} s" if left > 0 else "now"


@dataclass
class GridRow:
    topic: str
    partition: int
    label: str
    topic_first: bool  # first row of its topic (the grid shows a topic heading there)
    cells: list["Cell"]  # one per column
    owner: Who | None
    state: str  # owned, revoking, paused (rebalancing, nobody owns it), unassigned
    lag: PartitionLag | None
    lag_pct: int


def grid_build(info: GroupView, partitions: list[tuple[str, int]], names: dict[str, Who], now_ms: int) -> dict:
    owners = {tp: m.member_id for m in info.members for tp in m.assignment}
    revoking = {tp: m.member_id for m in info.members for tp in m.revoking}
    lags = {(p.topic, p.partition): p for p in info.partitions}
    tps = sorted(set(partitions) | set(lags) | set(owners) | set(revoking))
    topics = sorted({t for t, _ in tps})
    single = len(topics) == 1
    columns = []
    for m in info.members:
        silent_deadline_ms = m.session_deadline_ms if m.session_expires_in_ms(now_ms) < m.session_timeout_ms / 2 else None
        columns.append(GridColumn(m, names[m.member_id], silent_deadline_ms, countdown(silent_deadline_ms, now_ms)))
    silent = {c.who.member_id for c in columns if c.silent_deadline_ms}
    # Bars scale to the largest lag, but never below LAG_BAR_FLOOR: a lag of 2 is not a full bar.
    biggest = max([p.lag or 0 for p in info.partitions] + [LAG_BAR_FLOOR])
    rows, previous_topic = [], None
    rebalancing = info.state in REBALANCING
    for tp in tps:
        owner_id = owners.get(tp) or revoking.get(tp)
        cells = []
        for m in info.members:
            kind = "owned" if tp in m.assignment else "revoking" if tp in m.revoking else ""
            cells.append(Cell(kind, names[m.member_id].colour, m.idle, m.member_id in silent))
        if tp in owners:
            state = "owned"
        elif tp in revoking:
            state = "revoking"
        else:
            state = "paused" if rebalancing and info.members else "unassigned"
        lag = lags.get(tp)
        rows.append(
            GridRow(
                topic=tp[0],
                partition=tp[1],
                label=tp_label(*tp, single),
                topic_first=tp[0] != previous_topic,
                cells=cells,
                owner=names.get(owner_id) if owner_id else None,
                state=state,
                lag=lag,
                lag_pct=round(100 * (lag.lag or 0) / biggest) if lag else 0,
            )
        )
        previous_topic = tp[0]
    return {
        "columns": columns,
        "rows": rows,
        "topics": topics,
        "single_topic": single,
        "paused": sum(1 for r in rows if r.state == "paused"),
        "idle": sum(1 for c in columns if c.member.idle),
    }


# --- The rebalance timeline ----------------------------------------------------------------------


@dataclass
class Move:
    label: str
    source: Who | None
    target: Who | None
    kind: str  # move, revoke (cooperative step 1), assign (to a new owner), unassign


@dataclass
class DiffRow:
    who: Who
    items: list[tuple[str, str]]  # (partition label, kept/added/removed/revoked)
    gone: bool  # the member is not in the new generation
    new: bool = False  # the member joined in this generation


@dataclass
class TimelineEntry:
    generation: int
    protocol: str
    cooperative: bool
    step: str  # "", "revoke" (cooperative step 1) or "assign" (step 2)
    reasons: list[str]
    completed_at: datetime
    completed_ms: int
    duration_ms: int
    paused: int
    total: int
    members: list[Who]
    removed: list[Who]
    moves: list[Move]
    diff: list[DiffRow] = field(default_factory=list)

    @property
    def show_moves(self) -> bool:
        """A first assignment (every move from nobody) says nothing the diff does not."""
        return self.step == "assign" or any(m.source for m in self.moves)


def timeline_build(events: Sequence[RebalanceEvent], names: dict[str, Who], single_topic: bool) -> list[TimelineEntry]:
    """One entry per generation, newest first (the order `events` come in), as
    brokercore.coordinator.history classifies it; this adds the labels and colours."""

    def who(mid: str | None) -> Who | None:
        return names.get(mid) if mid else None

    out = []
    for ev, change in zip(events, timeline_classify(events), strict=True):
        moves = [Move(tp_label(m.topic, m.partition, single_topic), who(m.source), who(m.target), m.kind) for m in change.moves]
        diff = [
            DiffRow(names[c.member_id], [(tp_label(t, p, single_topic), status) for t, p, status in c.partitions], c.gone, c.new)
            for c in change.members
            if c.member_id in names
        ]
        out.append(
            TimelineEntry(
                generation=ev.generation,
                protocol=ev.protocol_name or "–",
                cooperative=change.cooperative,
                step=change.step,
                reasons=[relabel(r, names) for r in ev.reasons],
                completed_at=datetime.fromtimestamp(ev.completed_ms / 1000, tz=UTC),
                completed_ms=ev.completed_ms,
                duration_ms=ev.duration_ms,
                paused=ev.paused,
                total=change.total,
                members=[names[m] for m in ev.members if m in names],
                removed=[names[m] for m in ev.removed_members if m in names],
                moves=moves,
                diff=diff,
            )
        )
    return out


# --- Lag over time (a server-rendered SVG) ---------------------------------------------------------

CHART_W, CHART_H = 640, 190
CHART_L, CHART_R, CHART_T, CHART_B = 56, 14, 14, 28


def _nice_ceiling(v: float) -> int:
    if v <= 10:
        return 10
    magnitude = 10 ** (len(str(int(v))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if v <= step * magnitude:
            return int(step * magnitude)
    return int(10 * magnitude)


def _span_label(ms: int) -> str:
    s = ms / 1000
    if s < 90:
        return f"−{s:.0f} s"
    if s < 5400:
        return f"−{s / 60:.0f} min"
    return f"−{s / 3600:.1f} h"


def _count_label(v: float) -> str:
    if v >= 1_000_000:
        return f"{v / 1_000_000:g}M"
    if v >= 10_000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def lag_chart(
    samples: list[tuple[int, int]], now_ms: int, current: int | None, events: Iterable[RebalanceEvent]
) -> dict | None:
    """Total lag over time from the lag sampler's samples, with the current lag as the last point
    and a marker at each rebalance. None until there are two points to draw."""
    points = list(samples)
    if current is not None and (not points or now_ms > points[-1][0]):
        points.append((now_ms, current))
    if len(points) < 2:
        return None
    # The axis ends now and spans at least a minute, so a young group's line starts mid-chart.
    t1 = max(now_ms, points[-1][0])
    t0 = min(points[0][0], t1 - 60_000)
    top = _nice_ceiling(max(v for _, v in points))
    plot_w, plot_h = CHART_W - CHART_L - CHART_R, CHART_H - CHART_T - CHART_B

    def x(t: float) -> float:
        return CHART_L + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return CHART_T + (1 - v / top) * plot_h

    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    area = f"{x(points[0][0]):.1f},{y(0):.1f} {line} {x(points[-1][0]):.1f},{y(0):.1f}"
    markers, last_x = [], None
    for ev in sorted(events, key=lambda e: e.completed_ms):
        if t0 <= ev.completed_ms <= t1:
            mx = x(ev.completed_ms)
            labelled = last_x is None or mx - last_x > 30
            markers.append({"x": f"{mx:.1f}", "label": f"g{ev.generation}" if labelled else ""})
            if labelled:
                last_x = mx
    return {
        "w": CHART_W,
        "h": CHART_H,
        "line": line,
        "area": area,
        "left": CHART_L,
        "right": CHART_W - CHART_R,
        "top": CHART_T,
        "bottom": CHART_H - CHART_B,
        "yticks": [{"y": f"{y(v):.1f}", "label": _count_label(v)} for v in (0, top / 2, top)],
        "xticks": [
            {"x": f"{CHART_L}", "label": _span_label(t1 - t0), "anchor": "start"},
            {"x": f"{(CHART_L + CHART_W - CHART_R) / 2:.1f}", "label": _span_label((t1 - t0) // 2), "anchor": "middle"},
            {"x": f"{CHART_W - CHART_R}", "label": "now", "anchor": "end"},
        ],
        "markers": markers,
        "samples": len(samples),
        "current": current,
    }
