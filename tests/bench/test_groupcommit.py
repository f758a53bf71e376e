"""bench/groupcommit.py's report: where the time goes, the paired ratios, the ceilings, and a run
saved before those were measured still rendering."""

import pytest

from bench import groupcommit
from tests.conftest import ON_POSTGRES

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="renders text only, no database: runs in the SQLite pass")

MACHINE = {
    "date": "2026-11-25 09:30 UTC",
    "cpu": "AMD EPYC",
    "cores": 2,
    "memory": "23.5 GiB",
    "load": "0.5 0.5 0.5",
    "os": "Linux",
    "python": "3.11.7",
    "django": "5.2.19",
    "psycopg": "3.3.9",
    "sqlite": "3.40.1",
    "postgres": None,
}


def _mode(rate, *, sizes=None, cpu=None):
    m = {
        "rate": rate,
        "appends": 1000,
        "p50_ms": 1.0,
        "p99_ms": 5.0,
        "callers_per_commit": 1.0,
        "errors": [],
        "rates": [rate],
    }
    if cpu is not None:
        m.update(cpu_us_per_record=cpu, cpu_cores=0.9, switches_per_record=1.7, group_sizes=sizes or {})
    return m


def _result(*, measured=True):
    cpu = 70.0 if measured else None
    many = {
        "producers": 32,
        "off": _mode(3_000, cpu=cpu),
        "on": _mode(15_000, sizes={"1": 2, "30": 10, "32": 20}, cpu=cpu),
        "ratio": 5.0,
    }
    if measured:
        many["paired_ratios"] = [4.5, 5.0, 5.5]
    r = {
        "config": {k: getattr(groupcommit.Config(), k) for k in groupcommit.Config.__dataclass_fields__},
        "settings": {"GROUP_COMMIT_LINGER_US": 1000, "GROUP_COMMIT_MAX_RECORDS": 1000},
        "in_process": [
            many,
            {"producers": 1, "off": _mode(5_000, cpu=cpu), "on": _mode(4_900, cpu=cpu), "ratio": 0.98},
        ],
    }
    if measured:
        # Runs saved before acks=1 was measured have no "acks" (all) and no acks=1 case.
        for e in r["in_process"]:
            e["acks"] = "all"
        r["in_process"].append(
            {"producers": 32, "acks": 1, "off": _mode(8_000, cpu=cpu), "on": _mode(18_000, cpu=cpu), "ratio": 2.25}
        )
        r["ceilings"] = {"python": 40_000, "handoff": 60_000, "write": 35_000, "serial": 18_667, "free_write": 16_000}
    return r


def test_the_group_a_caller_was_in_is_counted_by_callers_not_groups():
    # 2 groups of 1 (2 callers) and 10 of 30 (300 callers): most callers were in a group of 30.
    sizes = {"1": 2, "30": 10}
    assert groupcommit._caller_percentile(sizes, 0.5) == 30
    assert groupcommit._caller_percentile(sizes, 0.005) == 1
    assert groupcommit._caller_percentile({}, 0.5) != groupcommit._caller_percentile({}, 0.5)  # nan: nothing grouped


def test_the_report_shows_where_the_time_goes_the_paired_ratios_and_the_ceilings():
    text = groupcommit.render({"sqlite": _result()}, MACHINE)
    assert "### Where the time goes" in text
    assert "4.50x / 5.00x / 5.50x" in text  # each round's on/off, sorted
    assert "3.00x" in text  # 15,000 against the lone thread's 5,000
    assert "30 / 32" in text  # the group of the p10 and of the p50 caller
    assert "18,667" in text and "16,000" in text  # serial bound, grouped with a free write
    assert "SQLite: met (5.00x)" in text


def test_acks_1_is_shown_beside_the_target_but_not_judged_by_it():
    text = groupcommit.render({"sqlite": _result()}, MACHINE)
    assert "| 32 threads, acks=1 " in text
    assert "SQLite, acks=1 (not the target's case, shown for comparison): 2.25x." in text
    assert "not met" not in text
    assert "on / off, each round, acks=1" not in text  # that case has no paired rounds here


def test_a_run_saved_before_the_time_was_measured_still_renders():
    text = groupcommit.render({"sqlite": _result(measured=False)}, MACHINE)
    assert "### Results" in text and "SQLite: met (5.00x)" in text
    assert "### Where the time goes" not in text
