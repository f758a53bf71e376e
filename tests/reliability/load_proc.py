"""One load client in a process of its own, for the fault tests:

    python -m tests.reliability.load_proc ROLE --out FILE --stop-file F [options]

Roles: `kafka-producer` (confluent-kafka, `--acks all` idempotent or `--acks 1` without retries),
`rest-producer` (REST v2 binary produce), `kafka-consumer` (a confluent-kafka group member that
commits after every batch), `rest-consumer` (a REST v2 consumer instance that commits what it
processed after every poll and re-seeks after errors), and `verify` (reads the log and committed
offsets through brokercore; needs DATABASE_URL).

A client runs until the stop file appears, then writes FILE (JSON). Every second it appends
`{"t": ..., "done": n}` to FILE + ".progress" (records acknowledged or consumed so far), from
which the test reads when the client resumed after a fault. A client never retries a record
itself: what it reports as acknowledged was acknowledged exactly once by the broker.
"""

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request


class Progress:
    def __init__(self, out: str) -> None:
        self.path, self.last, self.done = out + ".progress", 0.0, 0

    def tick(self, n: int = 0) -> None:
        self.done += n
        now = time.time()
        if now - self.last >= 0.25:
            self.last = now
            with open(self.path, "a") as f:
                f.write(json.dumps({"t": now, "done": self.done}) + "\n")


def stopped(args) -> bool:
    return os.path.exists(args.stop_file)


def write(path: str, data: dict) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)


def kafka_sasl(args) -> dict:
    """librdkafka's SASL/PLAIN settings for the load user's token (reconnecting after a fault
    authenticates again)."""
    from tests.reliability.checks import LOAD_USER

    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN", "sasl.username": LOAD_USER,
            "sasl.password": args.token}


def kafka_producer(args) -> None:
    from confluent_kafka import Producer

    idempotent = args.acks == "all"
    config = {
        "bootstrap.servers": args.bootstrap,
        "acks": args.acks,
        "enable.idempotence": idempotent,
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "message.timeout.ms": 90_000,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 500,
        "socket.timeout.ms": 10_000,
        **kafka_sasl(args),
    }
    if not idempotent:
        # A retry of a batch whose answer was lost would store it twice (Kafka's at-least-once):
        # without retries a record is acknowledged only by the request that stored it.
        config["message.send.max.retries"] = 0
    producer = Producer(config)
    acked: dict[str, list[int]] = {}
    failed: dict[str, str] = {}
    progress = Progress(args.out)

    def delivered(err, msg):
        key = msg.key().decode()
        if err is None:
            acked[key] = [msg.partition(), msg.offset()]
            progress.tick(1)
        else:
            failed[key] = str(err)

    sent = 0
    while not stopped(args):
        key = f"{args.name}-{sent:07d}".encode()
        try:
            producer.produce(args.topic, key=key, value=key.ljust(args.value_bytes, b"."), on_delivery=delivered)
            sent += 1
        except BufferError:
            producer.poll(0.1)
        producer.poll(0)
        progress.tick()
        time.sleep(args.interval)
    left = producer.flush(120)
    write(args.out, {"role": "kafka-producer", "acks": args.acks, "sent": sent, "acked": acked, "failed": failed, "unflushed": left})


class Rest:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base.rstrip("/"), token

    def call(self, method: str, path: str, body=None, content_type="application/vnd.kafka.v2+json",
             accept="application/vnd.kafka.v2+json", timeout=15):
        request = urllib.request.Request(
            f"{self.base}/rest{path}", method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type, "Accept": accept},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw) if raw else None
            except ValueError:
                return e.code, {"raw": raw[:200].decode(errors="replace")}


def rest_producer(args) -> None:
    rest = Rest(args.web, args.token)
    acked: dict[str, list[int]] = {}
    failed: dict[str, str] = {}
    statuses: dict[str, int] = {}
    progress = Progress(args.out)
    sent = 0
    while not stopped(args):
        keys = [f"{args.name}-{sent + i:07d}" for i in range(args.batch)]
        sent += len(keys)
        body = {"records": [{"key": base64.b64encode(k.encode()).decode(), "value": base64.b64encode(k.encode()).decode()} for k in keys]}
        try:
            status, answer = rest.call("POST", f"/topics/{args.topic}", body, content_type="application/vnd.kafka.binary.v2+json")
        except OSError as e:  # refused or cut: the server is down; these records may or may not be stored
            status, answer = 0, {"message": str(e)}
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 200 and all(o.get("error_code") is None for o in answer["offsets"]):
            for key, o in zip(keys, answer["offsets"], strict=True):
                acked[key] = [o["partition"], o["offset"]]
            progress.tick(len(keys))
        else:
            for key in keys:
                failed[key] = f"{status}: {answer}"
            progress.tick()
            time.sleep(0.2)
        time.sleep(args.interval)
    write(args.out, {"role": "rest-producer", "sent": sent, "acked": acked, "failed": failed, "statuses": statuses})


class Consumed:
    """What one consumer saw: offsets per partition, and the highest offset it committed on each.

    Whether a commit was ahead of consumption is judged for the whole group (checks.judge): after
    a rebalance a member commits from where another member left off.
    """

    def __init__(self) -> None:
        self.offsets: dict[int, list[int]] = {}
        self.commits: dict[int, int] = {}
        self.commits_ok = 0
        self.commit_errors: list[str] = []

    def add(self, partition: int, offset: int) -> None:
        self.offsets.setdefault(partition, []).append(offset)

    def committed(self, partition: int, offset: int) -> None:
        self.commits_ok += 1
        self.commits[partition] = max(offset, self.commits.get(partition, 0))

    def result(self, role: str, **extra) -> dict:
        return {"role": role, "offsets": {str(p): sorted(o) for p, o in self.offsets.items()},
                "commits": {str(p): o for p, o in self.commits.items()}, "commits_ok": self.commits_ok,
                "commit_errors": self.commit_errors[-20:], "commit_error_count": len(self.commit_errors), **extra}


def kafka_consumer(args) -> None:
    """A group member; with --churn S it leaves the group and joins again every S seconds (each
    time a rebalance), as a member that keeps restarting."""
    from confluent_kafka import Consumer, KafkaException

    config = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "client.id": f"{args.name}-{os.getpid()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "reconnect.backoff.max.ms": 500,
        **kafka_sasl(args),
    }
    seen, progress, errors, joins = Consumed(), Progress(args.out), [], 0
    while not stopped(args):
        consumer = Consumer(config)
        consumer.subscribe([args.topic])
        joins += 1
        until = time.monotonic() + args.churn if args.churn else float("inf")
        while not stopped(args) and time.monotonic() < until:
            msgs = consumer.consume(num_messages=500, timeout=0.5)
            good = [m for m in msgs if m.error() is None]
            errors += [str(m.error()) for m in msgs if m.error() is not None][:5]
            for m in good:
                seen.add(m.partition(), m.offset())
            progress.tick(len(good))
            if good:
                try:
                    for tp in consumer.commit(asynchronous=False) or []:
                        if tp.error is None and tp.offset >= 0:
                            seen.committed(tp.partition, tp.offset)
                except KafkaException as e:  # a rebalance or the broker restarting: the next commit covers it
                    seen.commit_errors.append(str(e))
        consumer.close()
    write(args.out, seen.result("kafka-consumer", errors=errors[-20:], joins=joins))


def rest_consumer(args) -> None:
    """A careful REST consumer: it commits the offsets it processed (not the instance's position)
    and, after any failed call, seeks back to what it processed. A records response lost in
    flight (the server killed after answering it) has already moved the instance's position on
    the server; without the seek the instance would carry on after records the client never saw."""
    rest = Rest(args.web, args.token)
    seen, progress = Consumed(), Progress(args.out)
    statuses: dict[str, int] = {}
    binary = "application/vnd.kafka.binary.v2+json"
    instance = None
    processed: dict[int, int] = {}  # partition -> last offset processed
    resync = False
    base = f"/consumers/{args.group}/instances/{args.name}"
    while not stopped(args):
        try:
            if instance is None:
                status, _ = rest.call("POST", f"/consumers/{args.group}", {
                    "name": args.name, "format": "binary", "auto.offset.reset": "earliest", "auto.commit.enable": "false",
                })
                if status not in (200, 409):  # 409: it survived a restart of the server
                    raise OSError(f"create: {status}")
                status, _ = rest.call("POST", f"{base}/subscription", {"topics": [args.topic]})
                if status != 204:
                    raise OSError(f"subscribe: {status}")
                instance = args.name
            if resync and processed:
                # Partitions the instance no longer owns answer an error: the group's committed
                # offsets then decide where their new owner starts.
                rest.call("POST", f"{base}/positions", {"offsets": [
                    {"topic": args.topic, "partition": p, "offset": o + 1} for p, o in processed.items()
                ]})
            resync = False
            status, records = rest.call("GET", f"{base}/records?timeout=500", accept=binary)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == 404:
                instance = None
                resync = True
                continue
            if status != 200:
                raise OSError(f"records: {status} {records}")
            for r in records:
                seen.add(r["partition"], r["offset"])
                processed[r["partition"]] = max(r["offset"], processed.get(r["partition"], -1))
            progress.tick(len(records))
            if records:
                # Confluent's commit body names the last processed record; the group stores the next.
                batch = {r["partition"] for r in records}
                status, _ = rest.call("POST", f"{base}/offsets", {"offsets": [
                    {"topic": args.topic, "partition": p, "offset": processed[p]} for p in sorted(batch)
                ]})
                if status != 200:
                    seen.commit_errors.append(f"commit: {status}")
                    continue
                query = "&".join(f"partition={p}" for p in seen.offsets)
                status, committed = rest.call("GET", f"{base}/offsets?topic={args.topic}&{query}")
                if status == 200:
                    for o in committed["offsets"]:
                        seen.committed(o["partition"], o["offset"])
        except OSError as e:
            statuses["error"] = statuses.get("error", 0) + 1
            seen.commit_errors.append(str(e)[:200])
            resync = True
            progress.tick()
            time.sleep(0.2)
    if instance:
        try:
            rest.call("DELETE", base)
        except OSError:
            pass
    write(args.out, seen.result("rest-consumer", statuses=statuses))


def setup(args) -> None:
    """Create the topic (`--partitions`, `--config k=v`) and a staff user with an API token; prints
    {"token": ...} (for a database the test process is not connected to)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    django.setup()
    from tests.reliability.checks import load_setup

    json.dump(load_setup(args.topic, args.partitions, dict(c.split("=", 1) for c in args.config)), sys.stdout)


def verify(args) -> None:
    """The topic's log and every group's committed offsets, as JSON on stdout (or --out)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    django.setup()
    from tests.reliability.checks import log_read, wait_drained

    drained = wait_drained(args.topic, args.group, args.timeout) if args.group else None
    data = {**log_read(args.topic), "drained": drained}
    if args.out:
        write(args.out, data)
    else:
        json.dump(data, sys.stdout)


ROLES = {"kafka-producer": kafka_producer, "rest-producer": rest_producer, "kafka-consumer": kafka_consumer,
         "rest-consumer": rest_consumer, "setup": setup, "verify": verify}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=sorted(ROLES))
    parser.add_argument("--out")
    parser.add_argument("--stop-file", default="/nonexistent")
    parser.add_argument("--name", default="client")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--bootstrap")
    parser.add_argument("--web")
    parser.add_argument("--token")
    parser.add_argument("--group", action="append", default=[])
    parser.add_argument("--acks", default="all", choices=["all", "1"])
    parser.add_argument("--interval", type=float, default=0.002)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--churn", type=float, default=0)
    parser.add_argument("--value-bytes", type=int, default=0)
    parser.add_argument("--config", action="append", default=[])
    args = parser.parse_args()
    if args.role != "verify":
        args.group = args.group[0] if args.group else None
    ROLES[args.role](args)


if __name__ == "__main__":
    main()
