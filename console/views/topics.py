"""Topics: the list, create, and a topic's page (live partitions, consuming groups, configs,
add partitions with a key-move preview, produce with the reason a record landed where it did),
delete and purge.

Every page works without JavaScript (forms POST and redirect with a message); with htmx the same
views answer with the named partial only. Reading needs a login, every change a staff account.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from brokercore.cluster.read import brokers_live_count
from brokercore.coordinator.read import topic_consumer_groups
from brokercore.errors import (
    BrokerError,
    InvalidConfig,
    InvalidPartitions,
    InvalidRecord,
    InvalidReplicationFactor,
    InvalidTopic,
    MessageTooLarge,
    TopicAlreadyExists,
    UnknownTopicOrPartition,
)
from brokercore.log import cleaner
from brokercore.log.append import records_append
from brokercore.log.browse import topic_partitions_add_preview
from brokercore.partitioner import to_positive
from brokercore.topics import read as topics_read
from brokercore.topics import service as topic_services
from brokercore.topics.configs import config_entries
from brokercore.topics.read import (
    TopicSummary,
    topic_describe,
    topic_names_list,
    topic_rates,
)
from brokercore.types import AppendResult, TopicInfo
from console.forms.topics import (
    PartitionsAddForm,
    ProduceForm,
    TopicConfigsForm,
    TopicCreateForm,
    TopicDeleteForm,
    broker_error_add,
)
from console.live.fragments import fragment
from console.views._common import HtmxHttpRequest, live, staff_required

TEMPLATE_LIST = "console/topics/list.html"
TEMPLATE_CREATE = "console/topics/create.html"
TEMPLATE_DETAIL = "console/topics/detail.html"
TEMPLATE_GROW = "console/topics/partitions.html"
TEMPLATE_CONFIRM = "console/topics/confirm.html"

# Which form field a refused change belongs to; anything else is shown for the whole form.
CREATE_ERROR_FIELDS = {
    InvalidTopic: "name",
    TopicAlreadyExists: "name",
    InvalidPartitions: "partitions",
    InvalidReplicationFactor: "replication_factor",
    InvalidConfig: "configs",
}
PRODUCE_ERROR_FIELDS = {MessageTooLarge: "value", InvalidRecord: "key", UnknownTopicOrPartition: "partition"}
GROW_ERROR_FIELDS = {InvalidPartitions: "count"}

PRODUCED_SESSION_KEY = "topics.produced"
PREVIEW_SAMPLE = 1000  # the recent records whose keys the add-partitions preview maps
PREVIEW_MOVES_SHOWN = 6  # rows of the from -> to table; the rest are summed

# Column key -> (heading, numeric). Numeric columns sort biggest first on the first click.
COLUMNS = {"name": ("Topic", False), "partitions": ("Partitions", True), "records": ("Records", True),
           "size": ("Size", True), "rate": ("msg/s", True)}
DEFAULT_SORT = "name"


def _redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """After a change: a normal redirect, or for htmx a full navigation so the flash message shows."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _describe_or_404(name: str) -> TopicInfo:
    try:
        return topic_describe(name=name)
    except UnknownTopicOrPartition as e:
        raise Http404(e.message) from None


def _detail_url(name: str, anchor: str = "") -> str:
    return reverse("topic_detail", args=[name]) + (f"#{anchor}" if anchor else "")


# --- The list --------------------------------------------------------------------------------


def _sort_parse(value: str) -> str:
    return value if value.lstrip("-") in COLUMNS else DEFAULT_SORT


@dataclass(frozen=True, slots=True)
class TopicRow:
    """A row of the topic list: the topic, its rate (msg/s, None before two samples) and links."""

    topic: TopicSummary
    rate: float | None
    detail_url: str
    purge_url: str
    delete_url: str


def _sort_key(column: str) -> Callable[[tuple[TopicSummary, float | None]], tuple]:
    """Sort key of (topic, rate) pairs by a COLUMNS key; a missing rate sorts below every rate."""
    if column == "name":
        return lambda tr: (tr[0].name,)
    if column == "rate":
        return lambda tr: (tr[1] if tr[1] is not None else -1, tr[0].name)
    field = {"size": "size_bytes"}.get(column, column)
    return lambda tr: (getattr(tr[0], field), tr[0].name)


LIST_LIMIT = 200  # rows on the topic list; search narrows it


def list_context(q: str = "", sort: str = DEFAULT_SORT) -> dict:
    rates = topic_rates()
    topics = [(t, rates.get(t.name)) for t in topics_read.topic_list(search=q)]
    column = sort.lstrip("-")
    topics.sort(key=_sort_key(column), reverse=sort.startswith("-"))
    columns = []
    for key, (label, numeric) in COLUMNS.items():
        direction = None if column != key else ("desc" if sort.startswith("-") else "asc")
        if direction is None:
            next_sort = f"-{key}" if numeric else key
        else:
            next_sort = key if direction == "desc" else f"-{key}"
        columns.append({"key": key, "label": label, "numeric": numeric, "direction": direction, "next": next_sort})
    total = len(topics) if not q else len(topic_names_list())
    matched = len(topics)
    # Topic names are URL-safe by Kafka's rules, so the links are built once, not per row with
    # {% url %} (which is most of the page's render time with a thousand topics).
    urls = [reverse(name, args=["__topic__"]) for name in ("topic_detail", "topic_purge", "topic_delete")]
    rows = [TopicRow(t, rate, *(u.replace("__topic__", t.name) for u in urls)) for t, rate in topics[:LIST_LIMIT]]
    return {"topics": rows, "q": q, "sort": sort, "columns": columns, "total": total, "matched": matched, "limit": LIST_LIMIT}


# Filters and sort order live in the browser, so the push only tells the page to re-fetch its
# table with them (see the #refresh partial) instead of overwriting it with the default view.
fragment("cluster", TEMPLATE_LIST + "#refresh", page="topics")(lambda _argument="": {})


@require_GET
@login_required
def topic_list(request: HtmxHttpRequest) -> HttpResponse:
    context = list_context(request.GET.get("q", "").strip(), _sort_parse(request.GET.get("sort", "")))
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, TEMPLATE_LIST + "#table", context)
    return render(request, TEMPLATE_LIST, {**context, "live_url": live("cluster:topics")})


# --- Create ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@staff_required
def topic_create(request: HtmxHttpRequest) -> HttpResponse:
    form = TopicCreateForm(request.POST or None)
    if request.method == "POST":
        valid = form.is_valid()
        data = form.cleaned_data
        # Even when the configs were refused, ask the broker about the rest (validate only), so
        # every error shows at once.
        if {"name", "partitions", "replication_factor"} <= data.keys():
            try:
                topic_services.topic_create(name=data["name"], partitions=data["partitions"],
                                            replication_factor=data["replication_factor"],
                                            configs=data.get("configs"), validate_only=not valid)
            except BrokerError as e:
                broker_error_add(form, e, CREATE_ERROR_FIELDS)
            else:
                if valid:
                    messages.success(request, f"Created topic {data['name']} with {data['partitions']} "
                                              f"partition{'s' if data['partitions'] != 1 else ''}.")
                    return _redirect(request, _detail_url(data["name"]))
    context = {"form": form, "brokers": brokers_live_count(), "config_defs": config_entries({})}
    return render(request, TEMPLATE_CREATE + "#form" if request.htmx else TEMPLATE_CREATE, context)


@require_GET
@staff_required
def topic_name_check(request: HtmxHttpRequest) -> HttpResponse:
    """As the name is typed: Kafka's verdict on it (illegal, exists, collides) or OK."""
    name = request.GET.get("name", "").strip()
    error = None
    if name:
        try:
            topic_services.topic_create(name=name, validate_only=True)
        except (InvalidTopic, TopicAlreadyExists) as e:
            error = e
        except BrokerError:
            pass  # not about the name (e.g. no broker for the default replication factor)
    return render(request, TEMPLATE_CREATE + "#name_check", {"checked_name": name, "name_error": error})


# --- A topic's page --------------------------------------------------------------------------


def partitions_context(name: str, info: TopicInfo | None = None) -> dict:
    if info is None:
        try:
            info = topic_describe(name=name)
        except UnknownTopicOrPartition:
            return {"name": name, "deleted": True}
    most = max((p.records for p in info.partitions), default=0)
    total = info.records  # a sum over the partitions: once, not once a row
    rows = [{"p": p, "width": round(100 * p.records / most) if most else 0,
             "percent": round(100 * p.records / total) if total else 0} for p in info.partitions]
    return {"name": name, "info": info, "partition_rows": rows, "rate": topic_rates(topic=name).get(name)}


def groups_context(name: str) -> dict | None:
    try:
        return {"name": name, "groups": topic_consumer_groups(name=name)}
    except UnknownTopicOrPartition:
        return None


fragment("topic", TEMPLATE_DETAIL + "#partitions")(partitions_context)
fragment("topic", TEMPLATE_DETAIL + "#groups")(groups_context)


def _configs_context(info: TopicInfo, form: TopicConfigsForm | None, saved: str = "") -> dict:
    # Each row: brokercore's config entry (value, source, Kafka's default) and its form field.
    rows = [(e, form[e.name] if form is not None else None) for e in config_entries(info.overrides)]
    stored = [(e, f) for e, f in rows if not e.applied]
    # Open the stored-only table when something in it is set or refused, so nothing is hidden.
    stored_open = any(e.name in info.overrides or (f is not None and f.errors) for e, f in stored)
    return {"name": info.name, "config_rows": rows, "configs_form": form, "configs_saved": saved,
            "configs_stored_count": len(stored), "configs_stored_open": stored_open}


def _configs_form(info: TopicInfo, data: QueryDict | None = None) -> TopicConfigsForm:
    return TopicConfigsForm(data, overrides=info.overrides, defaults=config_entries({}))


def _grow_form(info: TopicInfo, data: QueryDict | None = None) -> PartitionsAddForm:
    return PartitionsAddForm(data, initial={"count": len(info.partitions) + 1})


def _detail_render(
    request: HtmxHttpRequest, info: TopicInfo, *, produce_form: ProduceForm | None = None,
    configs_form: TopicConfigsForm | None = None, produce_result: dict | None = None,
) -> HttpResponse:
    """The whole page; a POST without htmx that failed passes its bound form to show the errors."""
    staff = request.user.is_staff
    context = {
        **partitions_context(info.name, info),
        **(groups_context(info.name) or {}),
        **_configs_context(info, (configs_form or _configs_form(info)) if staff else None),
        "live_url": live(f"topic:{info.name}"),
    }
    if staff:
        context.update({
            "produce_form": produce_form or ProduceForm(partitions=len(info.partitions)),
            "produce_result": produce_result,
            "grow_form": _grow_form(info),
        })
    return render(request, TEMPLATE_DETAIL, context)


@require_GET
@login_required
def topic_detail(request: HtmxHttpRequest, name: str) -> HttpResponse:
    info = _describe_or_404(name)
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, TEMPLATE_DETAIL + "#partitions", partitions_context(name, info))
    return _detail_render(request, info, produce_result=request.session.pop(PRODUCED_SESSION_KEY, None))


@require_POST
@staff_required
def topic_configs(request: HtmxHttpRequest, name: str) -> HttpResponse:
    info = _describe_or_404(name)
    form = _configs_form(info, request.POST)
    saved = ""
    if form.is_valid():
        try:
            if form.changed:
                topic_services.topic_configs_alter(name=name, set_configs=form.set_configs,
                                                   delete_configs=form.delete_configs)
        except BrokerError as e:
            broker_error_add(form, e, {})
        else:
            saved = _configs_summary(form)
            if not request.htmx:
                messages.success(request, saved)
                return redirect(_detail_url(name, "topic-configs"))
            info = _describe_or_404(name)
            form = _configs_form(info)
    if request.htmx:
        return render(request, TEMPLATE_DETAIL + "#configs", {**_configs_context(info, form, saved)})
    return _detail_render(request, info, configs_form=form)


def _configs_summary(form: TopicConfigsForm) -> str:
    if not form.changed:
        return "No config changed."
    parts = [f"set {k}={v}" for k, v in form.set_configs.items()]
    parts += [f"{k} back to its default" for k in form.delete_configs]
    return "Configs saved: " + "; ".join(parts) + "."


def _produce_result(appended: AppendResult, key: bytes | None, partitions: int) -> dict:
    """What the result panel explains; plain values, so it can wait in the session (no-JS flow)."""
    result = {"partition": appended.partition, "offset": appended.offset, "reason": appended.reason,
              "partitions": partitions, "key": None if key is None else key.decode("utf-8", "replace")}
    if appended.key_hash is not None:
        result.update(murmur2=appended.key_hash, positive=to_positive(appended.key_hash))
    return result


@require_POST
@staff_required
def topic_produce(request: HtmxHttpRequest, name: str) -> HttpResponse:
    info = _describe_or_404(name)
    count = len(info.partitions)
    form = ProduceForm(request.POST, partitions=count)
    result = None
    if form.is_valid():
        try:
            [appended] = records_append(
                topic=name, records=[form.record], partition=form.cleaned_data["partition"]
            )
        except BrokerError as e:
            broker_error_add(form, e, PRODUCE_ERROR_FIELDS)
        else:
            result = _produce_result(appended, form.record.key, count)
            if not request.htmx:
                request.session[PRODUCED_SESSION_KEY] = result
                messages.success(request, f"Produced to partition {appended.partition} at offset {appended.offset}.")
                return redirect(_detail_url(name, "topic-produce"))
    if request.htmx:
        return render(request, TEMPLATE_DETAIL + "#produce",
                      {"name": name, "produce_form": form, "produce_result": result})
    return _detail_render(request, info, produce_form=form)


# --- Add partitions --------------------------------------------------------------------------


def _preview(name: str, form: PartitionsAddForm) -> dict | None:
    """The key-move preview for a valid count; a count the broker refuses becomes a field error."""
    if not form.is_valid():
        return None
    count = form.cleaned_data["count"]
    try:
        topic_services.topic_partitions_add(name=name, count=count, validate_only=True)
    except BrokerError as e:
        broker_error_add(form, e, GROW_ERROR_FIELDS)
        return None
    p = topic_partitions_add_preview(name=name, count=count, sample=PREVIEW_SAMPLE)
    return {
        "current": p.current, "count": p.count, "keys": p.keys, "moved": p.moved, "moves": p.moves,
        "percent": round(100 * p.moved / p.keys) if p.keys else 0,
        "stay": p.keys - p.moved,
        "to_new": sum(n for _, b, n in p.moves if b >= p.current),
        "between": sum(n for _, b, n in p.moves if b < p.current),
        "shown_moves": p.moves[:PREVIEW_MOVES_SHOWN],
        "more_moves": len(p.moves[PREVIEW_MOVES_SHOWN:]),
        "more_keys": sum(n for _, _, n in p.moves[PREVIEW_MOVES_SHOWN:]),
        "examples": [(k.decode("utf-8", "replace"), a, b) for k, a, b in p.examples],
        "sample": PREVIEW_SAMPLE,
    }


def _grow_context(info: TopicInfo, form: PartitionsAddForm, preview: dict | None = None) -> dict:
    return {"name": info.name, "info": info, "grow_form": form, "preview": preview,
            "preview_sample": PREVIEW_SAMPLE}


@require_http_methods(["GET", "POST"])
@staff_required
def topic_partitions_add(request: HtmxHttpRequest, name: str) -> HttpResponse:
    info = _describe_or_404(name)
    form = _grow_form(info, request.POST or None)
    if request.method == "POST" and "preview" in request.POST:
        # The no-JavaScript Preview button: show what would move, add nothing.
        return render(request, TEMPLATE_GROW, _grow_context(info, form, _preview(name, form)))
    if request.method == "POST" and form.is_valid():
        count = form.cleaned_data["count"]
        try:
            topic_services.topic_partitions_add(name=name, count=count)
        except BrokerError as e:
            broker_error_add(form, e, GROW_ERROR_FIELDS)
        else:
            messages.success(request, f"{name} now has {count} partitions (it had {len(info.partitions)}). "
                                      "Records already written stay where they are; new records of a "
                                      "moved key go to its new partition.")
            return _redirect(request, _detail_url(name))
    if request.htmx:
        return render(request, TEMPLATE_DETAIL + "#grow", _grow_context(info, form))
    return render(request, TEMPLATE_GROW, _grow_context(info, form))


@require_GET
@staff_required
def topic_partitions_preview(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """How many of the topic's recent keys would move for ?count=N (htmx: the preview only)."""
    info = _describe_or_404(name)
    form = _grow_form(info, request.GET)
    preview = _preview(name, form)
    context = _grow_context(info, form, preview)
    if request.htmx:
        return render(request, TEMPLATE_DETAIL + "#grow_preview", context)
    return render(request, TEMPLATE_GROW, context)


# --- Delete and purge ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@staff_required
def topic_delete(request: HtmxHttpRequest, name: str) -> HttpResponse:
    info = _describe_or_404(name)
    form = TopicDeleteForm(request.POST or None, topic=name)
    if request.method == "POST" and form.is_valid():
        try:
            topic_services.topic_delete(name=name)
        except BrokerError as e:
            broker_error_add(form, e, {})
        else:
            messages.success(request, f"Deleted topic {name} and its {info.records} records.")
            return _redirect(request, reverse("topic_list"))
    context = {"name": name, "info": info, "action": "delete", "form": form}
    return render(request, TEMPLATE_CONFIRM + "#form" if request.htmx else TEMPLATE_CONFIRM, context)


@require_http_methods(["GET", "POST"])
@staff_required
def topic_purge(request: HtmxHttpRequest, name: str) -> HttpResponse:
    info = _describe_or_404(name)
    if request.method == "POST":
        try:
            cleaner.topic_purge(topic=name)
        except UnknownTopicOrPartition as e:
            raise Http404(e.message) from None
        messages.success(request, f"Purged {info.records} records from {name}; its partitions and configs stay.")
        return _redirect(request, _detail_url(name))
    return render(request, TEMPLATE_CONFIRM, {"name": name, "info": info, "action": "purge"})
