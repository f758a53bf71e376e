"""`manage.py produce TOPIC`: kafka-console-producer, one record per stdin line, all or nothing."""

import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from brokercore.log.append import records_append
from brokercore.management.commands._cli import BrokerCommand, key_value_parse
from brokercore.partitioner import NULL_KEY_STRATEGIES
from brokercore.topics.read import topic_get
from brokercore.types import RecordIn

BATCH_RECORDS = 1000


class Command(BrokerCommand):
    help = (
        "Append one record per line of stdin to TOPIC, like kafka-console-producer. The record "
        "is the line's UTF-8 bytes without its line end (\\n or \\r\\n). The whole input is read "
        "and checked first, then written in one transaction: a bad line, or a record the broker "
        "refuses (e.g. larger than max.message.bytes), aborts before anything is written."
    )
    # call_command(..., stdin=StringIO(...)) in tests and scripts.
    stealth_options = ("stdin",)

    def add_base_argument(self, parser: CommandParser, *args: str, **kwargs: Any) -> None:
        # -v is --verbose here, as in Kafka's tools; Django's --verbosity keeps its long form.
        super().add_base_argument(parser, *(a for a in args if a != "-v"), **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("topic", metavar="TOPIC")
        parser.add_argument(
            "--key-separator", metavar="SEP",
            help="Split each line into key and value at the first SEP (Kafka's parse.key). "
            "A line without SEP is an error and nothing is written.",
        )
        parser.add_argument(
            "--partition", type=int, metavar="P",
            help="Write every record to partition P (default: by key hash, or --null-key-strategy).",
        )
        parser.add_argument(
            "--header", action="append", metavar="KEY=VALUE",
            help="A header added to every record; repeat for several.",
        )
        parser.add_argument("--acks", choices=["0", "1", "all", "-1"], default="all", help="Default all.")
        parser.add_argument(
            "--null-key-strategy", choices=NULL_KEY_STRATEGIES, default="round_robin",
            help="Where records without a key go (default round_robin).",
        )
        parser.add_argument(
            "--null-marker", metavar="STR",
            help="A key or value equal to STR is written as null (e.g. a tombstone: 'k:NULL' with "
            "--key-separator : --null-marker NULL). An empty value is written as empty bytes.",
        )
        parser.add_argument(
            "-v", "--verbose", action="store_true", help="Print 'partition offset' for each record."
        )

    def handle(
        self, *args: str, topic: str, key_separator: str | None, partition: int | None, header: list[str] | None,
        acks: str, null_key_strategy: str, null_marker: str | None, verbose: bool, **options: Any,
    ) -> None:
        if key_separator == "":
            raise CommandError("--key-separator must not be empty.")
        pairs = (key_value_parse(h, option="--header") for h in header or ())
        headers = tuple((k, v.encode()) for k, v in pairs)
        topic_get(name=topic)  # fail before reading stdin when the topic does not exist
        records = list(
            _records(
                _lines(options.get("stdin") or sys.stdin),
                separator=None if key_separator is None else key_separator.encode(),
                null=None if null_marker is None else null_marker.encode(),
                headers=headers,
            )
        )
        batch = min(BATCH_RECORDS, settings.BROKER["MAX_BATCH_RECORDS"])
        results = []
        # Check every batch first, then write each in its own short transaction: a bad record
        # anywhere writes nothing, and no transaction holds partition locks across batches.
        for validate_only in (True, False):
            for i in range(0, len(records), batch):
                done = records_append(
                    topic=topic,
                    records=records[i : i + batch],
                    partition=partition,
                    acks=acks,
                    null_key_strategy=null_key_strategy,
                    validate_only=validate_only,
                )
                if not validate_only:
                    results += done
        if verbose:
            self.stdout.write("".join(f"{r.partition} {r.offset}\n" for r in results), ending="")


def _lines(stream: IO[str] | IO[bytes]) -> Iterator[bytes]:
    """Each line's bytes without its line end; a text stream (tests) is encoded as UTF-8."""
    for line in getattr(stream, "buffer", stream):
        if isinstance(line, str):
            line = line.encode()
        if line.endswith(b"\n"):
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        yield line


def _records(
    lines: Iterable[bytes], *, separator: bytes | None, null: bytes | None, headers: tuple[tuple[str, bytes], ...]
) -> Iterator[RecordIn]:
    for number, line in enumerate(lines, start=1):
        key = None
        if separator is not None:
            key, sep, line = line.partition(separator)
            if not sep:
                raise CommandError(
                    f"Line {number} has no key separator {separator.decode()!r}; nothing was written."
                )
            if key == null:
                key = None
        yield RecordIn(key=key, value=None if line == null else line, headers=headers)
