"""Migration 0010 adds the dynamic broker configs' table, and takes it away again."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def test_broker_configs_table_forward_and_back():
    try:
        apps = _migrate([("brokercore", "0010_broker_configs")])
        apps.get_model("brokercore", "DynamicBrokerConfig").objects.create(node_id=-1, name="log.retention.ms", value="1")
        _migrate([("brokercore", "0009_record_batches")])
        assert "brokercore_dynamicbrokerconfig" not in connection.introspection.table_names()
        _migrate([("brokercore", "0010_broker_configs")])
        assert "brokercore_dynamicbrokerconfig" in connection.introspection.table_names()
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
