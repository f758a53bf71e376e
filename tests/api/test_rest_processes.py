"""REST consumers across server processes (PostgreSQL): two `serve` processes share one database,
instances of one group created on different processes split the partitions, any process serves
any instance, and when one instance is deleted the other takes over its partitions."""

import base64
import json
import urllib.error
import urllib.request

import pytest

from brokercore.coordinator.read import group_describe
from brokercore.log.append import records_append
from brokercore.types import RecordIn
from console.api.tokens import token_create
from tests.factories import topic_factory
from tests.serve import serve

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TOPIC = "orders"
GROUP = "billing"
V2 = "application/vnd.kafka.v2+json"
BINARY = "application/vnd.kafka.binary.v2+json"


class Rest:
    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def call(self, method: str, path: str, body=None, accept=V2):
        request = urllib.request.Request(
            f"{self.base}/rest{path}", method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": V2, "Accept": accept},
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def _member_partitions() -> dict[str, set[int]]:
    group = group_describe(group_id=GROUP)
    return {m.member_id: {p for _, p in m.assignment} for m in group.members}


def _poll(rest: Rest, instance: str, rounds: int = 1) -> list[dict]:
    out = []
    for _ in range(rounds):
        status, records = rest.call("GET", f"/consumers/{GROUP}/instances/{instance}/records?timeout=300", accept=BINARY)
        assert status == 200, records
        out += records
    return out


def test_instances_on_two_processes_share_a_group_and_take_over_when_one_leaves(db_url, tmp_path, django_user_model):
    topic_factory(name=TOPIC, partitions=4)
    records_append(topic=TOPIC, records=[RecordIn(key=f"k{i}".encode(), value=f"v{i}".encode()) for i in range(200)])
    user = django_user_model.objects.create_user(username="ops", password="x", is_staff=True)
    _, token = token_create(user=user, name="tests")

    with serve(db_url, tmp_path, name="one") as one_url, serve(db_url, tmp_path, name="two") as two_url:
        one, two = Rest(one_url, token), Rest(two_url, token)
        config = {"format": "binary", "auto.offset.reset": "earliest", "auto.commit.enable": "false"}
        _, a = one.call("POST", f"/consumers/{GROUP}", {"name": "a", **config})
        _, b = two.call("POST", f"/consumers/{GROUP}", {"name": "b", **config})
        for rest, name in ((one, "a"), (two, "b")):
            status, _ = rest.call("POST", f"/consumers/{GROUP}/instances/{name}/subscription", {"topics": [TOPIC]})
            assert status == 204

        # Poll through the other process than the one that created each instance: state is shared.
        seen: dict[str, list[bytes]] = {"a": [], "b": []}
        for _ in range(30):
            seen["a"] += [base64.b64decode(r["key"]) for r in _poll(two, "a")]
            seen["b"] += [base64.b64decode(r["key"]) for r in _poll(one, "b")]
            owned = _member_partitions()
            if len(owned) == 2 and all(owned.values()) and len(seen["a"]) + len(seen["b"]) >= 200:
                break
        owned = _member_partitions()
        assert sorted(p for ps in owned.values() for p in ps) == [0, 1, 2, 3], "each partition has one owner"
        assert all(len(ps) == 2 for ps in owned.values()), owned
        assert len(seen["a"]) + len(seen["b"]) == 200
        assert len(set(seen["a"]) | set(seen["b"])) == 200, "no record went to both members"

        # b leaves (deleted through process one): a ends up with every partition.
        status, _ = one.call("DELETE", f"/consumers/{GROUP}/instances/b")
        assert status == 204
        for _ in range(20):
            _poll(two, "a")
            owned = _member_partitions()
            if len(owned) == 1 and next(iter(owned.values())) == {0, 1, 2, 3}:
                break
        assert list(owned.values()) == [{0, 1, 2, 3}]
        status, body = two.call("GET", f"/consumers/{GROUP}/instances/b/subscription")
        assert status == 404 and body["error_code"] == 40403


def test_failed_logins_are_counted_across_processes(db_url, tmp_path, django_user_model):
    """Failures spread over two server processes add up (the counts are in the database): the
    third, on either process, locks the username out on both."""
    django_user_model.objects.create_user(username="dev", password="dev-password")
    env = {"LOGIN_FAILURES_PER_USERNAME": "3", "LOGIN_FAILURES_PER_IP": "100", "LOGIN_COOLOFF_S": "600"}

    def get(base: str, password: str):
        auth = base64.b64encode(f"dev:{password}".encode()).decode()
        request = urllib.request.Request(f"{base}/rest/topics", headers={"Authorization": f"Basic {auth}"})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, None, None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), e.headers.get("Retry-After")

    with serve(db_url, tmp_path, name="one", env=env) as one, serve(db_url, tmp_path, name="two", env=env) as two:
        assert get(one, "dev-password")[0] == 200
        assert get(one, "wrong")[0] == 401
        assert get(two, "wrong")[0] == 401
        status, body, retry_after = get(one, "wrong")
        assert status == 429 and body["error_code"] == 42901 and 0 < int(retry_after) <= 600
        status, body, _ = get(two, "dev-password")
        assert status == 429 and body["error_code"] == 42901
