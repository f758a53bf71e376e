"""PostgreSQL restarted under the server during a sustained multi-process produce and consume
load: once with `pg_ctl restart -m fast`, once stopped for a few seconds and started again.

The cluster is the test's own (tests/reliability/conftest.py own_postgres), never the machine's
shared server. The guarantees checked are those of the kill -9 test (scenario.faulted_run).
"""

import os
import time

import pytest

from tests.conftest import ON_POSTGRES
from tests.reliability.conftest import Load, load_proc, report
from tests.reliability.scenario import PARTITIONS, TOPIC, clients_start, faulted_run
from tests.serve import ServerProcess

pytest.importorskip("confluent_kafka")

pytestmark = [
    pytest.mark.slow,
    # It needs no test database, only PostgreSQL's binaries: once per `make test` is enough.
    pytest.mark.skipif(ON_POSTGRES, reason="runs once, in the SQLite pass (it starts a PostgreSQL cluster of its own)"),
]

STEADY_S = float(os.environ.get("RELIABILITY_STEADY_S", "4"))
OUTAGE_S = 3


def test_postgresql_restarts_lose_and_duplicate_no_acknowledged_record(own_postgres, load_dir):
    cluster, url = own_postgres
    token = load_proc(url, load_dir, "setup", "--topic", TOPIC, "--partitions", str(PARTITIONS))["token"]
    server = ServerProcess(url, load_dir, kafka=True, env={"DB_CONNECT_TIMEOUT_S": "3"})
    load = None
    faults = iter(["restart", "stop-start"])

    def postgres_down_and_up() -> dict:
        kind, began = next(faults), time.monotonic()
        if kind == "restart":
            cluster.restart()
        else:
            cluster.stop()
            time.sleep(OUTAGE_S)
            cluster.start()
        return {"kind": kind, "database_down_s": round(time.monotonic() - began, 2),
                "server_alive": server.proc.poll() is None}

    try:
        server.start()
        load = Load(load_dir, topic=TOPIC, bootstrap=server.bootstrap, web=server.base, token=token)
        clients_start(load)
        figures, problems = faulted_run(db_url=url, load_dir=load_dir, load=load, fault=postgres_down_and_up,
                                        faults=2, steady_s=STEADY_S)
    finally:
        if load is not None:
            load.kill_all()
        server.stop()
    report("PostgreSQL restarted under load", figures, database="postgresql (own cluster)")
    assert problems == [], figures
    assert all(f["server_alive"] for f in figures["faults"]), "the server process died with its database"
    assert figures["acknowledged"] > 0 and figures["lost"] == 0 and figures["duplicated"] == 0
