"""Tells this process's live pages about writes nobody announced to them.

Services publish their own events after commit, but only inside the process that wrote (or, with
REDIS_URL, to every process's pages). The CLI, another server process or a Kafka client connected
to another node write to the same database, and a frequent event may be skipped by the publisher's
throttle (brokercore/events.py), so while at least one live page is open this process polls a few
aggregate rows (watermarks per topic, generation and state per group, broker heartbeats) every
POLL_S and tells its own pages whatever changed since they last heard about it.

"Since they last heard" is a baseline per channel-layer group: what that group's pages were last
told about, as of the poll that told them or of an event they received. A page that receives an
event re-reads its group's part of the snapshot (`announced`) *before* it renders, so the baseline
never holds a write the page has not rendered: a write the event already brought is not announced
again, one landing later still is. Announcements go to this process's own pages only (each process
watches for its own), so with a shared Redis layer N processes do not announce one write N times.

A poll instead of PostgreSQL LISTEN/NOTIFY: NOTIFY takes a cluster-wide lock at every commit that
sends one, which would serialise every append; one small query per process and half-second is far
cheaper, and the same code works on SQLite.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db.models import Count, Max, Sum

from brokercore import events
from brokercore.models import BrokerNode, CommittedOffset, ConsumerGroup, Partition, Topic

logger = logging.getLogger(__name__)

POLL_S = 0.5
# Set on the watcher's own messages: receiving one is no news to re-read a baseline for.
FROM_WATCHER = "_watcher"

TOPIC_PREFIX = events.topic_group("")
GROUP_PREFIX = events.consumer_group_group("")
EVENT_TYPES = {events.CLUSTER_GROUP: "cluster.changed", TOPIC_PREFIX: "records.changed", GROUP_PREFIX: "group.changed"}

_local: dict[str, set[str]] = {}  # channel-layer group -> this process's page channels in it
_task: asyncio.Task | None = None
_seen: dict[str, object] | None = None  # channel-layer group -> the view its pages were last told
_pending: dict[tuple, asyncio.Future] = {}  # re-reads asked for and not yet started, to share
_rebased: set[tuple[str, object]] = set()  # (group, key) re-read by a page during the current poll


async def client_connected(channel: str, groups: list[str]) -> None:
    """Count a page in; start watching if it is the first.

    The first snapshot is taken here, before the page's initial render is sent: a write landing
    between that render and the watcher's first poll is then still seen as a change.
    """
    global _task, _seen
    for group in groups:
        _local.setdefault(group, set()).add(channel)
    # A task of another event loop (a test's, closed since) will never run again here.
    if _task is None or _task.done() or _task.get_loop() is not asyncio.get_running_loop():
        _seen = views(await database_sync_to_async(snapshot)())
        _task = asyncio.ensure_future(_run())


def client_disconnected(channel: str, groups: list[str]) -> None:
    for group in groups:
        channels = _local.get(group)
        if channels is not None:
            channels.discard(channel)
            if not channels:
                del _local[group]


# --- What the pages show ------------------------------------------------------------------------
# A snapshot is flat: ("topic", topic id) -> (sum of high watermarks, sum of log starts, partitions),
# ("group", pk) -> (generation, state, members, newest commit), ("node", node id) -> (heartbeat, up).
# Each reader takes optional filters, so a page's own part is read by the same query, narrowed.


def _topics(topic_id: str | None = None) -> dict:
    partitions = Partition.objects.filter(topic__deleted_at__isnull=True)
    topics = Topic.objects.filter(deleted_at__isnull=True)
    if topic_id is not None:
        partitions, topics = partitions.filter(topic__topic_id=topic_id), topics.filter(topic_id=topic_id)
    out = {
        ("topic", str(r["topic__topic_id"])): (r["hw"], r["start"], r["n"])
        for r in partitions.values("topic__topic_id").annotate(
            hw=Sum("high_watermark"), start=Sum("log_start_offset"), n=Count("id")
        )
    }
    for t in topics.values_list("topic_id", flat=True):
        out.setdefault(("topic", str(t)), (0, 0, 0))
    return out


def _groups(**filters: object) -> dict:
    rows = list(
        ConsumerGroup.objects.filter(**filters)
        .annotate(n=Count("members"))
        .values_list("pk", "generation", "state", "n")
    )
    commits = (
        CommittedOffset.objects.filter(group_id__in=[r[0] for r in rows]) if filters else CommittedOffset.objects.all()
    )
    newest = dict(commits.values("group_id").annotate(m=Max("committed_ms")).values_list("group_id", "m"))
    return {("group", pk): (gen, state, n, newest.get(pk)) for pk, gen, state, n in rows}


def _nodes(**filters: object) -> dict:
    rows = BrokerNode.objects.filter(**filters).values_list("node_id", "heartbeat_at", "down_at")
    return {("node", i): (hb, down is None) for i, hb, down in rows}


def snapshot() -> dict:
    return {**_topics(), **_groups(), **_nodes()}


def _live_nodes(snap: dict) -> frozenset:
    return frozenset(key[1] for key, value in snap.items() if key[0] == "node" and value[1])


def views(snap: dict) -> dict[str, object]:
    """Channel-layer group -> what its pages show of the snapshot.

    Cluster pages show everything; a topic page its watermarks and, through partition leaders,
    which broker nodes are up; a group page its group.
    """
    live = _live_nodes(snap)
    out: dict[str, object] = {events.CLUSTER_GROUP: dict(snap)}
    for key, value in snap.items():
        if key[0] == "topic":
            out[events.topic_group(key[1])] = (value, live)
        elif key[0] == "group":
            out[events.consumer_group_group(key[1])] = value
    return out


def changes(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """The channel-layer groups whose view differs (a topic or group that went away included)."""
    return sorted(g for g in before.keys() | after.keys() if g in before and before[g] != after.get(g))


# --- Events a page received ---------------------------------------------------------------------


def _target(group: str, message: dict) -> tuple | None:
    """Which part of its group's view an event is about; None for groups the watcher has no view of."""
    if group.startswith(TOPIC_PREFIX):
        return ("topic", group.removeprefix(TOPIC_PREFIX))
    if group.startswith(GROUP_PREFIX):
        return ("group", int(group.removeprefix(GROUP_PREFIX)))
    if group == events.CLUSTER_GROUP:
        # A cluster page re-renders everything, but only the part the event names is re-read
        # (cheap); the rest keeps its older baseline, which can only cause an extra announcement.
        if "topic_id" in message:
            return ("topic", str(message["topic_id"]))
        if "group_pk" in message:
            return ("group", message["group_pk"])
        if "group_id" in message:
            return ("group_id", message["group_id"])
        if "node_id" in message:
            return ("node", message["node_id"])
    return None


def view_read(group: str, target: tuple) -> tuple[object, object]:
    """One group's view as of now, or for the cluster the one key the event named: (key, value)."""
    kind, argument = target
    if group != events.CLUSTER_GROUP:
        if kind == "topic":
            value = _topics(argument).get(target)
            return group, None if value is None else (value, _live_nodes(_nodes()))
        return group, _groups(pk=argument).get(target)
    if kind == "group_id":
        read = _groups(group_id=argument)
        return (next(iter(read)) if read else None), (next(iter(read.values())) if read else None)
    reader = {
        "topic": lambda: _topics(argument),
        "group": lambda: _groups(pk=argument),
        "node": lambda: _nodes(node_id=argument),
    }
    return target, reader[kind]().get(target)


def _get(views: dict[str, object], group: str, key: object) -> object:
    """What `views` holds for `group` (for the cluster, its entry `key`)."""
    if group != events.CLUSTER_GROUP:
        return views.get(group)
    return views.get(events.CLUSTER_GROUP, {}).get(key)


def _put(views: dict[str, object], group: str, key: object, value: object) -> None:
    if group != events.CLUSTER_GROUP:
        views[group] = value
        return
    cluster = views.setdefault(events.CLUSTER_GROUP, {})
    if value is None:
        cluster.pop(key, None)
    else:
        cluster[key] = value


def _rebase(group: str, key: object, value: object) -> None:
    if _seen is None or key is None:
        return
    _rebased.add((group, key))
    _put(_seen, group, key, value)


async def announced(group: str, message: dict) -> None:
    """A page of this process received an event for `group` and is about to render: re-read the
    group's baseline first. Pages receiving the same event share one read not yet started."""
    target = _target(group, message)
    if target is None or _seen is None:
        return
    ask = (group, target)
    future = _pending.get(ask)
    if future is None or future.done():
        future = _pending[ask] = asyncio.ensure_future(_reread(ask))
    await asyncio.shield(future)


async def _reread(ask: tuple) -> None:
    def read() -> tuple[object, object]:
        # From here on, pages receiving an event start a read of their own: this one may have
        # begun before their event's write committed.
        _pending.pop(ask, None)
        return view_read(*ask)

    try:
        key, value = await database_sync_to_async(read)()
    except Exception:  # the older baseline stays: at worst the next poll announces once more
        logger.exception("change watcher could not re-read %s", ask[0])
        return
    _rebase(ask[0], key, value)


# --- The poll -----------------------------------------------------------------------------------


def _event_type(group: str) -> str:
    return next(t for prefix, t in EVENT_TYPES.items() if group.startswith(prefix))


def _keep_rebased(current: dict[str, object]) -> None:
    """Keep in a poll's views what pages re-read while its snapshot was being taken.

    A page re-reads its baseline after the event it renders, so that re-read is never older than
    what the page shows, and may be newer than the snapshot (begun before the event's write
    committed): comparing with the snapshot would announce that write again, and once more at the
    next poll. A write after the re-read is announced at the next poll."""
    for group, key in _rebased:
        _put(current, group, key, _get(_seen, group, key))


async def _run() -> None:
    global _seen
    layer = get_channel_layer()
    while _local:
        await asyncio.sleep(POLL_S)
        try:
            _rebased.clear()
            current = views(await database_sync_to_async(snapshot)())
            changed = []
            if _seen is not None:
                _keep_rebased(current)
                changed = changes(_seen, current)
            # The new baseline before the sends, which may yield (Redis): a page's re-read landing
            # meanwhile then updates this baseline instead of one about to be replaced.
            _seen = current
            for group in changed:
                for channel in list(_local.get(group, ())):
                    await layer.send(channel, {"type": _event_type(group), "_group": group, FROM_WATCHER: True})
        except Exception:
            logger.exception("change watcher poll failed")
