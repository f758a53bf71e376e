"""A producer process for the concurrency tests: `python -m tests.brokercore.producer_proc`.

Appends `--count` keyed records in random batch sizes; value = "<producer>:<sequence>".
"""

import argparse
import os
import random

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic", required=True)
    parser.add_argument("--producer", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--keys", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    django.setup()
    from brokercore.log.append import records_append
    from brokercore.types import RecordIn

    rng = random.Random(args.producer)
    seq = 0
    while seq < args.count:
        size = min(rng.randint(1, 50), args.count - seq)
        batch = [
            RecordIn(key=f"p{args.producer}-k{(seq + i) % args.keys}".encode(), value=f"{args.producer}:{seq + i}".encode())
            for i in range(size)
        ]
        records_append(topic=args.topic, records=batch, acks="all")
        seq += size


if __name__ == "__main__":
    main()
