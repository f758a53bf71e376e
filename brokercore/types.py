"""Plain values that cross brokercore's boundary (no ORM objects leak to adapters)."""

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RecordIn:
    key: bytes | None = None
    value: bytes | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp: int | None = None  # ms since epoch; None means "now"
    partition: int | None = None  # None lets the partitioner choose


# AppendResult and RecordOut are built once per record on the hot paths; frozen dataclasses cost
# twice as much to construct, so these two are plain (slotted) dataclasses.
@dataclass(slots=True)
class AppendResult:
    partition: int
    offset: int
    timestamp: int
    # Why the record went where it did: "explicit", "key-hash", "round-robin" or "sticky".
    reason: str = "key-hash"
    key_hash: int | None = None  # murmur2(key) as a signed 32-bit int, for keyed records


@dataclass(slots=True)
class RecordOut:
    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    size: int


@dataclass(frozen=True, slots=True)
class FetchResult:
    topic: str
    partition: int
    records: list[RecordOut]
    high_watermark: int
    log_start_offset: int
    next_offset: int  # where the next fetch should start
    # For Kafka's Fetch: the stored batches as they are, concatenated (records is then empty).
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """A partition and the nodes it is placed on (`replicas`, leader first)."""

    index: int
    log_start_offset: int
    high_watermark: int
    size_bytes: int
    last_append_at: object | None
    replicas: tuple[int, ...]

    @property
    def records(self) -> int:
        return self.high_watermark - self.log_start_offset

    @property
    def leader(self) -> int:
        return self.replicas[0]

    @property
    def isr(self) -> tuple[int, ...]:
        """Every replica: the database holds every record, so each is in sync by construction."""
        return self.replicas


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    topic_id: str
    replication_factor: int
    partitions: list[PartitionInfo]
    configs: dict[str, str]
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(p.records for p in self.partitions)

    @property
    def size_bytes(self) -> int:
        return sum(p.size_bytes for p in self.partitions)
