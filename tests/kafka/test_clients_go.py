"""Debian's Go clients, written for Kafka 0.8-2.x: sarama 1.22 (golang-github-shopify-sarama-dev)
and kafka-go 0.2 (golang-github-segmentio-kafka-go-dev), with the programs in tests/go built
offline against /usr/share/gocode (GOPATH mode, as Debian lays out its -dev packages).

sarama's default configuration speaks Kafka 0.8.2 (Produce v0 with magic 0 messages, Fetch v0,
OffsetCommit v1, OffsetFetch v1); its consumer groups need 0.10.2 (Fetch v3, magic 1) and its
admin client 1.0 (DescribeConfigs v0, CreateTopics v2). kafka-go 0.2 writes Produce v2 and reads
Fetch v2 (magic 1 messages), committing with OffsetCommit v2.

Skipped with the reason where Go or the packages are absent, unless REQUIRE_GO=1 (CI).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from brokercore.coordinator.offsets import kafka_offsets_fetch
from brokercore.log.read import records_fetch
from brokercore.topics.service import topic_create
from tests.kafka.conftest import listener_running
from tests.services import required

pytestmark = pytest.mark.django_db(transaction=True)

GO_DIR = Path(__file__).resolve().parent.parent / "go"
GOPATH = Path("/usr/share/gocode")
PACKAGES = {
    "sarama_check": ("github.com/Shopify/sarama", "golang-github-shopify-sarama-dev"),
    "kafkago_check": ("github.com/segmentio/kafka-go", "golang-github-segmentio-kafka-go-dev"),
}


@pytest.fixture(scope="session")
def go_build(tmp_path_factory):
    """Build a program of tests/go offline: the path of its executable (skips, or fails with
    REQUIRE_GO=1, when Go or its Debian package is missing)."""
    go = shutil.which("go")
    out = tmp_path_factory.mktemp("go")
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        package, debian = PACKAGES[name]
        why = ("Go is not installed (apt-get install golang-go)" if go is None
               else f"{package} is not in {GOPATH} (apt-get install {debian})"
               if not (GOPATH / "src" / package).is_dir() else "")
        if why:
            if required("GO"):
                pytest.fail(f"REQUIRE_GO=1 but {why}")
            pytest.skip(f"{why}; set REQUIRE_GO=1 to fail instead")
        if name not in built:
            # GOPATH mode with no module proxy: only what Debian installed can be imported.
            env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOFLAGS": "", "GOPROXY": "off",
                   "GOCACHE": str(out / "cache")}
            proc = subprocess.run([go, "build", "-o", str(out / name), "."], cwd=GO_DIR / name, env=env,
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                pytest.fail(f"go build of tests/go/{name} failed: {proc.stderr[-2000:]}")
            built[name] = out / name
        return built[name]

    return build


def run(program: Path, *args: str, env: dict | None = None) -> dict:
    proc = subprocess.run([str(program), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        pytest.fail(f"{program.name} {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def committed(group: str, topic: str) -> dict[int, int]:
    return {c.partition: c.offset for c in kafka_offsets_fetch(group_id=group, partitions=None) if c.topic == topic}


def test_sarama_default_config_produces_consumes_and_its_commits_survive_a_restart(go_build):
    sarama = go_build("sarama_check")
    topic_create(name="sarama")
    with listener_running(allow_anonymous=True) as listener:
        assert run(sarama, "produce", listener.bootstrap, "sarama", "5")["offsets"] == [0, 1, 2, 3, 4]
        got = run(sarama, "offsets", listener.bootstrap, "old-school", "sarama", "3")
        assert got["values"] == ["v0", "v1", "v2"]
    stored = records_fetch(topic="sarama", partition=0, offset=0).records
    assert [(r.key, r.value, r.timestamp) for r in stored] == [(b"k%d" % i, b"v%d" % i, -1) for i in range(5)]
    assert committed("old-school", "sarama") == {0: 3}
    with listener_running(allow_anonymous=True) as listener:  # a restart: a new listener on the same database
        got = run(sarama, "offsets", listener.bootstrap, "old-school", "sarama", "2")
        assert (got["start"], got["values"]) == (3, ["v3", "v4"])
    assert committed("old-school", "sarama") == {0: 5}


def test_sarama_consumer_group_commits_survive_a_restart(go_build):
    sarama = go_build("sarama_check")
    topic_create(name="sarama-group")
    with listener_running(allow_anonymous=True) as listener:
        run(sarama, "produce", listener.bootstrap, "sarama-group", "5")
        assert run(sarama, "group", listener.bootstrap, "g", "sarama-group", "3")["values"] == ["v0", "v1", "v2"]
    assert committed("g", "sarama-group") == {0: 3}
    with listener_running(allow_anonymous=True) as listener:
        assert run(sarama, "group", listener.bootstrap, "g", "sarama-group", "2")["values"] == ["v3", "v4"]
    assert committed("g", "sarama-group") == {0: 5}


def test_sarama_admin_creates_lists_and_describes_configs(go_build, kafka_bootstrap, kafka_staff):
    sarama = go_build("sarama_check")
    got = run(sarama, "admin", kafka_bootstrap, "made-by-sarama",
              env={"SASL_USERNAME": kafka_staff.username, "SASL_PASSWORD": kafka_staff.password})
    assert got["topics"]["made-by-sarama"] == 2
    assert got["retention"] == "3600000"  # ListTopics read each topic's configs (DescribeConfigs v0) before the alter
    # AlterConfigs replaced the overrides: retention.ms changed, segment.bytes kept, the rest back to defaults.
    assert got["configs"]["retention.ms"] == {"value": "7200000", "default": False}
    assert got["configs"]["segment.bytes"] == {"value": "52428800", "default": False}
    assert got["configs"]["compression.type"] == {"value": "producer", "default": True}
    assert got["configs"]["cleanup.policy"] == {"value": "delete", "default": True}


def test_kafka_go_writes_and_reads_in_a_group(go_build, kafka_bootstrap):
    kafka_go = go_build("kafkago_check")
    topic_create(name="kafka-go")
    assert run(kafka_go, "write", kafka_bootstrap, "kafka-go", "5") == {"written": 5}
    got = run(kafka_go, "read", kafka_bootstrap, "kg", "kafka-go", "5")
    assert (got["keys"], got["values"]) == ([f"k{i}" for i in range(5)], [f"v{i}" for i in range(5)])
    assert committed("kg", "kafka-go") == {0: 5}
    assert [r.value for r in records_fetch(topic="kafka-go", partition=0, offset=0).records] == [
        b"v%d" % i for i in range(5)]
