"""`manage.py groups list|describe|reset-offsets|delete-offsets|delete`: kafka-consumer-groups."""

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser

from brokercore import clock
from brokercore.coordinator.offsets import offsets_delete, offsets_reset
from brokercore.coordinator.read import group_describe, group_list
from brokercore.coordinator.sweep import group_delete
from brokercore.management.commands._cli import BrokerCommand, table


def _topic_partitions(text: str) -> tuple[str, list[int] | None]:
    """`topic` or `topic:0,2` as kafka-consumer-groups accepts them."""
    topic, sep, parts = text.partition(":")
    if not sep:
        return topic, None
    try:
        return topic, [int(p) for p in parts.split(",") if p.strip()]
    except ValueError:
        raise CommandError(f"--topic takes TOPIC or TOPIC:P,P,..., got {text!r}.") from None


def _datetime_ms(text: str) -> int:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--to-datetime takes an ISO date-time such as 2026-11-24T14:00:00Z, got {text!r}.") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


class Command(BrokerCommand):
    help = "List, describe, reset offsets of and delete consumer groups, like kafka-consumer-groups."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("list", help="Groups with state, members, assignor and total lag.")

        describe = actions.add_parser("describe", help="Offsets and lag per partition, then members.")
        describe.add_argument("group", metavar="GROUP")

        reset = actions.add_parser(
            "reset-offsets", help="Move committed offsets (dry run unless --execute). The group must be inactive."
        )
        reset.add_argument("group", metavar="GROUP")
        reset.add_argument("--topic", required=True, metavar="TOPIC[:P,P]", help="A topic, optionally with partitions.")
        to = reset.add_mutually_exclusive_group(required=True)
        to.add_argument("--to-earliest", action="store_true")
        to.add_argument("--to-latest", action="store_true")
        to.add_argument("--to-datetime", metavar="ISO", help="First offset at or after this time (naive times are UTC).")
        to.add_argument("--to-offset", type=int, metavar="N")
        to.add_argument("--shift-by", type=int, metavar="N", help="Move by N (negative goes back).")
        reset.add_argument("--execute", action="store_true", help="Apply the plan (default: only show it).")

        delete_offsets = actions.add_parser("delete-offsets", help="Forget a topic's committed offsets.")
        delete_offsets.add_argument("group", metavar="GROUP")
        delete_offsets.add_argument("--topic", required=True, metavar="TOPIC[:P,P]")

        delete = actions.add_parser("delete", help="Delete an Empty group with its offsets.")
        delete.add_argument("group", metavar="GROUP")

    def handle(self, *args: str, action: str, **options: Any) -> None:
        getattr(self, "handle_" + action.replace("-", "_"))(**options)

    def handle_list(self, **options: Any) -> None:
        rows = group_list()
        if not rows:
            self.stdout.write("No consumer groups.")
            return
        self.stdout.write(
            table(
                ["GROUP", "STATE", "GENERATION", "MEMBERS", "ASSIGNOR", "TOTAL-LAG"],
                [[g.group_id, g.state, g.generation, g.members, g.assignor, g.total_lag] for g in rows],
            ),
            ending="",
        )

    def handle_describe(self, *, group: str, **options: Any) -> None:
        info = group_describe(group_id=group)
        members = {m.member_id: m for m in info.members}
        idle = len(info.idle_members)
        self.stdout.write(
            f"Consumer group '{info.group_id}': state {info.state}, generation {info.generation}, "
            f"assignor {info.protocol_name or info.assignor}, {len(info.members)} member{'s' if len(info.members) != 1 else ''}"
            + (f" ({idle} idle: more members than partitions)" if idle else "")
            + "."
        )
        if info.rebalance_reasons:
            self.stdout.write("Rebalancing because: " + "; ".join(info.rebalance_reasons))
        self.stdout.write("")
        rows = []
        for p in info.partitions:
            m = members.get(p.owner)
            rows.append([
                info.group_id, p.topic, p.partition, p.committed, p.high_watermark, p.lag,
                _age(p.lag_ms), p.owner, (m.client_host or None) if m else None, (m.client_id or None) if m else None,
            ])
        if rows:
            self.stdout.write(
                table(["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "LAG-TIME",
                       "CONSUMER-ID", "HOST", "CLIENT-ID"], rows),
                ending="",
            )
        else:
            self.stdout.write("No committed offsets and no assigned partitions.")
        if info.members:
            now = clock.now_ms()
            self.stdout.write("")
            self.stdout.write(
                table(
                    ["CONSUMER-ID", "GROUP-INSTANCE-ID", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT", "SESSION-LEFT"],
                    [
                        [m.member_id, m.group_instance_id, m.client_id or None, len(m.assignment),
                         ", ".join(f"{t}-{p}" for t, p in m.assignment) or "(idle)",
                         f"{max(0, m.session_expires_in_ms(now)) / 1000:.1f}s"]
                        for m in info.members
                    ],
                ),
                ending="",
            )

    def handle_reset_offsets(
        self, *, group: str, topic: str, to_earliest: bool, to_latest: bool, to_datetime: str | None,
        to_offset: int | None, shift_by: int | None, execute: bool, **options: Any,
    ) -> None:
        name, partitions = _topic_partitions(topic)
        if to_earliest:
            spec, value = "earliest", None
        elif to_latest:
            spec, value = "latest", None
        elif to_datetime is not None:
            spec, value = "datetime", _datetime_ms(to_datetime)
        elif to_offset is not None:
            spec, value = "offset", to_offset
        else:
            spec, value = "shift-by", shift_by
        plan = offsets_reset(group_id=group, topic=name, to=spec, value=value, partitions=partitions, dry_run=not execute)
        self.stdout.write(
            table(["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"],
                  [[group, r.topic, r.partition, r.current, r.new] for r in plan]),
            ending="",
        )
        if not execute:
            self.stdout.write("Dry run: nothing changed. Add --execute to apply.")

    def handle_delete_offsets(self, *, group: str, topic: str, **options: Any) -> None:
        name, partitions = _topic_partitions(topic)
        deleted = offsets_delete(group_id=group, topic=name, partitions=partitions)
        self.stdout.write(f"Deleted {deleted} committed offset(s) of topic '{name}' from group '{group}'.")

    def handle_delete(self, *, group: str, **options: Any) -> None:
        group_delete(group_id=group)
        self.stdout.write(f"Deletion of requested consumer groups ('{group}') was successful.")


def _age(ms: int | None) -> str | None:
    if ms is None:
        return None
    if ms < 1000:
        return f"{ms}ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f}s"
    return f"{ms // 60_000}m"
