"""Running brokercore's migrations to a chosen state, for the tests of migrations that move data."""

from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_to(target: list[tuple[str, str]]) -> Apps:
    """Migrate the test database forwards or backwards to `target`; the historical models there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def migrate_to_latest() -> None:
    """Back to the newest migrations, as every other test expects the schema (transactional tests
    flush the data after each test but leave the schema where it is)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
