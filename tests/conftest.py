import os

import pytest
from django.conf import settings
from hypothesis import HealthCheck
from hypothesis import settings as hsettings

from brokercore.cluster.configs import dynamic_broker_configs_forget
from brokercore.cluster.read import cluster_cache_clear
from brokercore.security.acl import acl_cache_clear
from tests.services import redis_url, required

# The suite's property tests draw the same examples every run (derandomize, no example database):
# a red build then means a change broke something, never that a new random draw found an old
# bug, and a failure replays the same on every machine. To hunt for new counterexamples run
# `pytest --hypothesis-profile=explore` (random draws, more of them).
hsettings.register_profile(
    "default", deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow],
    derandomize=True, database=None,
)
hsettings.register_profile(
    "explore", deadline=None, max_examples=500, suppress_health_check=[HealthCheck.too_slow],
)
hsettings.load_profile("default")

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")

# A password hash that costs microseconds (Django's own advice for tests), here and, through the
# environment, in every server process a test starts (console/settings.py reads it there).
os.environ["TEST_FAST_PASSWORD_HASHER"] = "1"
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_collection_modifyitems(config, items):
    redis, redis_why = (None, "")
    needs_redis = any(item.get_closest_marker("redis") for item in items)
    if needs_redis:
        redis, redis_why = redis_url()
    for item in items:
        if item.get_closest_marker("postgres") and not ON_POSTGRES:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: runs in the PostgreSQL pass of `make test`"))
        if item.get_closest_marker("redis") and not redis:
            # With REQUIRE_REDIS=1 the test runs and its redis_service_url fixture fails it.
            if not required("REDIS"):
                item.add_marker(pytest.mark.skip(reason=f"Redis not reachable ({redis_why}); set REQUIRE_REDIS=1 to fail instead"))


@pytest.fixture
def redis_service_url():
    url, why = redis_url()
    if not url:
        if required("REDIS"):
            pytest.fail(f"REQUIRE_REDIS=1 but Redis is not reachable: {why}")
        pytest.skip(f"Redis not reachable ({why})")
    return url


@pytest.fixture
def db_url(transactional_db):
    """A DATABASE_URL for child processes that points at this test run's database."""
    db = settings.DATABASES["default"]
    if ON_POSTGRES:
        user = db.get("USER") or ""
        host = db.get("HOST") or "127.0.0.1"
        return f"postgres://{user}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


class FakeClock:
    """The broker's clock, moved by hand: session expiry and retention without sleeping."""

    def __init__(self, start_ms=1_700_000_000_000):
        self.ms = start_ms

    def advance(self, ms):
        self.ms += ms


@pytest.fixture
def fake_clock(monkeypatch):
    from brokercore import clock

    c = FakeClock()
    monkeypatch.setattr(clock, "now_ms", lambda: c.ms)
    return c


@pytest.fixture(autouse=True)
def broker_nodes_fresh():
    """Per-process broker-node state (the ~1 s live-node cache, this process's registrations)
    outlives a test's database; start and end every test without it."""
    from brokercore.cluster import nodes

    cluster_cache_clear()
    dynamic_broker_configs_forget()
    acl_cache_clear()
    nodes._registrations.clear()
    yield
    cluster_cache_clear()
    dynamic_broker_configs_forget()
    acl_cache_clear()
    nodes._registrations.clear()
