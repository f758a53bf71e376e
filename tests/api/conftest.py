"""Clients for the REST proxy: a staff token, a non-staff token, and none."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from console.api.tokens import token_create


class RestClient(Client):
    """A test client that sends JSON bodies with the given Content-Type and a bearer token."""

    def __init__(self, token: str | None = None, **defaults):
        if token:
            defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        defaults.setdefault("HTTP_HOST", "127.0.0.1")
        super().__init__(**defaults)

    def send(self, method: str, path: str, body=None, *, content_type="application/json", accept=None, **extra):
        import json

        if accept is not None:
            extra["HTTP_ACCEPT"] = accept
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        return getattr(self, method.lower())(path, data=data, content_type=content_type, **extra)


def instance_operations(topic: str) -> list[tuple[str, str, dict | None]]:
    """Every operation on a REST v2 consumer instance, as (method, path suffix, body), its deletion
    last; bodies name partition 0 of `topic`."""
    tp = {"topic": topic, "partition": 0}
    return [
        ("GET", "/subscription", None),
        ("POST", "/subscription", {"topics": [topic]}),
        ("DELETE", "/subscription", None),
        ("GET", "/assignments", None),
        ("POST", "/assignments", {"partitions": [tp]}),
        ("POST", "/positions", {"offsets": [{**tp, "offset": 0}]}),
        ("POST", "/positions/beginning", {"partitions": [tp]}),
        ("POST", "/positions/end", {"partitions": [tp]}),
        ("GET", "/records", None),
        ("GET", "/records?timeout=0", None),
        ("POST", "/offsets", {"offsets": [{**tp, "offset": 1}]}),
        ("POST", "/offsets", None),
        ("GET", "/offsets", {"partitions": [tp]}),
        ("GET", "/offsets", None),
        ("DELETE", "", None),
    ]


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(username="ops", password="ops-password", is_staff=True)


@pytest.fixture
def plain_user(db):
    return get_user_model().objects.create_user(username="dev", password="dev-password")


@pytest.fixture
def staff_token(staff_user):
    return token_create(user=staff_user, name="tests")[1]


@pytest.fixture
def rest(staff_token):
    """A client with a staff user's token."""
    return RestClient(staff_token)


@pytest.fixture
def rest_user(plain_user):
    """A client with a non-staff user's token."""
    return RestClient(token_create(user=plain_user, name="tests")[1])


@pytest.fixture
def rest_anonymous(db):
    return RestClient()
