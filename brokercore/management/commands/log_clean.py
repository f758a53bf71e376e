"""One pass of the log cleaner (retention, compaction, physical deletes), like the server's."""

from typing import Any

from django.core.management.base import BaseCommand

from brokercore.log.cleaner import log_clean


class Command(BaseCommand):
    help = "Apply retention.ms/retention.bytes, compact cleanup.policy=compact topics, and remove deleted rows."

    def handle(self, *args: str, **options: Any) -> None:
        stats = log_clean()
        self.stdout.write(
            f"retention deleted {stats.retention_deleted} records, compaction removed {stats.compacted}, "
            f"{stats.rows_purged} rows purged, deleted topics purged: {', '.join(stats.topics_purged) or 'none'}"
        )
