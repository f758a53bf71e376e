"""`manage.py consume TOPIC`: kafka-console-consumer (text) and `kcat -C -J` (json). Reads only.

No consumer group: positions live in this process, nothing is committed and nothing is deleted.
"""

import json
import time
from argparse import ArgumentTypeError
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from brokercore.log.read import EARLIEST, LATEST, offset_for, partition_offsets_list, records_fetch
from brokercore.management.commands._cli import BrokerCommand
from brokercore.models import RecordBatch
from brokercore.types import RecordOut

FETCH_RECORDS = 500
LONG_POLL_MS = 1000  # the longest single wait in --follow, between checks of --timeout-ms
# timestamp type -> (Kafka's DefaultMessageFormatter name, kcat's tstype)
TIMESTAMP_TYPES = {
    RecordBatch.TIMESTAMP_CREATE: ("CreateTime", "create"),
    RecordBatch.TIMESTAMP_LOG_APPEND: ("LogAppendTime", "logappend"),
}


def _offset(text: str) -> int:
    if text in ("earliest", "latest"):
        return EARLIEST if text == "earliest" else LATEST
    if not (text.isascii() and text.isdigit()):
        raise ArgumentTypeError(f"must be a non-negative number, 'earliest' or 'latest', got {text!r}.")
    return int(text)


def _positive(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ArgumentTypeError(f"must be a positive integer, got {text!r}.")
    return int(text)


class Command(BrokerCommand):
    help = (
        "Print TOPIC's records, like kafka-console-consumer. Starts at the end (only new "
        "records) unless --from-beginning or --offset; without --follow it stops at the high "
        "watermarks seen at start. Keys, values and header values are printed as UTF-8; bytes "
        "that are not UTF-8 appear as \\xNN escapes (Python's backslashreplace, in text and json "
        "alike), so such records do not round-trip byte for byte. Nothing is committed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("topic", metavar="TOPIC")
        parser.add_argument(
            "--from-beginning", action="store_true", help="Start at each partition's log start offset."
        )
        parser.add_argument("--partition", type=int, metavar="P", help="Read only partition P.")
        parser.add_argument(
            "--offset", type=_offset, metavar="O|earliest|latest",
            help="With --partition: where to start (default latest, or earliest with --from-beginning).",
        )
        parser.add_argument("--max-messages", type=_positive, metavar="N", help="Stop after N records.")
        parser.add_argument(
            "--follow", action="store_true",
            help="Keep waiting for new records until --max-messages, --timeout-ms or Ctrl-C.",
        )
        parser.add_argument(
            "--timeout-ms", type=_positive, metavar="T",
            help="With --follow: stop after T ms without a new record.",
        )
        parser.add_argument("--format", dest="output_format", choices=["text", "json"], default="text", help=(
            "text: the value, after the fields the --print-* options ask for, joined by "
            "--key-separator (null prints as 'null'). json: one object a line, as `kcat -J`: "
            "topic, partition, offset, tstype (create|logappend), ts, headers [k, v, ...], key, "
            "payload (null for null). Default text."
        ))
        for field in ("timestamp", "partition", "offset", "headers", "key"):
            parser.add_argument(
                f"--print-{field}", action="store_true", help=f"Text format: print the {field}."
            )
        parser.add_argument(
            "--key-separator", default="\t", metavar="SEP", help="Text format: between fields (default tab)."
        )

    def handle(
        self, *args: str, topic: str, from_beginning: bool, partition: int | None, offset: int | None,
        max_messages: int | None, follow: bool, timeout_ms: int | None, output_format: str, key_separator: str,
        **options: Any,
    ) -> None:
        if offset is not None and partition is None:
            raise CommandError("The partition is required when offset is specified.")
        if offset is not None and from_beginning:
            raise CommandError("Options from-beginning and offset cannot be specified together.")
        if offset is None:
            offset = EARLIEST if from_beginning else LATEST
        render: Callable[[RecordOut], str]
        if output_format == "json":
            render = _json
        else:
            text_options = {k: v for k, v in options.items() if k.startswith("print_")}

            def render(r: RecordOut) -> str:
                return _text(r, separator=key_separator, **text_options)

        positions, ends = _start(topic, partition, offset)
        reader = _Reader(topic, positions, ends if not follow else None)
        try:
            for batch in reader.batches(max_messages=max_messages, idle_ms=timeout_ms):
                self.stdout.write("".join(render(r) + "\n" for r in batch), ending="")
                self.stdout.flush()
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a --follow run normally ends


def _start(topic: str, partition: int | None, offset: int) -> tuple[dict[int, int], dict[int, int]]:
    """Each partition's start position and its high watermark now (where a plain run stops)."""
    if partition is None:
        rows = partition_offsets_list(topic=topic)
        start = {r.partition: r.log_start_offset if offset == EARLIEST else r.high_watermark for r in rows}
        return start, {r.partition: r.high_watermark for r in rows}
    end, _ = offset_for(topic=topic, partition=partition, spec=LATEST)
    if offset == EARLIEST:
        offset, _ = offset_for(topic=topic, partition=partition, spec=EARLIEST)
    elif offset == LATEST:
        offset = end
    return {partition: offset}, {partition: end}


class _Reader:
    """Round-robin over partitions; with `ends`, stops there, else follows the log."""

    def __init__(self, topic: str, positions: dict[int, int], ends: dict[int, int] | None) -> None:
        self.topic = topic
        self.positions = positions
        self.ends = ends

    def batches(self, *, max_messages: int | None, idle_ms: int | None) -> Iterator[list[RecordOut]]:
        active = sorted(self.positions)
        left = max_messages
        wait_ms = 0
        idle_since = time.monotonic()
        while active:
            got = False
            for p in list(active):
                result = records_fetch(
                    topic=self.topic, partition=p, offset=self.positions[p],
                    max_records=FETCH_RECORDS if left is None else min(FETCH_RECORDS, left),
                    # A real long poll only with one partition: a wait on one would delay the others.
                    max_wait_ms=wait_ms if len(active) == 1 else 0,
                )
                records = result.records
                self.positions[p] = result.next_offset
                if self.ends is not None:
                    records = [r for r in records if r.offset < self.ends[p]]
                    # An empty fetch below the end means the rest of the range was compacted away.
                    if not result.records or self.positions[p] >= self.ends[p]:
                        active.remove(p)
                if records:
                    got = True
                    yield records
                    if left is not None:
                        left -= len(records)
                        if left <= 0:
                            return
            if self.ends is not None:
                continue
            now = time.monotonic()
            if got:
                idle_since, wait_ms = now, 0
                continue
            remaining_ms = LONG_POLL_MS if idle_ms is None else idle_ms - (now - idle_since) * 1000
            if remaining_ms <= 0:
                return
            wait_ms = int(min(remaining_ms, LONG_POLL_MS)) or 1
            if len(active) > 1:
                self._watermarks_wait(wait_ms)

    def _watermarks_wait(self, wait_ms: int) -> None:
        """Until some partition's high watermark passes our position: one query per poll interval."""
        deadline = time.monotonic() + wait_ms / 1000
        poll_s = settings.BROKER["FETCH_POLL_INTERVAL_MS"] / 1000
        while time.monotonic() < deadline:
            rows = partition_offsets_list(topic=self.topic)
            # Partitions added after the start are not read (they are not in self.positions).
            if any(r.high_watermark > self.positions.get(r.partition, r.high_watermark) for r in rows):
                return
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))


def _str(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "backslashreplace")


def _json(r: RecordOut) -> str:
    return json.dumps(
        {
            "topic": r.topic,
            "partition": r.partition,
            "offset": r.offset,
            "tstype": TIMESTAMP_TYPES[r.timestamp_type][1],
            "ts": r.timestamp,
            "headers": [s for k, v in r.headers for s in (k, _str(v))],
            "key": _str(r.key),
            "payload": _str(r.value),
        },
        ensure_ascii=False,
    )


def _text(r: RecordOut, *, separator: str, print_timestamp: bool, print_partition: bool,
          print_offset: bool, print_headers: bool, print_key: bool) -> str:
    """Kafka's DefaultMessageFormatter: [CreateTime:ts] [Partition:p] [Offset:o] [headers] [key] value."""
    fields = []
    if print_timestamp:
        fields.append(f"{TIMESTAMP_TYPES[r.timestamp_type][0]}:{r.timestamp}")
    if print_partition:
        fields.append(f"Partition:{r.partition}")
    if print_offset:
        fields.append(f"Offset:{r.offset}")
    if print_headers:
        fields.append(",".join(f"{k}:{_or_null(_str(v))}" for k, v in r.headers) or "NO_HEADERS")
    if print_key:
        fields.append(_or_null(_str(r.key)))
    fields.append(_or_null(_str(r.value)))
    return separator.join(fields)


def _or_null(text: str | None) -> str:
    return "null" if text is None else text
