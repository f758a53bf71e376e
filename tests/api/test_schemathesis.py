"""Property-based tests of the REST proxy against its own OpenAPI document (schemathesis).

Every operation in /rest/openapi.json gets a small, seeded budget of generated requests (valid and
invalid), sent through Django's test client with a staff token inside the test's transaction, so
the test runs the same on SQLite and PostgreSQL. Each response must not be a server error, must
match the documented schema, and must have a documented status code. Half of the generated path
parameters are swapped for names that exist (a topic with records, a consumer group with a member
and committed offsets, a REST consumer instance), so the success responses are exercised too.
"""

import time

import pytest
import requests
import schemathesis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from brokercore.cluster.read import cluster_id
from brokercore.coordinator.offsets import offsets_commit
from brokercore.coordinator.server_members import group_join
from console.api import api
from console.api.tokens import token_create
from tests.factories import records_factory, topic_factory

pytestmark = pytest.mark.django_db

BASE_URL = "http://testserver"
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20240601,
        # Coverage enumerates every boundary of every parameter: minutes, not seconds, for ~50
        # operations. Examples and fuzzing within max_examples keep the run short.
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_dict(api.get_openapi_schema(), config=CONFIG)

# Filled by the `existing` fixture before generation starts: path parameter name -> a value that exists.
EXISTING: dict[str, object] = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    if not path_parameters:
        return st.just(path_parameters)
    real = {k: EXISTING.get(k, v) for k, v in path_parameters.items()}
    return st.sampled_from([path_parameters, real])


@pytest.fixture
def existing(db):
    """A topic with records, a consumer group with a member and commits, a REST consumer instance."""
    topic_factory(name="orders", partitions=2)
    records_factory("orders", 6)
    offsets_commit(group_id="billing", offsets={("orders", 0): 2, ("orders", 1): 1})
    member = group_join(group_id="billing", topics=["orders"], client_id="billing-1", session_timeout_ms=60_000)
    EXISTING.clear()
    EXISTING.update(
        cluster_id=cluster_id(),
        topic="orders",
        topic_name="orders",
        partition=0,
        partition_id=0,
        broker_id=settings.BROKER["NODE_ID"],
        consumer_group_id="billing",
        consumer_id=member.member_id,
        name="retention.ms",
        group="rest-billing",
        instance="rest-1",
    )
    yield EXISTING
    EXISTING.clear()


@pytest.fixture
def rest_client(existing, settings):
    # No password: hashing one for each of ~50 operations would be most of the run.
    staff = get_user_model().objects.create_user("schemathesis", is_staff=True)
    # Consumer record fetches wait up to this long for records; generated cases need no waiting.
    settings.REST = {**settings.REST, "CONSUMER_REQUEST_TIMEOUT_MS": 20}
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_create(user=staff, name='schemathesis')[1]}")
    # A v2 consumer instance for the /consumers/{group}/instances/{instance} paths, made through the
    # API itself; if that endpoint misbehaves, its own test case reports it.
    client.post("/rest/consumers/rest-billing", {"name": "rest-1", "format": "json", "auto.offset.reset": "earliest"},
                content_type="application/vnd.kafka.v2+json")
    return client


def send(client: Client, case) -> Response:
    """The case through Django's test client, answered as the Response schemathesis checks."""
    prepared = requests.Request(**case.as_transport_kwargs(base_url=BASE_URL)).prepare()
    headers = {k: v for k, v in prepared.headers.items() if k.lower() not in ("content-type", "content-length", "host")}
    body = prepared.body or b""
    started = time.perf_counter()
    answer = client.generic(
        prepared.method,
        prepared.path_url,
        data=body.encode() if isinstance(body, str) else body,
        content_type=prepared.headers.get("Content-Type", ""),
        headers=headers,
    )
    return Response(
        status_code=answer.status_code,
        headers={k: [v] for k, v in answer.headers.items()},
        content=b"".join(answer) if answer.streaming else answer.content,
        request=prepared,
        elapsed=time.perf_counter() - started,
        verify=True,
    )


@schema.parametrize()
# No shrinking: a failing operation would otherwise spend seconds minimising an example that the
# report (status, body, curl command) already makes plain.
@hsettings(max_examples=15, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck),
           phases=[Phase.explicit, Phase.generate])
def test_api_conforms_to_its_openapi_document(case, rest_client):
    case.validate_response(send(rest_client, case), checks=CHECKS)
