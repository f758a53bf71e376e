"""Consumer processes in one group share a topic while members join, leave and crash."""

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict

import pytest

from brokercore.coordinator.read import committed_offsets_get, group_describe, rebalance_history
from brokercore.errors import GroupIdNotFound
from brokercore.topics.read import topic_describe
from brokercore.topics.service import topic_create
from tests.factories import records_factory

pytestmark = pytest.mark.slow

PARTITIONS = 6
# Members that must stay in the group until the test ends them get a session longer than any
# stall on a busy machine (one that expired would leave no "left"); only the member the test kills
# has a short one, so that its expiry comes soon.
LIVE_SESSION_MS = 6000
KILLED_SESSION_MS = 2000


def _start(tmp_path, name, env, session_ms=LIVE_SESSION_MS):
    return subprocess.Popen(
        [
            sys.executable, "-m", "tests.brokercore.consumer_proc", "--group", "workers", "--topic", "jobs",
            "--out", str(tmp_path / f"{name}.txt"), "--stop-file", str(tmp_path / "stop"),
            "--session-timeout-ms", str(session_ms),
        ],
        env=env,
        stderr=subprocess.PIPE,
    )


def _members():
    try:
        info = group_describe(group_id="workers")
    except GroupIdNotFound:
        return 0
    return len(info.members) if info.state == "Stable" else -1


def _wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the group")


def _committed_at_watermarks():
    committed = committed_offsets_get(group_id="workers")
    info = topic_describe(name="jobs")
    return all(committed.get(("jobs", p.index), (None,))[0] == p.high_watermark for p in info.partitions)


def test_group_of_processes_consumes_everything_through_joins_leaves_and_a_crash(db_url, tmp_path):
    topic_create(name="jobs", partitions=PARTITIONS)
    records_factory("jobs", 1200)
    env = {
        **os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "console.settings",
        "BROKER_GROUP_MIN_SESSION_TIMEOUT_MS": "1000",
    }
    procs = {name: _start(tmp_path, name, env) for name in ("a", "b")}
    _wait_for(lambda: _members() == 2)
    procs["c"] = _start(tmp_path, "c", env, KILLED_SESSION_MS)  # joins mid-way
    _wait_for(lambda: _members() == 3)
    records_factory("jobs", 600)
    time.sleep(0.5)
    procs["b"].send_signal(signal.SIGTERM)  # leaves gracefully
    procs["c"].send_signal(signal.SIGKILL)  # crashes: its session must expire
    records_factory("jobs", 600)
    _wait_for(lambda: _members() == 1 and _committed_at_watermarks())
    (tmp_path / "stop").touch()
    for name, p in procs.items():
        _, err = p.communicate(timeout=30)
        if name != "c":
            assert p.returncode == 0, err.decode()[-3000:]

    assert _committed_at_watermarks()
    seen = defaultdict(set)
    for name in procs:
        path = tmp_path / f"{name}.txt"
        if path.exists():
            for line in path.read_text().splitlines():
                partition, offset = map(int, line.split())
                seen[partition].add(offset)
    info = topic_describe(name="jobs")
    assert sum(p.high_watermark for p in info.partitions) == 2400
    for p in info.partitions:
        assert seen[p.index] == set(range(p.high_watermark)), f"partition {p.index} missed records"
    history = rebalance_history(group_id="workers")
    reasons = " ".join(r for e in history for r in e.reasons)
    assert "joined" in reasons and "left" in reasons and "expired" in reasons
