"""kill -9 of the server (web, REST and Kafka listener in one `manage.py serve`) during a sustained
multi-process produce and consume load, then a restart on the same ports.

After the load: every acknowledged record is stored exactly once where its client was told, the
idempotent producer stored nothing twice, offsets are gapless, no commit was ahead of what its group
had consumed, both groups catch up with the log, and every client resumed on its own.
"""

import os
import time

import pytest

from tests.reliability.conftest import Load, load_proc, report
from tests.reliability.scenario import PARTITIONS, TOPIC, clients_start, faulted_run
from tests.serve import ServerProcess

pytest.importorskip("confluent_kafka")

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("RELIABILITY_KILLS", "2"))
STEADY_S = float(os.environ.get("RELIABILITY_STEADY_S", "4"))
# A killed process holds its broker node id until the node's session times out; a short session
# lets the restart take it back sooner (the restart retries until then).
NODE_ENV = {"BROKER_NODE_HEARTBEAT_INTERVAL_S": "1", "BROKER_NODE_SESSION_TIMEOUT_S": "2"}


def test_kill_9_of_the_server_loses_and_duplicates_no_acknowledged_record(db_url, load_dir):
    token = load_proc(db_url, load_dir, "setup", "--topic", TOPIC, "--partitions", str(PARTITIONS))["token"]
    server = ServerProcess(db_url, load_dir, kafka=True, env=NODE_ENV)
    load = Load(load_dir, topic=TOPIC, bootstrap=server.bootstrap, web=server.base, token=token)
    try:
        server.start()
        clients_start(load)

        def kill_and_restart() -> dict:
            killed = time.monotonic()
            server.kill()
            server.start(timeout=60, retry_exits=True)
            return {"restart_s": round(time.monotonic() - killed, 2)}

        figures, problems = faulted_run(db_url=db_url, load_dir=load_dir, load=load, fault=kill_and_restart,
                                        faults=KILLS, steady_s=STEADY_S)
    finally:
        load.kill_all()
        server.stop()
    report("kill -9 of the server", figures)
    assert problems == [], figures
    assert figures["acknowledged"] > 0 and figures["lost"] == 0 and figures["duplicated"] == 0
