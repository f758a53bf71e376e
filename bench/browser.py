"""Produce -> browser latency: from an append to the record's row in a real Chromium (issue 7).

A real server (`manage.py serve`, daphne, one process, no Kafka listener) on the scratch database
and Debian's Chromium (Playwright) logged in as a staff user with the topic's live tail open. Two
paths: an append made by another process (this one, as the CLI or another server would: the
server's change watcher notices it with its poll every 0.5 s) and a REST
produce to the server itself (its own append publishes the event directly). The time runs from
just before the append starts to the moment a MutationObserver in the page sees the row (the
same machine's clock on both sides), so it includes the commit, the watcher, the channel layer,
the live consumer's throttle, the websocket, htmx's swap and the browser's layout.
"""

import base64
import json
import os
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.common import api_token, backend_label, fmt_ms, machine_markdown, progress, table, web_server

NAME = "browser"
TITLE = "Console: produce -> browser latency in Chromium (issue 7)"
TOPIC = "bench-browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "bench-Password-42"

# Counts rows as they arrive: window.__seen[marker] = Date.now() when a row holding it appears.
OBSERVER = """
window.__seen = {};
new MutationObserver(() => {
  for (const row of document.querySelectorAll('#tail-rows tr[data-pos]')) {
    const m = row.textContent.match(/bench-mark-(\\d+)/);
    if (m && !(m[1] in window.__seen)) window.__seen[m[1]] = Date.now();
  }
}).observe(document.body, {childList: true, subtree: true});
"""


@dataclass(frozen=True)
class Config:
    samples: int = 30  # per path
    gap_s: float = 0.7  # between appends: each one is a fresh push, not part of a burst


QUICK = Config(samples=5)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _rest_produce(base: str, token: str, marker: int) -> None:
    body = json.dumps({"records": [{"key": base64.b64encode(b"k").decode(),
                                    "value": base64.b64encode(f"bench-mark-{marker}".encode()).decode()}]})
    request = urllib.request.Request(f"{base}/rest/topics/{TOPIC}", data=body.encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/vnd.kafka.binary.v2+json",
        "Accept": "application/vnd.kafka.v2+json",
    })
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _service_produce(marker: int) -> None:
    from django.db import close_old_connections

    from brokercore.log.append import records_append
    from brokercore.types import RecordIn

    close_old_connections()
    records_append(topic=TOPIC, records=[RecordIn(key=b"k", value=f"bench-mark-{marker}".encode())])


def _measure(page, cfg: Config, produce, first: int) -> list[float]:
    # Appends run in a thread of their own: Playwright's sync API keeps an event loop in this one,
    # where Django's ORM and the event publishing refuse to run.
    latencies = []
    with ThreadPoolExecutor(1) as pool:
        for i in range(first, first + cfg.samples):
            started = pool.submit(lambda m=i: (time.time() * 1000, produce(m))[0]).result()
            page.wait_for_function(f"window.__seen['{i}'] !== undefined", timeout=15_000)
            latencies.append(page.evaluate(f"window.__seen['{i}']") - started)
            time.sleep(cfg.gap_s)
    return latencies


def run(ctx) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connections

    from brokercore.topics.service import topic_create

    cfg = QUICK if ctx.quick else Config()
    if not os.path.exists(CHROMIUM):
        progress(f"[{ctx.backend}] produce -> browser: skipped, no Chromium at {CHROMIUM}")
        return {"skipped": f"no Chromium at {CHROMIUM}"}
    from playwright.sync_api import sync_playwright

    progress(f"[{ctx.backend}] produce -> browser latency (Chromium)")
    topic_create(name=TOPIC, partitions=4)
    # A superuser with a password: the benchmark logs in through the form, and produces with a token.
    get_user_model().objects.create_superuser("bench-browser", "bench@example.com", PASSWORD)
    token = api_token("bench-browser", staff=True)
    connections.close_all()
    server = web_server()
    base = f"http://127.0.0.1:{server.port}"
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the produce thread, not the loop's
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{base}/login/")
            page.fill("#id_username", "bench-browser")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit], input[type=submit]")
            page.wait_for_url(f"{base}/")
            page.goto(f"{base}/topics/{TOPIC}/tail/")
            page.locator("#live-status[data-state=open]").wait_for(timeout=15_000)
            page.evaluate(OBSERVER)
            time.sleep(1.0)  # the server's change watcher has taken its first snapshot
            results = {
                "other_process": _measure(page, cfg, _service_produce, 0),
                "rest": _measure(page, cfg, lambda m: _rest_produce(base, token, m), 10_000),
            }
            browser.close()
    finally:
        server.stop()
    out = {}
    for path, values in results.items():
        out[path] = {"n": len(values), "p50": _percentile(values, 0.5), "p95": _percentile(values, 0.95),
                     "max": max(values), "min": min(values)}
        progress(f"  {path}: p50 {out[path]['p50']:.0f} ms, p95 {out[path]['p95']:.0f} ms, max {out[path]['max']:.0f} ms")
    return {"paths": out, "samples": cfg.samples, "gap_s": cfg.gap_s}


METHOD = """\
**Method.** `python -m bench browser` starts `manage.py serve` (daphne, one process) on the scratch
database and opens the topic's live tail in Debian's Chromium (Playwright, headless) as a staff
user. {samples} single-record appends per path, {gap:g} s apart: *another process* appends with
`records_append` (as the CLI or another server would; the server's change watcher finds it with
its poll every 0.5 s, so expect about 250 ms more on average), *REST* posts one record to the
server's own v2 produce endpoint (the server publishes the event itself). The time runs from just
before the append to a MutationObserver in the page seeing the row: commit, watcher, channel
layer, the live consumer's 250 ms throttle, websocket, htmx swap and layout.
"""

LABELS = {"other_process": "append from another process", "rest": "REST produce to the server"}


def render(results: dict, machine: dict) -> str:
    first = next((r for r in results.values() if "paths" in r), None)
    if first is None:
        return "No backend ran (Chromium missing?)."
    parts = [machine_markdown(machine), METHOD.format(samples=first["samples"], gap=first["gap_s"])]
    rows = []
    for backend, r in results.items():
        for path, v in r.get("paths", {}).items():
            label = backend_label(backend)
            rows.append((label, LABELS[path], fmt_ms(v["min"]), fmt_ms(v["p50"]), fmt_ms(v["p95"]), fmt_ms(v["max"])))
    parts.append(table(["Backend", "Path", "min ms", "p50 ms", "p95 ms", "max ms"], rows, align="llrrrr"))
    return "\n\n".join(parts)
