"""A producer process for the group-commit test: `python -m tests.brokercore.group_commit_proc
TOPIC NAME THREADS PER_THREAD`.

Threads each append single records (value "<NAME>t<thread>:<sequence>"). Prints the number of
shared transactions the process made, then "value,partition,offset" per record.
"""

import os
import sys
import threading


def main(topic: str, name: str, threads: int, per_thread: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    from django.db import connection

    from brokercore.log import group_commit
    from brokercore.log.append import records_append
    from brokercore.types import RecordIn

    transactions = []
    real = group_commit._write_group

    def counting(group, write):
        transactions.append(len(group))
        return real(group, write)

    group_commit._write_group = counting
    lines = []
    start = threading.Barrier(threads)

    def produce(t):
        start.wait(30)
        for seq in range(per_thread):
            value = f"{name}t{t}:{seq}"
            [r] = records_append(topic=topic, records=[RecordIn(key=f"{name}{t}".encode(), value=value.encode())])
            lines.append(f"{value},{r.partition},{r.offset}")
        connection.close()

    ts = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(len(transactions))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
