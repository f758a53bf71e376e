"""bench/plots.py draws every benchmark's figures from results shaped like its run() output, and
`python -m bench --from-json` links them from the doc inside the section's markers."""

import json

import pytest

from tests.conftest import ON_POSTGRES

pytest.importorskip("matplotlib")

from bench import plots  # noqa: E402 (after the skip: matplotlib is what it needs)

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="draws figures only, no database: runs in the SQLite pass")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

MACHINE = {
    "date": "2026-11-25 09:30 UTC", "cpu": "AMD EPYC", "cores": 2, "memory": "23.5 GiB", "load": "0.85 0.92 0.68",
    "os": "Linux", "python": "3.11.7", "django": "5.2.19", "psycopg": "3.3.9 (binary)", "sqlite": "3.40.1",
    "postgres": "15.20 (Debian 15.20-0+deb12u1)",
}


def _log(scale: float) -> dict:
    produce = [
        {"path": path, "batch": b, "rows_per_call": rows, "broker": {"rate": r * scale, "rates": [r * scale]},
         "raw": {"rate": raw * scale, "rates": [raw * scale]}, "ratio": r / raw}
        for path, rows, figures in (
            ("records_append", 8, ((1, 5_087, 16_026), (100, 91_091, 132_408), (1000, 142_139, 197_384))),
            ("kafka", 1, ((1, 6_010, 7_120), (100, 210_000, 250_000), (1000, 480_000, 560_000))),
        )
        for b, r, raw in figures
    ]
    fetch = [
        {"path": path, "log_batch": n, "batch_bytes": n * 126, "page": page, "records": 100_000, "phase": phase,
         "statistics": stats, "broker": {"rate": br * scale, "rates": [br]},
         "raw": {"rate": raw * scale, "rates": [raw], "bytes_rate": raw * 126}, "ratio": br / raw}
        for phase, stats in (("fresh", "never analyzed"), ("analyzed", "analyzed"))
        for n in (100, 1000)
        for path, page, br, raw in (
            ("records_fetch", 500, 294_799, 1_136_224), ("records_fetch", 5000, 302_629, 907_623),
            ("records_fetch_many", None, 2_100_000, 3_900_000),
        )
    ]
    multi = [
        {"label": label, "procs": 4, "batch": 100, "rate": rate * scale, "records": 1000, "errors": []}
        for label, rate in (("broker, one shared topic", 76_695), ("broker, one topic per process", 67_517), ("raw baseline", 97_008))
    ]
    return {"config": {"rounds": 3}, "produce": produce, "fetch": fetch, "multi": multi}


def _groups(scale: float) -> dict:
    return {
        "rebalance": [
            {"members": n, "join_s": j * scale, "leave_s": j * scale * 0.8, "rejoins": n + 1, "rounds": 5}
            for n, j in ((1, 0.004), (10, 0.03), (100, 0.4))
        ],
        "lag": {"groups": 1000, "partitions": 10, "commit_per_group_s": 0.002, "totals_s": 0.05 * scale,
                "list_s": 0.08, "describe_s": 0.003, "sample_s": 0.6},
    }


def _console(scale: float) -> dict:
    latency = [
        {"subscription": f"{sub}:bench-live", "mode": mode, "appends": 40, "lost": 0, "p50_s": p50 * scale,
         "p95_s": p50 * scale * 3, "max_s": p50 * 5, "mean_s": p50, "min_s": p50 / 2, "append_p50_s": 0.002,
         "pushes": 30, "wall_s": 4.0, "append_rate": rate, **({"shown": 40} if sub == "tail" else {})}
        for sub in ("tail", "topic")
        for mode, p50, rate in (("idle", 0.012, 3), ("sparse", 0.015, 5), ("paced", 0.14, 20), ("burst", 0.16, 400))
    ]
    pages = [
        {"label": label, "url": f"/p/{i}", "phase": phase, "status": 200, "ok": True, "median_s": ms / 1000 * scale,
         "max_s": ms / 1000 * 1.6, "times": [], "bytes": 20_000, "queries": 7, "db_s": ms / 3000,
         "slowest_sql": ["SELECT 1", ms / 5000]}
        for phase in ("as loaded", "analyzed")
        for i, (label, ms) in enumerate((("dashboard", 9), ("topic list (5,002 topics)", 310), ("messages, newest (default)", 14)))
    ]
    return {
        "config": {}, "setup": {},
        "pages": pages,
        "live": {"latency": latency, "renders": [], "throttle_s": 0.25, "event_throttle_s": 0.1, "watcher_poll_s": 0.5},
    }


def _rest(scale: float) -> dict:
    return {
        "produce": [
            {"clients": c, "per_request": n, "rate": rate * scale, "rates": [rate], "latency_p50": 0.004}
            for c, n, rate in ((1, 1, 410), (1, 100, 18_000), (4, 1, 700), (4, 100, 27_000))
        ],
        "consume": {"records": 50_000, "seconds": 1.5, "rate": 33_000 * scale, "polls": 60},
        "baseline": 90_000 * scale, "seconds": 5.0, "rounds": 3,
    }


def _kafka(scale: float) -> dict:
    return {
        "produce": [
            {"producers": p, "acks": acks, "records": 100_000, "rate": rate * scale, "latency_p50": 0.2, "latency_p99": 0.6}
            for p, acks, rate in ((1, "all", 60_000), (1, "1", 65_000), (2, "all", 70_000))
        ],
        "consume": {"records": 300_000, "rate": 150_000 * scale},
        "baseline": {"100": 90_000 * scale, "1000": 140_000 * scale},
        "records": 100_000,
    }


def _groupcommit(scale: float) -> dict:
    def mode(rate, p50, p99):
        return {"rate": rate * scale, "appends": 1000, "p50_ms": p50, "p99_ms": p99, "callers_per_commit": 6.0,
                "errors": [], "rates": [rate]}

    return {
        "config": {}, "settings": {},
        "in_process": [
            {"producers": 32, "off": mode(900, 30, 120), "on": mode(5_400, 5, 20), "ratio": 6.0},
            {"producers": 1, "off": mode(1_100, 0.9, 2), "on": mode(1_050, 0.95, 2.2), "ratio": 0.95},
        ],
        "rest": {"clients": 32, "off": mode(700, 45, 150), "on": mode(2_100, 15, 60), "ratio": 3.0},
    }


FAKES = {"log": _log, "groups": _groups, "console": _console, "rest": _rest, "kafka": _kafka, "groupcommit": _groupcommit}


def _results(name: str) -> dict:
    return {"sqlite": FAKES[name](1.0), "postgres": FAKES[name](0.6)}


def _assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert len(data) > 10_000, f"{path.name} is only {len(data)} bytes: an empty figure?"


def test_every_registered_benchmark_with_fake_results_has_a_plot_function():
    assert set(FAKES) <= set(plots.PLOTS)


@pytest.mark.parametrize("name", sorted(FAKES))
def test_figures_are_written_as_png_and_linked(name, tmp_path):
    lines = plots.write(name, _results(name), MACHINE, tmp_path)
    assert lines, f"no figure for {name}"
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == sorted(line.rsplit("/", 1)[1].rstrip(")") for line in lines)
    for f in files:
        assert f.name.startswith(f"{name}-")
        _assert_png(f)
    for line in lines:
        assert line.startswith("![") and "](bench/" in line and MACHINE["date"] in line


def test_one_backend_and_missing_parts_still_draw(tmp_path):
    log = _log(1.0)
    del log["multi"], log["fetch"]
    lines = plots.write("log", {"sqlite": log}, MACHINE, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["log-produce.png"]
    assert len(lines) == 1
    _assert_png(tmp_path / "log-produce.png")


def test_a_rerun_replaces_the_benchmarks_old_figures_only(tmp_path):
    (tmp_path / "log-stale.png").write_bytes(b"old")
    (tmp_path / "groups-rebalance.png").write_bytes(b"other benchmark")
    plots.write("log", _results("log"), MACHINE, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["groups-rebalance.png", "log-fetch.png", "log-produce.png"]


def test_benchmark_without_plot_function_gets_no_figure(tmp_path):
    assert plots.write("no-such-bench", {"sqlite": {}}, MACHINE, tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_caption_names_machine_and_run():
    text = plots.caption(MACHINE)
    assert "AMD EPYC, 2 cores" in text and "2026-11-25 09:30 UTC" in text and "PostgreSQL 15.20" in text


def _saved_run(tmp_path, quick: bool = False):
    saved = {
        "machine": MACHINE, "names": ["groups"], "quick": quick,
        "passes": {b: {"backend": b, "server": "x", "results": {"groups": r}} for b, r in _results("groups").items()},
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps(saved))
    return path


def test_from_json_writes_section_with_figures_inside_markers(tmp_path, monkeypatch, capsys):
    import bench.__main__ as cli

    doc = tmp_path / "docs" / "BENCHMARKS.md"
    doc.parent.mkdir()
    doc.write_text(
        "# Benchmarks\n\n## Consumer groups: rebalance latency and lag (issue 3)\n\n"
        "<!-- bench:groups:begin -->\nold\n<!-- bench:groups:end -->\n\nHand-written analysis.\n"
    )
    monkeypatch.setattr(cli, "DOC", doc)
    saved = _saved_run(tmp_path)
    for _ in range(2):  # a rerun replaces the block, it does not add a second set of images
        assert cli.main(["--from-json", str(saved)]) == 0
    text = doc.read_text()
    block = text.split("<!-- bench:groups:begin -->")[1].split("<!-- bench:groups:end -->")[0]
    assert "old" not in block
    assert block.count("](bench/groups-rebalance.png)") == 1
    assert text.count("](bench/groups-rebalance.png)") == 1
    assert text.rstrip().endswith("Hand-written analysis.")
    _assert_png(doc.parent / "bench" / "groups-rebalance.png")


@pytest.mark.parametrize("flags", [["--no-doc"], ["--quick"]])
def test_quick_and_no_doc_write_neither_doc_nor_figures(tmp_path, monkeypatch, capsys, flags):
    import bench.__main__ as cli

    doc = tmp_path / "docs" / "BENCHMARKS.md"
    monkeypatch.setattr(cli, "DOC", doc)
    assert cli.main(["--from-json", str(_saved_run(tmp_path)), *flags]) == 0
    assert not doc.parent.exists()


def test_a_saved_quick_run_is_never_written(tmp_path, monkeypatch, capsys):
    import bench.__main__ as cli

    doc = tmp_path / "docs" / "BENCHMARKS.md"
    monkeypatch.setattr(cli, "DOC", doc)
    assert cli.main(["--from-json", str(_saved_run(tmp_path, quick=True))]) == 0
    assert not doc.parent.exists()
