import pytest
from django.core.management.base import CommandError

from brokercore.coordinator.offsets import offsets_commit
from brokercore.coordinator.read import committed_offsets_get
from brokercore.coordinator.server_members import group_join, member_leave
from brokercore.topics.read import topic_describe
from tests.brokercore.commands.helpers import cli, run
from tests.factories import records_factory, topic_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def topic():
    topic_factory(name="jobs", partitions=3)
    records_factory("jobs", 30, timestamp=lambda i: 1_000 + i)


def test_list_and_describe_show_state_members_and_lag(topic):
    a = group_join(group_id="g", topics=["jobs"], client_id="worker", session_timeout_ms=10_000)
    offsets_commit(group_id="g", member_id=a.member_id, generation=a.generation, offsets={("jobs", 0): 2})
    listing = run("groups", "list")
    assert listing.splitlines()[0].split() == ["GROUP", "STATE", "GENERATION", "MEMBERS", "ASSIGNOR", "TOTAL-LAG"]
    assert listing.splitlines()[1].split()[:4] == ["g", "Stable", "1", "1"]
    out = run("groups", "describe", "g")
    assert "state Stable, generation 1, assignor range, 1 member." in out
    row = next(line.split() for line in out.splitlines() if line.startswith("g ") and " jobs " in line and line.split()[2] == "0")
    hw = topic_describe(name="jobs").partitions[0].high_watermark
    assert row[3:6] == ["2", str(hw), str(hw - 2)]
    assert "jobs-0, jobs-1, jobs-2" in out


def test_describe_marks_idle_members():
    topic_factory(name="one", partitions=1)
    a = group_join(group_id="g", topics=["one"])
    b = group_join(group_id="g", topics=["one"])
    from brokercore.coordinator.server_members import member_sync

    member_sync(group_id="g", member_id=a.member_id)
    out = run("groups", "describe", "g")
    assert "(1 idle: more members than partitions)" in out
    assert "(idle)" in out
    assert b.member_id in out


def test_list_with_no_groups():
    assert run("groups", "list").strip() == "No consumer groups."


def test_reset_offsets_dry_run_then_execute(topic):
    offsets_commit(group_id="g", offsets={("jobs", 0): 5, ("jobs", 1): 5, ("jobs", 2): 5})
    out = run("groups", "reset-offsets", "g", "--topic", "jobs:0", "--to-earliest")
    assert "Dry run: nothing changed" in out
    assert out.splitlines()[1].split() == ["g", "jobs", "0", "5", "0"]
    assert committed_offsets_get(group_id="g")[("jobs", 0)] == (5, "")
    run("groups", "reset-offsets", "g", "--topic", "jobs", "--shift-by", "-2", "--execute")
    assert {tp: o for tp, (o, _) in committed_offsets_get(group_id="g").items()} == {
        ("jobs", 0): 3, ("jobs", 1): 3, ("jobs", 2): 3
    }
    run("groups", "reset-offsets", "g", "--topic", "jobs:1", "--to-datetime", "1970-01-01T00:00:01.005", "--execute")
    assert committed_offsets_get(group_id="g")[("jobs", 1)][0] >= 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["describe", "nope"], "GROUP_ID_NOT_FOUND: Group 'nope' does not exist."),
        (["delete", "nope"], "GROUP_ID_NOT_FOUND"),
        (["reset-offsets", "g", "--topic", "nope", "--to-earliest"], "UNKNOWN_TOPIC_OR_PARTITION"),
        (["reset-offsets", "g", "--topic", "jobs:x", "--to-earliest"], "--topic takes TOPIC or TOPIC:P,P"),
        (["reset-offsets", "g", "--topic", "jobs", "--to-datetime", "yesterday"], "--to-datetime takes an ISO date-time"),
        (["reset-offsets", "g", "--topic", "jobs:7", "--to-latest"], "Partition 7 of topic 'jobs' does not exist"),
    ],
)
def test_bad_input_is_one_error(topic, args, message):
    with pytest.raises(CommandError, match=message):
        run("groups", *args)


def test_reset_and_delete_refused_while_members_are_active(topic):
    a = group_join(group_id="g", topics=["jobs"])
    with pytest.raises(CommandError, match="NON_EMPTY_GROUP: Assignments can only be reset"):
        run("groups", "reset-offsets", "g", "--topic", "jobs", "--to-earliest", "--execute")
    with pytest.raises(CommandError, match="NON_EMPTY_GROUP"):
        run("groups", "delete", "g")
    member_leave(group_id="g", member_id=a.member_id)
    assert "was successful" in run("groups", "delete", "g")


def test_delete_offsets(topic):
    offsets_commit(group_id="g", offsets={("jobs", 0): 1, ("jobs", 1): 1})
    assert "Deleted 1 committed offset(s)" in run("groups", "delete-offsets", "g", "--topic", "jobs:1")
    assert list(committed_offsets_get(group_id="g")) == [("jobs", 0)]


def test_cli_exit_code_and_one_line(db_url):
    proc = cli(db_url, "groups", "describe", "ghost")
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == "Error: GROUP_ID_NOT_FOUND: Group 'ghost' does not exist."
