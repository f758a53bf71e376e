"""The lab: live rebalancing demos with virtual consumers and a producer (console/lab/runner.py).

Anyone logged in may watch a lab; starting, changing and stopping one needs staff. Action views
answer a plain form POST with a redirect, and an htmx POST with the controls and the lab's live
sections as out-of-band swaps (the group sections follow through the group's websocket pushes).
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from brokercore import clock
from brokercore.coordinator.assignors import ASSIGNOR_NAMES
from brokercore.coordinator.read import group_describe, group_members_seen, rebalance_history
from brokercore.errors import BrokerError, UnknownTopicOrPartition
from brokercore.log.read import partition_offsets_list
from console.lab import runner
from console.lab.presets import PRESETS
from console.lab.runner import Lab, LabError
from console.live.fragments import fragment
from console.presenters.groups import countdown, members_named
from console.views._common import HtmxHttpRequest, live, staff_required
from console.views.groups import group_context

INDEX_TEMPLATE = "console/lab/index.html"
TEMPLATE = "console/lab/detail.html"
ASSIGNOR_CHOICES = [(a, a) for a in ASSIGNOR_NAMES]


class LabForm(forms.Form):
    topic = forms.CharField(required=False, max_length=249, help_text="Blank: a new topic lab<n>-orders. An existing topic is used as it is.")
    partitions = forms.IntegerField(min_value=1, max_value=runner.MAX_PARTITIONS, initial=3, help_text="For a new topic.")
    group = forms.CharField(required=False, max_length=255, help_text="Blank: a new group lab<n>-app.")
    assignor = forms.ChoiceField(choices=ASSIGNOR_CHOICES, initial="range")
    consumers = forms.IntegerField(min_value=0, max_value=runner.MAX_CONSUMERS, initial=2)
    consumer_rate = forms.IntegerField(min_value=1, max_value=runner.MAX_CONSUMER_RATE, initial=20, label="Each consumer processes (records/s)")
    producer_rate = forms.IntegerField(min_value=0, max_value=runner.MAX_PRODUCER_RATE, initial=10, label="Producer (records/s, 0 = off)")
    keys = forms.IntegerField(min_value=1, max_value=runner.MAX_KEYS, initial=12, label="Over how many keys")


class ConsumerForm(forms.Form):
    rate = forms.IntegerField(min_value=1, max_value=runner.MAX_CONSUMER_RATE, initial=20, label="Processes (records/s)")


class ProducerForm(forms.Form):
    rate = forms.IntegerField(min_value=1, max_value=runner.MAX_PRODUCER_RATE, initial=10, label="Records/s")
    keys = forms.IntegerField(min_value=1, max_value=runner.MAX_KEYS, initial=12, label="Keys")


class PartitionsForm(forms.Form):
    add = forms.IntegerField(min_value=1, max_value=runner.MAX_PARTITIONS, initial=1, label="Add")


class AssignorForm(forms.Form):
    group = forms.CharField(max_length=255)
    assignor = forms.ChoiceField(choices=ASSIGNOR_CHOICES)


def _message(e: Exception) -> str:
    return f"{e} ({e.name})" if isinstance(e, BrokerError) else str(e)


def _lab_or_404(lab_id: int) -> Lab:
    lab = runner.lab_get(lab_id)
    if lab is None:
        raise Http404(f"Lab {lab_id} is not running in this server process (labs live in the process that started them).")
    return lab


# --- What the lab page shows ------------------------------------------------------------------------


def _consumer_rows(lab: Lab) -> list[dict]:
    consumers = lab.consumers_snapshot()
    now_ms = clock.now_ms()
    rows = []
    for g in lab.groups:
        mine = [c for c in consumers if c.group is g]
        names = members_named([*group_members_seen(group_id=g.group_id), *(c.member_id for c in mine if c.member_id)])
        deadlines = {}
        if any(c.status == "crashed" for c in mine):
            try:
                info = group_describe(group_id=g.group_id)
            except BrokerError:
                info = None
            if info is not None:
                deadlines = {m.member_id: m.session_deadline_ms for m in info.members}
        for c in mine:
            who = names.get(c.member_id) if c.member_id else None
            deadline = deadlines.get(c.member_id) if c.status == "crashed" else None
            rows.append(
                {
                    "c": c,
                    "group": g,
                    "colour": who.colour if who else "",
                    "deadline_ms": deadline,
                    "deadline_left": countdown(deadline, now_ms),
                    "actions": c.status == "running" and lab.running,
                }
            )
    return rows


def _extras(lab: Lab) -> dict:
    panel = lab.preset.panel if lab.preset else ""
    if panel == "keys":
        try:
            now = len(partition_offsets_list(topic=lab.topic))
        except UnknownTopicOrPartition:
            now = lab.partitions
        keys = lab.key_moves(now)
        return {"panel": "keys", "keys": keys, "moved": sum(1 for k in keys if k["moved"]), "before": lab.initial_partitions, "now": now}
    if panel == "compare":
        sides = []
        for g in lab.groups:
            events = rebalance_history(group_id=g.group_id, limit=12)
            total = max([len({tuple(tp) for tps in e.assignment_after.values() for tp in tps}) for e in events] + [1])
            rows = [
                {
                    "generation": e.generation,
                    "paused": e.paused,
                    "moved": len(e.moved),
                    "pct": round(100 * e.paused / total) if total else 0,
                    "step": "revoke" if e.revoked else "",
                }
                for e in events
                if e.generation > 1 or e.paused
            ][:8]
            sides.append({"group": g, "rows": rows, "paused": sum(e.paused for e in events), "rebalances": len(events), "total": total})
        return {"panel": "compare", "sides": sides}
    return {"panel": ""}


def lab_live(lab: Lab | None, lab_id: int | str) -> dict:
    if lab is None:
        return {"lab": None, "lab_id": lab_id}
    lab.seen()
    producer = lab.producer if lab.producer is not None and lab.producer.running else None
    return {
        "lab": lab,
        "lab_id": lab.id,
        "rows": _consumer_rows(lab),
        "live_count": len(lab.live_consumers()),
        "producer": producer,
        "extras": _extras(lab),
        "log": [(_when(ms), text) for ms, text in list(lab.log)[:12]],
        "started": _when(lab.started_ms),
        "limits": _limits(),
    }


@fragment("lab", TEMPLATE + "#live")
def lab_live_context(argument: str) -> dict:
    lab = runner.lab_get(int(argument)) if argument.isdigit() else None
    return lab_live(lab, argument)


def _when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _limits() -> dict:
    return {
        "labs": runner.MAX_LABS,
        "consumers": runner.MAX_CONSUMERS,
        "producer_rate": runner.MAX_PRODUCER_RATE,
        "idle_min": runner.IDLE_STOP_S // 60,
        "lifetime_min": runner.MAX_LIFETIME_S // 60,
        "session_s": runner.SESSION_TIMEOUT_MS // 1000,
        "retention_min": runner.LAB_TOPIC_CONFIGS["retention.ms"] // 60000,
        "retention_mb": runner.LAB_TOPIC_CONFIGS["retention.bytes"] // (1 << 20),
    }


def _controls(lab: Lab, bound: dict | None = None, error: str | None = None) -> dict:
    bound = bound or {}
    producer = lab.producer if lab.producer is not None and lab.producer.running else None
    return {
        "error": error,
        "consumer_form": bound.get("consumer") or ConsumerForm(initial={"rate": lab.preset.consumer_rate if lab.preset else 20}),
        "producer_form": bound.get("producer")
        or ProducerForm(initial={"rate": producer.rate if producer else 10, "keys": lab.keys}),
        "partitions_form": bound.get("partitions") or PartitionsForm(),
        "assignors": ASSIGNOR_NAMES,
    }


def _page_context(lab: Lab, controls: dict) -> dict:
    group_contexts = [gc for gc in (group_context(g.group_id) for g in lab.groups) if gc is not None]
    subscriptions = [f"lab:{lab.id}", *(f"group:{gc['g'].group_id}" for gc in group_contexts)]
    return {
        **lab_live(lab, lab.id),
        **controls,
        "group_contexts": group_contexts,
        "preset": lab.preset,
        "live_url": live(*subscriptions),
    }


# --- Pages ----------------------------------------------------------------------------------------


@require_GET
@login_required
def lab(request: HttpRequest) -> HttpResponse:
    return render(request, INDEX_TEMPLATE, {"presets": list(PRESETS.values()), "labs": runner.labs_list(), "form": LabForm(), "limits": _limits()})


@require_POST
@staff_required
def lab_create(request: HtmxHttpRequest) -> HttpResponse:
    form = LabForm(request.POST)
    if form.is_valid():
        try:
            started = runner.lab_start(**form.cleaned_data)
        except (LabError, BrokerError) as e:
            form.add_error(None, _message(e))
        else:
            return redirect("lab_detail", lab_id=started.id)
    context = {"presets": list(PRESETS.values()), "labs": runner.labs_list(), "form": form, "limits": _limits()}
    return render(request, INDEX_TEMPLATE, context, status=400)


@require_POST
@staff_required
def lab_preset(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    preset = PRESETS.get(slug)
    if preset is None:
        raise Http404(f"No preset '{slug}'.")
    try:
        started = runner.lab_start(preset=preset)
    except (LabError, BrokerError) as e:
        messages.error(request, _message(e))
        return redirect("lab")
    return redirect("lab_detail", lab_id=started.id)


@require_GET
@login_required
def lab_detail(request: HtmxHttpRequest, lab_id: int) -> HttpResponse:
    lab_ = _lab_or_404(lab_id)
    if request.htmx:
        return render(request, TEMPLATE + "#live", lab_live(lab_, lab_id))
    return render(request, TEMPLATE, _page_context(lab_, _controls(lab_)))


def _after_action(
    request: HtmxHttpRequest, lab_: Lab, *, bound: dict | None = None, error: str | None = None, status: int = 400
) -> HttpResponse:
    """Redirect a plain POST back to the lab; answer htmx with the controls and live sections."""
    if error is None and not request.htmx:
        return redirect("lab_detail", lab_id=lab_.id)
    controls = _controls(lab_, bound if error else None, error)
    if request.htmx:
        # 200 even for refused input: htmx swaps only 2xx answers, and the controls show the error.
        return render(request, TEMPLATE + "#action", {**lab_live(lab_, lab_.id), **controls, "oob": True})
    return render(request, TEMPLATE, _page_context(lab_, controls), status=status)


def _run(request: HtmxHttpRequest, lab_: Lab, action: Callable[[], object], *, bound: dict | None = None) -> HttpResponse:
    try:
        action()
    except (LabError, BrokerError) as e:
        return _after_action(request, lab_, bound=bound, error=_message(e))
    return _after_action(request, lab_)


def _invalid(form: forms.Form) -> str:
    return "; ".join(f"{form.fields[f].label or f}: {' '.join(errors)}" if f != "__all__" else " ".join(errors) for f, errors in form.errors.items())


def _form_action(
    request: HtmxHttpRequest,
    lab_id: int,
    form_class: type[forms.Form],
    action: Callable[[Lab, dict[str, Any]], object],
    *,
    bound_as: str | None = None,
) -> HttpResponse:
    """A lab action taking a form: refused input shows the form's errors (and, with `bound_as`, the
    form as typed), valid input runs `action(lab, cleaned_data)`."""
    lab_ = _lab_or_404(lab_id)
    form = form_class(request.POST)
    bound = {bound_as: form} if bound_as else None
    if not form.is_valid():
        return _after_action(request, lab_, bound=bound, error=_invalid(form))
    return _run(request, lab_, lambda: action(lab_, form.cleaned_data), bound=bound)


@require_POST
@staff_required
def lab_consumer_add(request: HtmxHttpRequest, lab_id: int) -> HttpResponse:
    group_id = request.POST.get("group") or None
    return _form_action(request, lab_id, ConsumerForm, lambda lab_, d: lab_.consumer_add(rate=d["rate"], group_id=group_id), bound_as="consumer")


@require_POST
@staff_required
def lab_consumer_stop(request: HtmxHttpRequest, lab_id: int, name: str) -> HttpResponse:
    lab_ = _lab_or_404(lab_id)
    return _run(request, lab_, lambda: lab_.consumer_stop(name))


@require_POST
@staff_required
def lab_consumer_crash(request: HtmxHttpRequest, lab_id: int, name: str) -> HttpResponse:
    lab_ = _lab_or_404(lab_id)
    return _run(request, lab_, lambda: lab_.consumer_crash(name))


@require_POST
@staff_required
def lab_partitions_add(request: HtmxHttpRequest, lab_id: int) -> HttpResponse:
    return _form_action(request, lab_id, PartitionsForm, lambda lab_, d: lab_.partitions_add(d["add"]), bound_as="partitions")


@require_POST
@staff_required
def lab_producer_start(request: HtmxHttpRequest, lab_id: int) -> HttpResponse:
    return _form_action(request, lab_id, ProducerForm, lambda lab_, d: lab_.producer_start(**d), bound_as="producer")


@require_POST
@staff_required
def lab_producer_stop(request: HtmxHttpRequest, lab_id: int) -> HttpResponse:
    lab_ = _lab_or_404(lab_id)
    return _run(request, lab_, lab_.producer_stop)


@require_POST
@staff_required
def lab_assignor_set(request: HtmxHttpRequest, lab_id: int) -> HttpResponse:
    return _form_action(request, lab_id, AssignorForm, lambda lab_, d: lab_.assignor_set(group_id=d["group"], assignor=d["assignor"]))


@require_POST
@staff_required
def lab_stop(request: HtmxHttpRequest, lab_id: int) -> HttpResponse:
    lab_ = _lab_or_404(lab_id)
    delete = request.POST.get("delete") == "1"
    lab_.stop(reason=f"stopped by {request.user.get_username()}", delete=delete)
    messages.success(request, f"Lab {lab_.id} stopped" + (": the groups and topic it created are deleted." if delete else "."))
    return redirect("lab_detail", lab_id=lab_.id)
