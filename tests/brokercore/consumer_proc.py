"""A group consumer process for the concurrency tests: `python -m tests.brokercore.consumer_proc`.

Joins `--group`, polls, records each consumed "partition offset" line in `--out`, commits after
every poll, and on SIGTERM leaves the group gracefully. Exits when `--stop-file` appears.
"""

import argparse
import os
import signal
import sys
import time

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--group", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--session-timeout-ms", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    django.setup()
    from brokercore.coordinator.consumer import member_commit, member_poll
    from brokercore.coordinator.server_members import group_join, member_leave
    from brokercore.errors import BrokerError

    stopping = False

    def on_term(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    member = None
    with open(args.out, "a", buffering=1) as out:
        while not stopping and not os.path.exists(args.stop_file):
            try:
                if member is None:
                    member = group_join(
                        group_id=args.group, topics=[args.topic], offset_reset="earliest",
                        session_timeout_ms=args.session_timeout_ms, client_id=f"proc{os.getpid()}",
                    ).member_id
                res = member_poll(group_id=args.group, member_id=member, max_records=50, max_wait_ms=200)
                for r in res.records:
                    out.write(f"{r.partition} {r.offset}\n")
                if res.records:
                    member_commit(group_id=args.group, member_id=member, generation=res.member.generation)
            except BrokerError as e:
                # Fenced or expired: a real consumer rejoins with a new member id.
                if e.name in ("UNKNOWN_MEMBER_ID", "FENCED_INSTANCE_ID"):
                    member = None
                elif e.name not in ("ILLEGAL_GENERATION", "REBALANCE_IN_PROGRESS"):
                    raise
                time.sleep(0.05)
        if member is not None:
            try:
                member_leave(group_id=args.group, member_id=member)
            except BrokerError:
                pass
    sys.exit(0)


if __name__ == "__main__":
    main()
