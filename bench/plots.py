"""PNG figures of the benchmark results for docs/BENCHMARKS.md (matplotlib, Agg: no display).

One function per benchmark in PLOTS takes that benchmark's results ({backend: result}, the dict
its `render` receives) and the machine description, and returns [(what, alt text, Figure)];
`write` saves them as docs/bench/<name>-<what>.png and answers the Markdown image lines. A
benchmark without an entry in PLOTS gets no figure. Every figure carries a caption naming the
machine and the run, so a PNG that travels without the doc still says where it was measured.

The functions read results defensively (`.get`, skipped panels): the benchmark modules evolve
separately, and a missing measurement must cost a panel, never the doc.
"""

import importlib
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: headless runs, CI, ssh sessions

import matplotlib.colors  # noqa: E402 (after the backend choice)
from matplotlib.figure import Figure  # noqa: E402 (after the backend choice)
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
COLORS = {"sqlite": "#2f6db5", "postgres": "#d9731a"}
OTHER_COLORS = ("#5a9e3a", "#8e44ad", "#7f7f7f")
TARGET_COLOR = "#c0392b"
# Behind value labels: the lines and whiskers they sit on must not run through the digits.
LABEL_BOX = {"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}


# --- Helpers ---------------------------------------------------------------------------------


def _label(backend: str) -> str:
    return LABELS.get(backend, backend)


def _color(backend: str, i: int = 0) -> str:
    return COLORS.get(backend) or OTHER_COLORS[i % len(OTHER_COLORS)]


def _lighter(color: str, amount: float = 0.55) -> tuple:
    """The colour mixed with white: the baseline bars beside the broker's."""
    r, g, b = matplotlib.colors.to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def caption(machine: dict) -> str:
    """One line naming the machine and the run."""
    parts = [f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores"]
    if machine.get("memory"):
        parts.append(f"{machine['memory']} RAM")
    if machine.get("load"):
        parts.append(f"load average at start {machine['load']}")
    dbs = [f"SQLite {machine['sqlite']}"] if machine.get("sqlite") else []
    if machine.get("postgres"):
        dbs.append(f"PostgreSQL {machine['postgres'].split(' (')[0]}")
    if dbs:
        parts.append(", ".join(dbs))
    parts.append(f"run {machine.get('date', '?')}")
    return "Machine: " + " · ".join(parts)


def _figure(title: str, machine: dict, ncols: int = 1, nrows: int = 1, size=(11, 5)):
    fig = Figure(figsize=size, dpi=100, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    fig.suptitle(title, fontsize=13, fontweight="bold")
    # Below the axes (save uses bbox_inches="tight", which grows the image to include it).
    fig.text(0.5, -0.01, caption(machine), ha="center", va="top", fontsize=8.5, color="#444444")
    return fig, axes


def _si(x: float, _pos=None) -> str:
    """1500 -> 1.5k, 2_000_000 -> 2M: axis ticks that stay short."""
    if x == 0 or not math.isfinite(x):
        return "0"
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            v = x / div
            return f"{v:.0f}{suffix}" if v >= 10 or v == int(v) else f"{v:.1f}{suffix}"
    return f"{x:.0f}" if abs(x) >= 1 else f"{x:g}"


def _ms(x: float, _pos=None) -> str:
    if x >= 10 or x == int(x):
        return f"{x:,.0f}"
    return f"{x:.1f}" if x >= 1 else f"{x:.2g}"


def _log_y(ax, fmt=_si) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(fmt))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _log_x(ax, fmt=_ms) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(fmt))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _grid(ax, axis="y") -> None:
    ax.grid(True, axis=axis, which="major", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _finish(ax, *, xlabel=None, ylabel=None, title=None, title_size=10, legend="upper left", ncol=1, grid="y") -> None:
    """A panel's labels, legend and grid, the same on every figure."""
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title, fontsize=title_size)
    ax.legend(fontsize=8, loc=legend, ncol=ncol)
    _grid(ax, grid)


def _log_x_ticks(ax, values: list, low: float, high: float, label=lambda x: f"{x:,}") -> None:
    """A log x axis ticked at the measured values only, from min/`low` to max*`high`."""
    ax.set_xscale("log")
    ax.set_xticks(values, [label(x) for x in values])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(min(values) / low, max(values) * high)


def _bar_labels(ax, bars, values, fmt=_si, fontsize=7.5, rotation=0) -> None:
    for bar, v in zip(bars, values):
        if v is None or not math.isfinite(v) or v <= 0:
            continue
        ax.annotate(fmt(v), (bar.get_x() + bar.get_width() / 2, bar.get_height()), xytext=(0, 2),
                    textcoords="offset points", ha="center", va="bottom", fontsize=fontsize, rotation=rotation,
                    bbox=LABEL_BOX)


def _rate(x) -> float:
    """A rate entry may be a number or {"rate": ...}."""
    if isinstance(x, dict):
        x = x.get("rate")
    return float(x) if isinstance(x, (int, float)) and x is not None else float("nan")


def _finite(values) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v) and v > 0]


def _headroom(ax, values, log: bool) -> None:
    """Room above the tallest bar for its label (and the legend)."""
    vals = _finite(values)
    if not vals:
        return
    top = max(vals)
    if log:
        low = min(vals)
        ax.set_ylim(low / 3, top * 4)
    else:
        ax.set_ylim(0, top * 1.22)


def _stacked_labels(ax, labelled: dict, backends: list[str], fmt) -> None:
    """Label each backend's point at every x: the highest above it, the others below theirs,
    so two backends' labels at one x do not land on each other."""
    xs = sorted({x for pts in labelled.values() for x in pts})
    for x in xs:
        here = [(labelled[b][x][0], b) for b in backends if x in labelled[b] and math.isfinite(labelled[b][x][0])]
        here.sort(reverse=True)
        for rank, (y, b) in enumerate(here):
            text = fmt(*labelled[b][x])
            if not text:
                continue
            ax.annotate(text, (x, y), xytext=(7, 5) if rank == 0 else (7, -13), textcoords="offset points",
                        fontsize=8, color=_color(b, backends.index(b)), fontweight="bold", bbox=LABEL_BOX)


def _ratio_labels(ax, points: dict, backends: list[str]) -> None:
    def fmt(broker, raw):
        return f"{broker / raw:.2f}x" if math.isfinite(raw) and raw > 0 else ""

    _stacked_labels(ax, points, backends, fmt)


# --- log: produce and fetch ------------------------------------------------------------------


_LOG_PATHS = (("records_append", "records_append"), ("kafka", "Kafka path: producer_batch + batch_append"))


def _log_produce_panel(ax, results: dict, backends: list[str], path: str, title: str) -> None:
    """Broker against raw baseline by batch size for one append path, one line pair per backend."""
    allv = []
    points: dict[str, dict] = {}  # backend -> {batch: (broker rate, raw rate)}
    batches = set()
    for i, b in enumerate(backends):
        entries = sorted((e for e in results[b]["produce"] if e.get("path", "records_append") == path),
                         key=lambda e: e["batch"])
        if not entries:
            continue
        xs = [e["batch"] for e in entries]
        batches.update(xs)
        broker = [_rate(e.get("broker")) for e in entries]
        raw = [_rate(e.get("raw")) for e in entries]
        allv += broker + raw
        c = _color(b, i)
        ax.plot(xs, broker, "-o", color=c, linewidth=2, markersize=7, label=f"{_label(b)}: broker")
        ax.plot(xs, raw, "--s", color=c, alpha=0.75, linewidth=1.4, markersize=6,
                markerfacecolor="white", label=f"{_label(b)}: raw COPY")
        points[b] = dict(zip(xs, zip(broker, raw)))
    _ratio_labels(ax, points, [b for b in backends if b in points])
    if batches:
        _log_x_ticks(ax, sorted(batches), 2, 2.5)
    _log_y(ax)
    _headroom(ax, allv, log=True)
    _finish(ax, xlabel="records per call (batch size)", ylabel="records/s (log scale)",
            title=f"{title}; labels: broker/raw", grid="both")


def _log_fetch_label(e: dict) -> str:
    page = e.get("page")
    step = f"page {page:,}" if page else "1 MiB"
    path = e.get("path", "records_fetch").replace("records_", "")
    stored = f"\nbatches of {e['log_batch']:,}" if e.get("log_batch") else ""
    return f"{path}\n{step}{stored}"


def plot_log(results: dict, machine: dict) -> list:
    out = []
    backends = [b for b, r in results.items() if r.get("produce")]
    if backends:
        paths = [(p, t) for p, t in _LOG_PATHS
                 if any(e.get("path", "records_append") == p for b in backends for e in results[b]["produce"])]
        multi = any(results[b].get("multi") for b in backends)
        ncols = len(paths) + (1 if multi else 0)
        fig, axes = _figure("Log: produce throughput against a raw COPY of the same record-batch rows",
                            machine, ncols=ncols, size=(6.2 * ncols + 0.5, 5.4))
        for ax, (path, title) in zip(axes, paths):
            _log_produce_panel(ax, results, backends, path, title)

        if multi:
            ax = axes[len(paths)]
            labels = []
            for b in backends:
                for e in results[b].get("multi", []):
                    if e["label"] not in labels:
                        labels.append(e["label"])
            width = 0.8 / len(backends)
            vals = []
            procs = batch = None
            for i, b in enumerate(backends):
                by_label = {e["label"]: e for e in results[b].get("multi", [])}
                ys = [by_label[lb]["rate"] if lb in by_label else float("nan") for lb in labels]
                xs = [j + (i - (len(backends) - 1) / 2) * width for j in range(len(labels))]
                colors = [_lighter(_color(b, i)) if "raw" in lb else _color(b, i) for lb in labels]
                bars = ax.bar(xs, ys, width * 0.92, color=colors, edgecolor=_color(b, i), label=_label(b))
                _bar_labels(ax, bars, ys)
                vals += ys
                for e in by_label.values():
                    procs, batch = e.get("procs"), e.get("batch")
            ax.set_xticks(range(len(labels)), [lb.replace(", ", ",\n", 1) for lb in labels], fontsize=8.5)
            _headroom(ax, vals, log=False)
            ax.yaxis.set_major_formatter(FuncFormatter(_si))
            _finish(ax, ylabel="total records/s",
                    title=f"records_append, {procs or '?'} processes x {batch or '?'} (raw lighter)")
        out.append(("produce", "Log produce throughput by batch size and path, broker against raw COPY", fig))

    backends = [b for b, r in results.items() if r.get("fetch")]
    if backends:
        fig, axes = _figure("Log: fetch throughput against a raw SELECT of the same batches (after ANALYZE)",
                            machine, nrows=len(backends), size=(12, 4.6 * len(backends) + 0.5))
        for i, (ax, b) in enumerate(zip(axes, backends)):
            entries = results[b]["fetch"]
            # The analyzed phase only (the tables have both): the figure compares paths, not plans.
            if any(e.get("phase") == "analyzed" for e in entries):
                entries = [e for e in entries if e.get("phase") == "analyzed"]
            cats = [_log_fetch_label(e) for e in entries]
            broker = [_rate(e.get("broker")) for e in entries]
            raw = [_rate(e.get("raw")) for e in entries]
            xs = range(len(entries))
            c = _color(b, i)
            b1 = ax.bar([x - 0.2 for x in xs], broker, 0.38, color=c, label="broker")
            b2 = ax.bar([x + 0.2 for x in xs], raw, 0.38, color=_lighter(c), edgecolor=c, label="raw SELECT")
            _bar_labels(ax, b1, broker)
            _bar_labels(ax, b2, raw)
            ax.set_xticks(list(xs), cats, fontsize=8.5)
            _log_y(ax)
            _headroom(ax, broker + raw, log=True)
            _finish(ax, ylabel="records/s (log scale)", title=_label(b), title_size=11)
        out.append(("fetch", "Log fetch throughput by path, stored batch size and step, broker against raw SELECT", fig))
    return out


# --- groups: rebalance latency ---------------------------------------------------------------


def plot_groups(results: dict, machine: dict) -> list:
    backends = [b for b, r in results.items() if r.get("rebalance")]
    if not backends:
        return []
    lag = [b for b in backends if results[b].get("lag")]
    fig, axes = _figure("Consumer groups: rebalance latency (coordinator work only)", machine,
                        ncols=2 if lag else 1, size=(12.5, 5) if lag else (7, 5))
    ax = axes[0]
    vals = []
    joins: dict[str, dict] = {}  # backend -> {members: (join ms,)}
    for i, b in enumerate(backends):
        entries = sorted(results[b]["rebalance"], key=lambda e: e["members"])
        xs = [e["members"] for e in entries]
        join = [e["join_s"] * 1000 for e in entries]
        leave = [e["leave_s"] * 1000 for e in entries]
        vals += join + leave
        c = _color(b, i)
        ax.plot(xs, join, "-o", color=c, linewidth=2, label=f"{_label(b)}: one member joins")
        ax.plot(xs, leave, "--s", color=c, linewidth=1.4, markerfacecolor="white", label=f"{_label(b)}: one member leaves")
        joins[b] = {x: (y,) for x, y in zip(xs, join)}
    _stacked_labels(ax, joins, backends, _ms)
    _log_x_ticks(ax, sorted({e["members"] for b in backends for e in results[b]["rebalance"]}), 1.8, 1.8, label=str)
    _log_y(ax, _ms)
    _headroom(ax, vals, log=True)
    _finish(ax, xlabel="members in the group before the change",
            ylabel="ms until the group is Stable again (log scale)",
            title="Change + every member's rejoin, back to back; median of rounds", grid="both")

    if lag:
        ax = axes[1]
        ops = [
            ("totals_s", "every group's total lag"),
            ("list_s", "group list data"),
            ("describe_s", "one group described"),
            ("sample_s", "one lag-sampler pass"),
            ("commit_per_group_s", "one offset commit"),
        ]
        height = 0.8 / len(lag)
        vals = []
        for i, b in enumerate(lag):
            g = results[b]["lag"]
            ys = [j + (i - (len(lag) - 1) / 2) * height for j in range(len(ops))]
            ws = [g.get(k, float("nan")) * 1000 for k, _ in ops]
            vals += ws
            bars = ax.barh(ys, ws, height * 0.9, color=_color(b, i), label=_label(b))
            for bar, w in zip(bars, ws):
                if math.isfinite(w) and w > 0:
                    ax.annotate(_ms(w), (w, bar.get_y() + bar.get_height() / 2), xytext=(3, 0),
                                textcoords="offset points", va="center", fontsize=7.5)
        ax.set_yticks(range(len(ops)), [lb for _, lb in ops], fontsize=9)
        ax.invert_yaxis()
        _log_x(ax)
        v = _finite(vals)
        if v:
            ax.set_xlim(min(v) / 2, max(v) * 6)
        first = results[lag[0]]["lag"]
        _finish(ax, xlabel="ms (log scale)",
                title=f"Lag with {first.get('groups', 0):,} groups x {first.get('partitions', '?')} partitions",
                legend="lower right", grid="x")
    return [("rebalance", "Rebalance latency by member count, and lag computation times", fig)]


# --- console: live latency and pages ---------------------------------------------------------


def plot_console(results: dict, machine: dict) -> list:
    out = []
    backends = [b for b, r in results.items() if (r.get("live") or {}).get("latency")]
    if backends:
        subs = []
        for b in backends:
            for e in results[b]["live"]["latency"]:
                s = e["subscription"].split(":")[0]
                if s not in subs:
                    subs.append(s)
        throttle = results[backends[0]]["live"].get("throttle_s")
        fig, axes = _figure("Console: produce → websocket fragment latency (in-process, no network or browser)",
                            machine, ncols=len(subs), size=(6.2 * len(subs) + 0.5, 5.2))
        for ax, sub in zip(axes, subs):
            modes = []
            for b in backends:
                for e in results[b]["live"]["latency"]:
                    if e["subscription"].split(":")[0] == sub and e["mode"] not in modes:
                        modes.append(e["mode"])
            width = 0.8 / len(backends)
            vals = []
            for i, b in enumerate(backends):
                by_mode = {e["mode"]: e for e in results[b]["live"]["latency"] if e["subscription"].split(":")[0] == sub}
                xs = [j + (i - (len(backends) - 1) / 2) * width for j in range(len(modes))]
                p50 = [by_mode[m]["p50_s"] * 1000 if m in by_mode else float("nan") for m in modes]
                p95 = [by_mode[m]["p95_s"] * 1000 if m in by_mode else float("nan") for m in modes]
                c = _color(b, i)
                bars = ax.bar(xs, p50, width * 0.9, color=c, label=f"{_label(b)}: p50")
                ax.scatter(xs, p95, marker="_", s=500 * width, linewidths=2.2, color="black", zorder=3,
                           label="p95" if i == 0 else None)
                ax.vlines(xs, p50, p95, color="black", linewidth=0.8, zorder=2)
                _bar_labels(ax, bars, p50, fmt=_ms)
                vals += p50 + p95
            if throttle:
                ax.axhline(throttle * 1000, color=TARGET_COLOR, linestyle=":", linewidth=1.2,
                           label=f"push throttle {throttle * 1000:.0f} ms")
            rates = []
            for m in modes:
                e = next((e for e in results[backends[0]]["live"]["latency"]
                          if e["mode"] == m and e["subscription"].split(":")[0] == sub), None)
                rate = e["append_rate"] if e else 0
                rates.append(f"{m}\n{rate:.1f} appends/s" if 0 < rate < 10 else f"{m}\n{rate:.0f} appends/s" if e else m)
            ax.set_xticks(range(len(modes)), rates, fontsize=8.5)
            _log_y(ax, _ms)
            _headroom(ax, vals + ([throttle * 1000] if throttle else []), log=True)
            _finish(ax, ylabel="ms from append call to websocket message (log scale)",
                    title=f"{sub} subscription" + (" (live tail)" if sub == "tail" else " (topic page)"), title_size=11)
        out.append(("latency", "Produce to websocket latency by mode, p50 bars and p95 ticks", fig))

    backends = [b for b, r in results.items() if r.get("pages")]
    if backends:
        labels = []
        for b in backends:
            for p in results[b]["pages"]:
                if p["label"] not in labels:
                    labels.append(p["label"])
        fig, axes = _figure("Console: page server times at scale (bar: median after ANALYZE; whisker: max)", machine,
                            size=(11, 0.42 * len(labels) * max(1, len(backends) * 0.75) + 2.2))
        ax = axes[0]
        height = 0.8 / len(backends)
        vals = []
        for i, b in enumerate(backends):
            pages = {p["label"]: p for p in results[b]["pages"] if p.get("phase") == "analyzed"}
            if not pages:  # an older or partial run: whatever phase there is
                pages = {p["label"]: p for p in results[b]["pages"]}
            ys = [j + (i - (len(backends) - 1) / 2) * height for j in range(len(labels))]
            med = [pages[lb]["median_s"] * 1000 if lb in pages else float("nan") for lb in labels]
            mx = [pages[lb]["max_s"] * 1000 if lb in pages else float("nan") for lb in labels]
            bars = ax.barh(ys, med, height * 0.9, color=_color(b, i), label=_label(b))
            ax.hlines(ys, med, mx, color="black", linewidth=0.8, zorder=2)
            ax.scatter(mx, ys, marker="|", s=40, color="black", zorder=3)
            for bar, w, top, lb in zip(bars, med, mx, labels):
                if math.isfinite(w) and w > 0:
                    bad = lb in pages and not pages[lb].get("ok", True)
                    # The median's label after the whisker's end, clear of the tick.
                    at = max(w, top) if math.isfinite(top) else w
                    ax.annotate(_ms(w) + (" (page check failed)" if bad else ""),
                                (at, bar.get_y() + bar.get_height() / 2),
                                xytext=(4, 0), textcoords="offset points", va="center", fontsize=7.5,
                                color=TARGET_COLOR if bad else "black")
            vals += med + mx
        ax.set_yticks(range(len(labels)), labels, fontsize=8.5)
        ax.set_ylim(len(labels) - 0.5, -0.5)  # first page on top, no empty band above or below
        _log_x(ax)
        v = _finite(vals)
        if v:
            ax.set_xlim(min(v) / 2, max(v) * 4)
        _finish(ax, xlabel="server time per request, ms (log scale; django.test.Client, no network)",
                legend="lower right", grid="x")
        out.append(("pages", "Console page server times, median per page and backend", fig))
    return out


def _target(module: str, name: str, default: float) -> float:
    """An issue's figure as its measuring module states it, or `default` (the same figure) when that
    module moved or broke."""
    try:
        return getattr(importlib.import_module(module), name)
    except Exception:
        return default


# --- rest: produce over HTTP -----------------------------------------------------------------

REST_TARGET = 25_000  # bench.rest.TARGET; repeated so plotting never imports the measuring module


def plot_rest(results: dict, machine: dict) -> list:
    backends = [b for b, r in results.items() if r.get("produce")]
    if not backends:
        return []
    target = _target("bench.rest", "TARGET", REST_TARGET)
    fig, axes = _figure("REST proxy: produce throughput over HTTP (one server process)", machine,
                        ncols=len(backends), size=(6.2 * len(backends) + 0.5, 5.2))
    top = max(_finite([e["rate"] for b in backends for e in results[b]["produce"]]
                      + [results[b].get("baseline") or 0 for b in backends] + [target]))
    for i, (ax, b) in enumerate(zip(axes, backends)):
        r = results[b]
        entries = r["produce"]
        c = _color(b, i)
        cats = [f"{e['clients']} client{'s' if e['clients'] != 1 else ''}\n× {e['per_request']} rec/request" for e in entries]
        ys = [e["rate"] for e in entries]
        colors = [c if e["per_request"] >= 100 else _lighter(c, 0.35) for e in entries]
        if r.get("consume"):
            cats.append("v2 consumer\n(1 instance)")
            ys.append(_rate(r["consume"]))
            colors.append("#7f7f7f")
        bars = ax.bar(range(len(ys)), ys, 0.6, color=colors)
        _bar_labels(ax, bars, ys, fontsize=8)
        if r.get("baseline"):
            ax.axhline(r["baseline"], color=c, linestyle="--", linewidth=1.4,
                       label=f"records_append in-process, batch 100: {_si(r['baseline'])}/s")
        ax.axhline(target, color=TARGET_COLOR, linestyle=":", linewidth=1.6, label=f"target {target:,}/s at 100 rec/request")
        ax.set_xticks(range(len(ys)), cats, fontsize=8.5)
        ax.yaxis.set_major_formatter(FuncFormatter(_si))
        ax.set_ylim(0, top * 1.25)
        _finish(ax, ylabel="records/s", title=_label(b), title_size=11)
    return [("produce", "REST produce throughput by clients and records per request, with baseline and target", fig)]


# --- kafka: protocol throughput --------------------------------------------------------------


def plot_kafka(results: dict, machine: dict) -> list:
    backends = [b for b, r in results.items() if r.get("produce")]
    if not backends:
        return []
    fig, axes = _figure("Kafka protocol: confluent-kafka throughput through the listener against records_append",
                        machine, ncols=len(backends), size=(6.2 * len(backends) + 0.5, 5.2))
    top = max(_finite([p["rate"] for b in backends for p in results[b]["produce"]]
                      + [_rate(results[b].get("consume")) for b in backends]
                      + [v for b in backends for v in (results[b].get("baseline") or {}).values()]) or [1])
    for i, (ax, b) in enumerate(zip(axes, backends)):
        r = results[b]
        c = _color(b, i)
        cats, ys, colors, notes = [], [], [], []
        for p in r["produce"]:
            cats.append(f"produce\n{p['producers']} producer{'s' if p['producers'] != 1 else ''}, acks={p['acks']}")
            ys.append(p["rate"])
            colors.append(c)
            notes.append(f"p50 {p['latency_p50'] * 1000:.0f} ms" if "latency_p50" in p else "")
        if r.get("consume"):
            cats.append("consume\n1 consumer")
            ys.append(_rate(r["consume"]))
            colors.append("#7f7f7f")
            notes.append("")
        bars = ax.bar(range(len(ys)), ys, 0.6, color=colors)
        _bar_labels(ax, bars, ys, fontsize=8)
        for bar, note in zip(bars, notes):
            if note and bar.get_height() > top * 0.3:  # inside the bar, where it fits
                ax.annotate(note, (bar.get_x() + bar.get_width() / 2, bar.get_height() / 2), ha="center",
                            va="center", fontsize=7.5, color="white", rotation=90)
        styles = {"100": "--", "1000": "-."}
        for batch, rate in sorted((r.get("baseline") or {}).items(), key=lambda kv: int(kv[0])):
            ax.axhline(rate, color=c, linestyle=styles.get(batch, ":"), linewidth=1.4,
                       label=f"records_append in-process, batch {int(batch):,}: {_si(rate)}/s")
        ax.set_xticks(range(len(ys)), cats, fontsize=8.5)
        ax.yaxis.set_major_formatter(FuncFormatter(_si))
        ax.set_ylim(0, top * 1.3)
        _finish(ax, ylabel="records/s", title=_label(b), title_size=11)
    return [("throughput", "Kafka protocol producer and consumer throughput against the records_append baselines", fig)]


# --- groupcommit: concurrent single-record producers -----------------------------------------

GROUP_COMMIT_TARGET = 5.0  # bench.groupcommit.TARGET_RATIO: on at least 5x off


def plot_groupcommit(results: dict, machine: dict) -> list:
    backends = [b for b, r in results.items() if r.get("in_process")]
    if not backends:
        return []
    target = _target("bench.groupcommit", "TARGET_RATIO", GROUP_COMMIT_TARGET)

    def cases(r):
        """[(label, {"off": ..., "on": ...})]: the in-process runs, then REST if it ran."""
        out = []
        from bench.groupcommit import case_label

        for e in r["in_process"]:
            out.append((case_label(e).replace(", ", "\n"), e))
        if r.get("rest") and "off" in r["rest"]:
            out.append((f"REST, {r['rest'].get('clients', '?')} clients", r["rest"]))
        return out

    fig, axes = _figure("Group commit: single-record producers, one commit per record (off) against shared commits (on)",
                        machine, ncols=2, size=(13, 5.4))
    labels = []
    for b in backends:
        for lb, _ in cases(results[b]):
            if lb not in labels:
                labels.append(lb)
    n = len(backends) * 2
    width = 0.84 / n
    rate_vals, lat_vals = [], []
    for i, b in enumerate(backends):
        by_label = dict(cases(results[b]))
        c = _color(b, i)
        for k, mode in enumerate(("off", "on")):
            slot = i * 2 + k
            xs = [j + (slot - (n - 1) / 2) * width for j in range(len(labels))]
            m = [by_label[lb].get(mode, {}) if lb in by_label else {} for lb in labels]
            rates = [_rate(x) for x in m]
            style = {"color": c} if mode == "on" else {"color": _lighter(c), "edgecolor": c}
            bars = axes[0].bar(xs, rates, width * 0.92, label=f"{_label(b)}: {mode}", **style)
            if mode == "on":
                ratios = [by_label[lb].get("ratio") if lb in by_label else None for lb in labels]
                for bar, ratio, lb in zip(bars, ratios, labels):
                    if isinstance(ratio, (int, float)) and math.isfinite(ratio) and bar.get_height() > 0:
                        # Green/red only where the target applies: many producers in one process.
                        judged = by_label.get(lb, {}).get("producers", 0) > 1 and by_label[lb].get("acks", "all") == "all"
                        color = ("#1e7b34" if ratio >= target else TARGET_COLOR) if judged else "#333333"
                        axes[0].annotate(f"{ratio:.1f}x", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                                         xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                                         fontsize=8, fontweight="bold", color=color, bbox=LABEL_BOX)
            else:
                _bar_labels(axes[0], bars, rates)
            rate_vals += rates
            p50 = [x.get("p50_ms", float("nan")) for x in m]
            p99 = [x.get("p99_ms", float("nan")) for x in m]
            axes[1].bar(xs, p50, width * 0.92, label=f"{_label(b)}: {mode}", **style)
            axes[1].scatter(xs, p99, marker="_", s=300 * width, linewidths=2, color="black", zorder=3,
                            label="p99" if slot == 0 else None)
            axes[1].vlines(xs, p50, p99, color="black", linewidth=0.8, zorder=2)
            lat_vals += p50 + p99
    ax = axes[0]
    ax.set_xticks(range(len(labels)), labels, fontsize=9)
    _log_y(ax)
    _headroom(ax, rate_vals, log=True)
    _finish(ax, ylabel="appends/s, one record each (log scale)",
            title=f"Throughput; labels: on/off (target {target:g}x for many producers in one process)", ncol=2)
    ax = axes[1]
    ax.set_xticks(range(len(labels)), labels, fontsize=9)
    _log_y(ax, _ms)
    _headroom(ax, lat_vals, log=True)
    _finish(ax, ylabel="ms per append call (log scale)", title="Latency the caller sees: p50 bar, p99 tick", ncol=2)
    return [("producers", "Group commit on and off: throughput and latency of single-record producers", fig)]


# --- Registry and writing --------------------------------------------------------------------

PLOTS = {
    "log": plot_log,
    "groups": plot_groups,
    "console": plot_console,
    "rest": plot_rest,
    "kafka": plot_kafka,
    "groupcommit": plot_groupcommit,
}


def write(name: str, results: dict, machine: dict, directory: Path, link_prefix: str = "bench") -> list[str]:
    """Save `name`'s figures as `directory`/<name>-<what>.png; answer their Markdown image lines.

    The benchmark's earlier PNGs are removed first, so a figure a rerun no longer draws does not
    linger beside the new ones.
    """
    fn = PLOTS.get(name)
    if fn is None:
        return []
    figures = fn(results, machine)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob(f"{name}-*.png"):
        old.unlink()
    lines = []
    for what, alt, fig in figures:
        filename = f"{name}-{what}.png"
        # No "Software" key: the PNG's bytes then depend on the figure only, not on the version.
        fig.savefig(directory / filename, format="png", dpi=100, bbox_inches="tight", pad_inches=0.2,
                    metadata={"Software": None})
        lines.append(f"![{alt} ({machine.get('date', '')})]({link_prefix}/{filename})")
    return lines
