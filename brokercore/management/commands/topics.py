"""`manage.py topics create|list|describe|alter|delete`: kafka-topics (and kafka-configs for topics)."""

from collections.abc import Iterable
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from brokercore.errors import TopicAlreadyExists, UnknownTopicOrPartition
from brokercore.management.commands._cli import BrokerCommand, key_values_parse
from brokercore.topics.configs import CONFIG_NAMES
from brokercore.topics.read import topic_describe, topic_names_list
from brokercore.topics.service import topic_configs_alter, topic_create, topic_delete, topic_partitions_add

CONFIG_NAMES_SHOWN = ", ".join(CONFIG_NAMES)


class Command(BrokerCommand):
    help = "Create, list, describe, alter and delete topics, like Kafka's kafka-topics tool."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        create = actions.add_parser("create", help="Create a topic.")
        create.add_argument("name", metavar="NAME")
        create.add_argument("--partitions", type=int, default=None,
                            help="Number of partitions (default: the broker's num.partitions, BROKER_DEFAULT_PARTITIONS).")
        create.add_argument("--replication-factor", type=int, default=None,
                            help="Default: the broker's default.replication.factor (BROKER_DEFAULT_REPLICATION_FACTOR).")
        create.add_argument(
            "--config", action="append", metavar="KEY=VALUE",
            help=f"A topic config override; repeat for several. Names: {CONFIG_NAMES_SHOWN}.",
        )
        create.add_argument(
            "--if-not-exists", action="store_true", help="Do nothing if the topic already exists."
        )

        actions.add_parser("list", help="Print the live topics' names, one a line.")

        describe = actions.add_parser("describe", help="Partitions, offsets and config overrides.")
        describe.add_argument("name", metavar="NAME", nargs="?", help="Default: every topic.")

        alter = actions.add_parser(
            "alter", help="Add partitions and/or set or remove config overrides, in one transaction."
        )
        alter.add_argument("name", metavar="NAME")
        alter.add_argument(
            "--partitions", type=int, help="The new total; partitions are only ever added."
        )
        alter.add_argument(
            "--add-config", action="append", metavar="KEY=VALUE",
            help="Set a config override; repeat for several.",
        )
        alter.add_argument(
            "--delete-config", action="append", metavar="KEY",
            help="Remove a config override (back to the default); repeat for several.",
        )
        alter.add_argument(
            "--if-exists", action="store_true", help="Do nothing if the topic does not exist."
        )

        delete = actions.add_parser(
            "delete", help="Delete a topic; its records are removed later by the log cleaner."
        )
        delete.add_argument("name", metavar="NAME")
        delete.add_argument(
            "--if-exists", action="store_true", help="Do nothing if the topic does not exist."
        )

    def handle(self, *args: str, action: str, **options: Any) -> None:
        getattr(self, f"_{action}")(**options)

    def _create(
        self, *, name: str, partitions: int | None, replication_factor: int | None, config: list[str] | None, if_not_exists: bool,
        **_: Any,
    ) -> None:
        configs = key_values_parse(config, option="--config")
        try:
            topic_create(
                name=name, partitions=partitions, replication_factor=replication_factor, configs=configs
            )
        except TopicAlreadyExists:
            if if_not_exists:
                return
            raise
        self.stdout.write(f"Created topic {name}.")

    def _list(self, **_: Any) -> None:
        for name in topic_names_list():
            self.stdout.write(name)

    def _describe(self, *, name: str | None, **_: Any) -> None:
        for topic_name in [name] if name else topic_names_list():
            t = topic_describe(name=topic_name)
            overrides = ",".join(f"{k}={v}" for k, v in sorted(t.overrides.items()))
            self.stdout.write(
                f"Topic: {t.name}\tTopicId: {t.topic_id}\tPartitionCount: {len(t.partitions)}\t"
                f"ReplicationFactor: {t.replication_factor}\tConfigs: {overrides}"
            )
            for p in t.partitions:
                self.stdout.write(
                    f"\tTopic: {t.name}\tPartition: {p.index}\tLeader: {p.leader}\t"
                    f"Replicas: {_ids(p.replicas)}\tIsr: {_ids(p.isr)}\t"
                    f"LogStartOffset: {p.log_start_offset}\tHighWatermark: {p.high_watermark}"
                )

    def _alter(
        self, *, name: str, partitions: int | None, add_config: list[str] | None, delete_config: list[str] | None,
        if_exists: bool, **_: Any,
    ) -> None:
        set_configs = key_values_parse(add_config, option="--add-config")
        if partitions is None and not set_configs and not delete_config:
            raise CommandError("Nothing to alter: give --partitions, --add-config or --delete-config.")
        try:
            # Both changes or neither: a refused partition count must not leave configs changed.
            with transaction.atomic():
                if set_configs or delete_config:
                    topic_configs_alter(
                        name=name, set_configs=set_configs, delete_configs=delete_config or ()
                    )
                if partitions is not None:
                    topic_partitions_add(name=name, count=partitions)
        except UnknownTopicOrPartition:
            if if_exists:
                return
            raise
        if set_configs or delete_config:
            self.stdout.write(f"Completed updating config for topic {name}.")
        if partitions is not None:
            self.stdout.write(f"Topic {name} now has {partitions} partitions.")

    def _delete(self, *, name: str, if_exists: bool, **_: Any) -> None:
        try:
            topic_delete(name=name)
        except UnknownTopicOrPartition:
            if if_exists:
                return
            raise
        self.stdout.write(f"Topic {name} is marked for deletion.")


def _ids(ids: Iterable[int]) -> str:
    return ",".join(str(i) for i in ids)
