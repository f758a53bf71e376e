"""Messages: browse a topic's records (seek, filter, page) and tail new ones live.

The browser is a GET form, so every page is a URL: the seek fields say where to start, and the
paging links carry a cursor of per-partition offsets (`from=0:120,1:98` pages forwards from those
offsets, `before=...` backwards), so paging stays stable while records are appended. Seeks use
the primary key (offset) and the (partition, timestamp) index; a filter scans a bounded number of
records per request and says how far it got.
"""

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

import console.live.kinds  # noqa: F401  (registers the "tail" kind this module adds a renderer to)
from brokercore.errors import UnknownTopicOrPartition
from brokercore.log.browse import MATCH_FIELDS, records_browse, records_tail
from brokercore.log.read import offset_for, partition_offsets_list
from brokercore.models import RecordBatch
from brokercore.topics.read import topic_get
from brokercore.types import RecordOut
from console.live import fragments
from console.views._common import live

TEMPLATE = "console/messages/browse.html"
TAIL_TEMPLATE = "console/messages/tail.html"

PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 500
SCAN_LIMIT = 10_000  # records a filtered page examines at most
TAIL_INITIAL = 20  # records a tail shows when it connects
TAIL_PUSH_MAX = 200  # records one push carries at most; the rest are counted as skipped

SHOW_MAX_CHARS = 64 * 1024  # longer values are cut when shown
LONG_CHARS = 240  # values longer than this (or with many lines) are collapsed
LONG_LINES = 6
HEX_MAX_BYTES = 4096

SEEKS = [("newest", "Newest"), ("oldest", "Oldest"), ("offset", "Offset"), ("timestamp", "Time (UTC)")]
FIELDS = list(zip(MATCH_FIELDS, ["key, value or headers", "key", "value", "headers"], strict=True))
TIMESTAMP_TYPES = {RecordBatch.TIMESTAMP_CREATE: "CreateTime", RecordBatch.TIMESTAMP_LOG_APPEND: "LogAppendTime"}
TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")

# Errors only a hand-made URL produces (the form cannot send them): answered with 400.
GARBAGE = {"invalid_choice", "garbage"}
ERR_PARTITION_GARBAGE = "Choose a partition number or “all”."
ERR_PARTITION_UNKNOWN = "Partition {p} does not exist: this topic has partitions 0–{last}."
ERR_OFFSET_MISSING = "Enter an offset to seek to."
ERR_OFFSET_RANGE = "Offset {o} is outside partition {p}: it holds {holds}."
ERR_OFFSET_NOWHERE = "Offset {o} is outside every partition: choose one partition to see the offsets it holds."
ERR_TIME_MISSING = "Enter a date and time (UTC) to seek to."
ERR_TIME_BAD = "Not a date and time: use YYYY-MM-DD HH:MM[:SS] (UTC) or milliseconds since the epoch."
ERR_SEE_FIELD = "Nothing shown: see the message by the field above."
ERR_CURSOR = "The paging position in this link is not valid; start again from the form."


# --- Showing keys, values and headers -----------------------------------------------------------

_ESCAPES = [chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02x}" for b in range(256)]
_ESCAPES[92] = "\\\\"


def _is_text(s: str) -> bool:
    return all(c >= " " or c in "\t\n\r" for c in s) and "\x7f" not in s


def data_view(data: bytes | None) -> dict:
    """How to show a key, value or header: null, empty, pretty JSON, UTF-8 text or escaped binary.

    Text with control characters counts as binary, so nothing unprintable reaches the page; the
    template escapes the rest (a value "<script>" is shown, never run).
    """
    if data is None:
        return {"kind": "null"}
    if not data:
        return {"kind": "empty"}
    size = len(data)
    try:
        text = data.decode("utf-8")
        kind = "text" if _is_text(text) else "binary"
    except UnicodeDecodeError:
        kind = "binary"
    hexdump = None
    one_line = None  # JSON's preview: the document on one line
    if kind == "binary":
        text = "".join(_ESCAPES[b] for b in data[:SHOW_MAX_CHARS])
        head = data[:HEX_MAX_BYTES]
        hexdump = "\n".join(
            f"{i:08x}  {head[i:i + 16].hex(' '):<47}  {''.join(chr(b) if 32 <= b < 127 else '.' for b in head[i:i + 16])}"
            for i in range(0, len(head), 16)
        )
    elif text.lstrip()[:1] in ("{", "[") and size <= 1 << 20:
        try:
            document = json.loads(text)
        except ValueError:
            pass
        else:
            text = json.dumps(document, indent=2, ensure_ascii=False)
            one_line = json.dumps(document, ensure_ascii=False)
            kind = "json"
    truncated = len(text) > SHOW_MAX_CHARS
    text = text[:SHOW_MAX_CHARS]
    first_line = one_line or text.strip().split("\n", 1)[0]
    return {
        "kind": kind,
        "text": text,
        "size": size,
        "long": len(text) > LONG_CHARS or text.count("\n") >= LONG_LINES,
        "preview": first_line[:120] + ("…" if len(first_line) > 120 else ""),
        "truncated": truncated,
        "hex": hexdump,
        "hex_cut": size > HEX_MAX_BYTES,
    }


def _utc(ms: int) -> tuple[str, str]:
    try:
        dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return str(ms), ""
    return dt.strftime("%Y-%m-%d"), f"{dt:%H:%M:%S}.{ms % 1000:03d}"


def record_view(r: RecordOut) -> dict:
    date, time = _utc(r.timestamp)
    return {
        "partition": r.partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
        "date": date,
        "time": time,
        "timestamp_type": TIMESTAMP_TYPES.get(r.timestamp_type, str(r.timestamp_type)),
        "key": data_view(r.key),
        "value": data_view(r.value),
        "headers": [(k, data_view(v)) for k, v in r.headers],
        "size": r.size,
    }


# --- The browser form ---------------------------------------------------------------------------


def time_parse(text: str) -> int | None:
    """Milliseconds since the epoch of a UTC date-time (as a datetime-local input sends) or of a number."""
    text = text.strip()
    if text.isdigit():
        return int(text) if int(text) < 1 << 63 else None
    for fmt in TIME_FORMATS:
        try:
            return int(datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp() * 1000)
        except ValueError:
            continue
    return None


def _holds(lo: int, hi: int) -> str:
    return "no records (it is empty)" if lo == hi else f"offsets {lo}–{hi - 1}"


class BrowseForm(forms.Form):
    partition = forms.CharField(required=False)
    seek = forms.ChoiceField(choices=SEEKS, required=False)
    offset = forms.IntegerField(required=False, min_value=0)
    time = forms.CharField(required=False, max_length=40)
    size = forms.IntegerField(required=False, min_value=1, max_value=PAGE_SIZE_MAX)
    q = forms.CharField(required=False, max_length=500, strip=False)
    field = forms.ChoiceField(choices=FIELDS, required=False)

    def __init__(self, data: QueryDict, *, bounds: dict[int, tuple[int, int]], paging: bool = False) -> None:
        super().__init__(data)
        self.bounds = bounds
        self.paging = paging  # a paging link's cursor says where to read: the seek fields are not used

    def clean_partition(self) -> int | None:
        raw = self.cleaned_data["partition"].strip()
        if raw in ("", "all"):
            return None
        if not raw.isdigit():
            raise forms.ValidationError(ERR_PARTITION_GARBAGE, code="garbage")
        p = int(raw)
        if p not in self.bounds:
            raise forms.ValidationError(ERR_PARTITION_UNKNOWN.format(p=p, last=len(self.bounds) - 1))
        return p

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["seek"] = data.get("seek") or "newest"
        data["field"] = data.get("field") or "any"
        if data.get("size") is None and "size" not in self.errors:
            data["size"] = PAGE_SIZE_DEFAULT
        if self.paging:
            return data
        if data["seek"] == "offset" and "offset" not in self.errors:
            offset, p = data.get("offset"), data.get("partition")
            if offset is None:
                self.add_error("offset", ERR_OFFSET_MISSING)
            elif p is None and len(self.bounds) > 1:
                if not any(lo <= offset <= hi for lo, hi in self.bounds.values()):
                    self.add_error("offset", ERR_OFFSET_NOWHERE.format(o=offset))
            else:
                p = next(iter(self.bounds)) if p is None else p
                if not self.bounds[p][0] <= offset <= self.bounds[p][1]:
                    self.add_error("offset", ERR_OFFSET_RANGE.format(o=offset, p=p, holds=_holds(*self.bounds[p])))
        if data["seek"] == "timestamp":
            raw = (data.get("time") or "").strip()
            ms = time_parse(raw) if raw else None
            if not raw:
                self.add_error("time", ERR_TIME_MISSING)
            elif ms is None:
                self.add_error("time", ERR_TIME_BAD)
            data["time_ms"] = ms
        return data

    @property
    def garbage(self) -> bool:
        return any(e.code in GARBAGE for errors in self.errors.as_data().values() for e in errors)


def cursor_parse(raw: str) -> dict[int, int] | None:
    """`0:120,1:98` -> {0: 120, 1: 98}; None if it is not that shape."""
    out = {}
    for part in raw.split(","):
        p, sep, o = part.partition(":")
        if not sep or not p.isdigit() or not o.isdigit() or int(p) in out:
            return None
        out[int(p)] = int(o)
    return out or None


def cursor_format(cursor: dict[int, int]) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(cursor.items()))


def _start(form_data: dict, bounds: dict[int, tuple[int, int]], topic: str) -> tuple[dict[int, int], bool]:
    """Where a fresh seek starts: (per-partition offsets, backward?). Timestamps use the index."""
    seek = form_data["seek"]
    if seek == "newest":
        return {p: hi for p, (_, hi) in bounds.items()}, True
    if seek == "oldest":
        return {p: lo for p, (lo, _) in bounds.items()}, False
    if seek == "offset":
        # With every partition, the offset applies to each, clamped to what it holds.
        return {p: min(max(form_data["offset"], lo), hi) for p, (lo, hi) in bounds.items()}, False
    return {p: offset_for(topic=topic, partition=p, spec=form_data["time_ms"])[0] for p in bounds}, False


def _page_url(params: dict, **cursor: str) -> str:
    query = {k: v for k, v in params.items() if v not in (None, "")}
    query.update(cursor)
    return "?" + urlencode(query)


def _browse(request: HttpRequest, name: str) -> tuple[dict, int]:
    try:
        offsets = partition_offsets_list(topic=name)
    except UnknownTopicOrPartition:
        raise Http404(f"Topic '{name}' does not exist.") from None
    all_bounds = {o.partition: (o.log_start_offset, o.high_watermark) for o in offsets}
    raw_from, raw_before = request.GET.get("from"), request.GET.get("before")
    form = BrowseForm(request.GET, bounds=all_bounds, paging=bool(raw_from or raw_before))
    get = request.GET
    context = {
        "topic": name,
        "partitions": offsets,
        "partition_options": [
            (str(o.partition), f"{o.partition} (empty)" if o.high_watermark == o.log_start_offset
             else f"{o.partition} (offsets {o.log_start_offset}–{o.high_watermark - 1})")
            for o in offsets
        ],
        "records_total": sum(hi - lo for lo, hi in all_bounds.values()),
        "form": form,
        "values": {
            "partition": get.get("partition") or "all",
            "seek": get.get("seek") or "newest",
            "offset": get.get("offset", ""),
            "time": get.get("time", ""),
            "size": get.get("size") or PAGE_SIZE_DEFAULT,
            "q": get.get("q", ""),
            "field": get.get("field") or "any",
        },
        "seeks": SEEKS,
        "fields": FIELDS,
        "page_size_max": PAGE_SIZE_MAX,
        "scan_limit": SCAN_LIMIT,
    }
    valid = form.is_valid()
    context["errors"] = {f: " ".join(form.errors.get(f, [])) for f in form.fields}
    if not valid:
        if form.garbage:
            context["problem"] = " ".join(str(e) for errors in form.errors.values() for e in errors)
            return context, 400
        context["problem"] = ERR_SEE_FIELD
        return context, 200
    data = form.cleaned_data
    chosen = data["partition"]
    bounds = all_bounds if chosen is None else {chosen: all_bounds[chosen]}
    params = {
        "partition": "all" if chosen is None else chosen,
        "seek": data["seek"],
        "offset": data.get("offset") if data["seek"] == "offset" else None,
        "time": data.get("time") if data["seek"] == "timestamp" else None,
        "size": data["size"],
        "q": data["q"],
        "field": data["field"] if data["q"] else None,
    }
    if raw_from or raw_before:
        cursor = cursor_parse(raw_from or raw_before)
        if cursor is None or (raw_from and raw_before) or set(cursor) != set(bounds):
            context["problem"] = ERR_CURSOR
            return context, 400
        backward = bool(raw_before)
    else:
        try:
            cursor, backward = _start(data, bounds, name)
        except UnknownTopicOrPartition:
            raise Http404(f"Topic '{name}' does not exist.") from None
    try:
        page = records_browse(
            topic=name, cursor=cursor, backward=backward, limit=data["size"], text=data["q"], field=data["field"],
            scan_limit=SCAN_LIMIT,
        )
    except UnknownTopicOrPartition:
        raise Http404(f"Topic '{name}' does not exist.") from None
    context.update(
        page=page,
        rows=[record_view(r) for r in page.records],
        backward=backward,
        chosen=chosen,
        filtering=bool(data["q"]),
        # Only the partitions the page read from: at a thousand partitions, a row for each of the
        # others said nothing and took most of the page's render time.
        ranges=[
            {"partition": p, "start": page.start[p], "end": page.end[p], "lo": lo, "hi": hi}
            for p, (lo, hi) in sorted(page.bounds.items()) if page.start[p] != page.end[p]
        ],
        ranges_unread=sum(1 for p in page.bounds if page.start[p] == page.end[p]),
        previous_url=_page_url(params, before=cursor_format(page.start)) if page.has_previous else None,
        next_url=_page_url(params, **{"from": cursor_format(page.end)}) if page.has_next else None,
    )
    return context, 200


@require_GET
@login_required
def messages(request: HttpRequest, name: str) -> HttpResponse:
    context, status = _browse(request, name)
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        # The form and the pager swap only the results; field errors travel out of band.
        html = render_to_string(TEMPLATE + "#results", context, request) + render_to_string(
            TEMPLATE + "#errors_oob", context, request
        )
        response = HttpResponse(html, status=status)
    else:
        response = render(request, TEMPLATE, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- Live tail ----------------------------------------------------------------------------------


def tail_stream(argument: str, state: dict) -> str:
    """The rows a tail has not shown yet, newest first, inserted at the top of #tail-rows.

    `state` belongs to one websocket connection: it keeps the next offset of every partition, so
    each push carries only what arrived since the last one (at most TAIL_PUSH_MAX records).
    """
    try:
        batch = records_tail(
            topic=argument, positions=state.get("positions"), initial=TAIL_INITIAL, limit=TAIL_PUSH_MAX
        )
    except UnknownTopicOrPartition:
        if state.get("gone"):
            return ""
        state["gone"] = True
        return render_to_string(TAIL_TEMPLATE + "#gone", {"topic": argument})
    state["positions"] = batch.positions
    if not batch.records and not batch.skipped:
        return ""
    return render_to_string(
        TAIL_TEMPLATE + "#push",
        {"topic": argument, "rows": [record_view(r) for r in batch.records], "skipped": batch.skipped},
    )


fragments.KINDS["tail"].stream = tail_stream


@require_GET
@login_required
def messages_tail(request: HttpRequest, name: str) -> HttpResponse:
    try:
        topic_get(name=name)
    except UnknownTopicOrPartition:
        raise Http404(f"Topic '{name}' does not exist.") from None
    context = {
        "topic": name,
        "live_url": live(f"tail:{name}"),
        "initial": TAIL_INITIAL,
        "push_max": TAIL_PUSH_MAX,
    }
    return render(request, TAIL_TEMPLATE, context)
