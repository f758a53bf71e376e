"""bench/wide.py: its report judges each goal from the figures it is given."""

from bench import wide


def _result(clean_s, narrow, wide_rate, page_ms):
    return {
        "config": {k: getattr(wide.Config(), k) for k in wide.Config.__dataclass_fields__},
        "clean": {"records": 1_000_000, "seconds": clean_s, "retention_deleted": 1_000_000, "purged": 1_000_000},
        "wide": {"partitions": 1_000, "narrow": narrow, "wide": wide_rate,
                 "pages": [{"page": "topic page", "ms": page_ms, "queries": 9}]},
    }


def test_goals_are_met_or_not_by_the_figures():
    machine = {"date": "2026-12-07", "cpu": "x", "cores": 2, "memory": "1 GiB", "load": "0", "os": "x", "python": "x",
               "django": "x", "psycopg": "x", "sqlite": "x", "postgres": "x"}
    text = wide.render({"postgres": _result(2.0, 100_000, 90_000, 120)}, machine)
    assert "log_clean: met (2.00 s)" in text
    assert "produce at 1,000 partitions: met (0.90x of 8 partitions)" in text
    assert "topic page: met (120 ms)" in text
    text = wide.render({"postgres": _result(4.0, 100_000, 50_000, 400)}, machine)
    assert "log_clean: **not met** (4.00 s)" in text
    assert "**not met** (0.50x of 8 partitions)" in text
    assert "topic page: **not met** (400 ms)" in text
