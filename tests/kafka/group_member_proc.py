"""A Kafka consumer-group member in a process of its own, for the multi-process group tests.

    python -m tests.kafka.group_member_proc --bootstrap HOST:PORT --group G --topic T --out FILE --stop-file F

It consumes (committing after every batch) until the stop file appears, then closes (LeaveGroup).
Each line of FILE is a JSON event: {"assignment": [[topic, partition], ...]} when its assignment
changes, {"values": [...]} for the records it received, {"closed": true} at the end.
"""

import argparse
import json
import os
import time

from kafka import KafkaConsumer


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--bootstrap", "--group", "--topic", "--out", "--stop-file"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        client_id=f"proc-{os.getpid()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        max_poll_interval_ms=15000,
    )
    last = None
    with open(args.out, "a") as out:
        def emit(event):
            out.write(json.dumps(event) + "\n")
            out.flush()

        while not os.path.exists(args.stop_file):
            # 1 s, not less: see KafkaPythonMember in test_groups_clients.py (a kafka-python bug).
            batch = consumer.poll(timeout_ms=1000)
            values = [r.value.decode() for records in batch.values() for r in records]
            if values:
                emit({"values": values})
                try:
                    consumer.commit()
                except Exception as e:  # a rebalance under way: the next owner re-reads these
                    emit({"commit_failed": str(e)})
            assignment = sorted([tp.topic, tp.partition] for tp in consumer.assignment())
            if assignment != last:
                last = assignment
                emit({"assignment": assignment})
            time.sleep(0.01)
        consumer.close()
        emit({"closed": True})


if __name__ == "__main__":
    main()
