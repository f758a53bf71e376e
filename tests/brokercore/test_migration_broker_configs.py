"""Migration 0011 adds the dynamic broker configs' table, and takes it away again."""

import pytest
from django.db import connection

from tests.brokercore.migrations import migrate_to, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("brokercore", "0010_committed_offset_metadata_bytes")]
AFTER = [("brokercore", "0011_broker_configs")]


def test_broker_configs_table_forward_and_back():
    try:
        apps = migrate_to(AFTER)
        apps.get_model("brokercore", "DynamicBrokerConfig").objects.create(node_id=-1, name="log.retention.ms", value="1")
        migrate_to(BEFORE)
        assert "brokercore_dynamicbrokerconfig" not in connection.introspection.table_names()
        migrate_to(AFTER)
        assert "brokercore_dynamicbrokerconfig" in connection.introspection.table_names()
    finally:
        migrate_to_latest()
