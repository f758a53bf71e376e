"""Consumer groups: the list, and a group's page (assignment grid, lag, lag over time, rebalance
timeline), resetting offsets with a dry-run preview, and deleting an Empty group.

The group's live sections are one partial bundle (`_group.html#live`) pushed on every event of
the group's channel; the lab page includes the same partials, so both stay in step. The display
building (grid, timeline, chart) is in console.presenters.groups; Kafka's rules stay in brokercore.
"""

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from brokercore import clock
from brokercore.coordinator import read as groups_read
from brokercore.coordinator.lag import lag_history
from brokercore.coordinator.offsets import RESET_SPECS, offsets_reset
from brokercore.coordinator.read import (
    GroupView,
    group_describe,
    group_members_seen,
    group_partitions_subscribed,
    rebalance_history,
)
from brokercore.coordinator.sweep import group_delete as group_delete_service
from brokercore.errors import BrokerError, GroupIdNotFound
from brokercore.topics.read import topic_names_list
from console.live.fragments import fragment
from console.presenters.groups import (
    REBALANCING,
    countdown,
    dom_id,
    grid_build,
    lag_chart,
    members_named,
    relabel,
    timeline_build,
)
from console.views._common import HtmxHttpRequest, live, staff_required

LIST_TEMPLATE = "console/groups/list.html"
DETAIL_TEMPLATE = "console/groups/detail.html"
SHARED = "console/groups/_group.html"
RESET_TEMPLATE = "console/groups/reset_offsets.html"
DELETE_TEMPLATE = "console/groups/delete.html"

TIMELINE_LENGTH = 30


# --- The group's live bundle ----------------------------------------------------------------------


def group_context(group_id: str, *, history: int = TIMELINE_LENGTH) -> dict | None:
    """Everything the group's live partials show; None once the group is gone."""
    try:
        info = group_describe(group_id=group_id)
    except GroupIdNotFound:
        return None
    now_ms = clock.now_ms()
    names = members_named([*group_members_seen(group_id=group_id), *(m.member_id for m in info.members)])
    grid = grid_build(info, group_partitions_subscribed(group_id=group_id), names, now_ms)
    # One event more than shown: the oldest shown is classified against the one before it (a
    # cooperative step 2 is only known as such from the revoke before it).
    events = rebalance_history(group_id=group_id, limit=history + 1)
    waiting = [names[m.member_id] for m in info.members if m.awaiting_join]
    return {
        "g": info,
        "dom": dom_id(group_id),
        "names": names,
        "leader": names.get(info.leader),
        "grid": grid,
        "rebalancing": info.state in REBALANCING,
        "reasons": [relabel(r, names) for r in info.rebalance_reasons],
        "waiting": waiting,
        "timeline": timeline_build(events, names, grid["single_topic"])[:history],
        "chart": lag_chart(lag_history(group_id=group_id), now_ms, info.total_lag if info.partitions else None, events[:history]),
        "has_lag": any(p.lag is not None for p in info.partitions),
        "members": [
            (names[m.member_id], m, m.session_deadline_ms, countdown(m.session_deadline_ms, now_ms))
            for m in info.members
        ],
        "deadline_left": countdown(info.rebalance_deadline_ms, now_ms),
        "now_ms": now_ms,
    }


@fragment("group", SHARED + "#live")
def group_live_context(group_id: str) -> dict | None:
    """The shared partials read everything from `gc`, so one page can show several groups."""
    gc = group_context(group_id)
    return None if gc is None else {"gc": gc}


def _group_or_404(group_id: str) -> dict:
    context = group_live_context(group_id)
    if context is None:
        raise Http404(f"Group '{group_id}' does not exist.")
    return context


def _described_or_404(group_id: str) -> GroupView:
    try:
        return group_describe(group_id=group_id)
    except GroupIdNotFound:
        raise Http404(f"Group '{group_id}' does not exist.") from None


# --- Pages ----------------------------------------------------------------------------------------


@fragment("cluster", LIST_TEMPLATE + "#table", page="groups")
def group_list_context(_argument: str = "") -> dict:
    return {"groups": groups_read.group_list()}


@require_GET
@login_required
def group_list(request: HtmxHttpRequest) -> HttpResponse:
    template = LIST_TEMPLATE + "#table" if request.htmx else LIST_TEMPLATE
    return render(request, template, {**group_list_context(), "live_url": live("cluster:groups")})


@require_GET
@login_required
def group_detail(request: HtmxHttpRequest, group_id: str) -> HttpResponse:
    context = _group_or_404(group_id)
    if request.htmx:
        return render(request, SHARED + "#live", context)
    return render(request, DETAIL_TEMPLATE, {**context, "live_url": live(f"group:{group_id}")})


class ResetOffsetsForm(forms.Form):
    """kafka-consumer-groups --reset-offsets, as a form. Times are in the server's time zone."""

    TO_CHOICES = [
        ("earliest", "Earliest: the log start offset"),
        ("latest", "Latest: the end of the log (skip everything)"),
        ("datetime", "A date and time: the first record at or after it"),
        ("offset", "An offset (clamped to the log)"),
        ("shift-by", "Shift by N from the committed offset (negative re-reads)"),
    ]
    topic = forms.ChoiceField()
    partitions = forms.CharField(required=False, help_text="Comma-separated, e.g. 0,2. Blank: every partition.")
    to = forms.ChoiceField(choices=TO_CHOICES, initial="earliest", widget=forms.RadioSelect)
    value = forms.IntegerField(required=False, label="Offset or shift")
    when = forms.DateTimeField(
        required=False, label="Date and time", widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"})
    )

    def __init__(self, *args: Any, topics: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["topic"].choices = [(t, t) for t in topics]
        assert set(RESET_SPECS) == {c for c, _ in self.TO_CHOICES}

    def clean_partitions(self) -> list[int] | None:
        text = self.cleaned_data["partitions"].strip()
        if not text:
            return None
        try:
            return sorted({int(p) for p in text.replace(" ", "").split(",") if p})
        except ValueError:
            raise forms.ValidationError("Partitions are numbers separated by commas, e.g. 0,2.") from None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        to = data.get("to")
        if to in ("offset", "shift-by") and data.get("value") is None:
            self.add_error("value", "Give the offset (or the shift) as a whole number.")
        if to == "datetime" and data.get("when") is None:
            self.add_error("when", "Pick the date and time to reset to.")
        return data

    def reset_arguments(self) -> dict:
        d = self.cleaned_data
        value = d.get("value")
        if d["to"] == "datetime":
            value = int(d["when"].timestamp() * 1000)
        elif d["to"] not in ("offset", "shift-by"):
            value = None
        return {"topic": d["topic"], "to": d["to"], "value": value, "partitions": d["partitions"]}


@require_http_methods(["GET", "POST"])
@staff_required
def group_reset_offsets(request: HtmxHttpRequest, group_id: str) -> HttpResponse:
    """GET: the form, and with its fields a dry-run preview. POST: execute the same reset."""
    info = _described_or_404(group_id)
    group_topics = sorted({t for t, _ in group_partitions_subscribed(group_id=group_id)})
    topics = group_topics + [t for t in topic_names_list() if t not in group_topics]
    data = request.POST if request.method == "POST" else (request.GET if "to" in request.GET else None)
    form = ResetOffsetsForm(data, topics=topics, initial={"topic": group_topics[0] if group_topics else None})
    plan, status = None, 200
    if data is not None:
        if form.is_valid():
            execute = request.method == "POST"
            try:
                plan = offsets_reset(group_id=group_id, dry_run=not execute, **form.reset_arguments())
            except BrokerError as e:
                form.add_error(None, f"{e} ({e.name})")
            else:
                if execute:
                    messages.success(request, f"Reset {len(plan)} committed offset{'s' if len(plan) != 1 else ''} of {form.cleaned_data['topic']}.")
                    return redirect("group_detail", group_id=group_id)
        if form.errors:
            status = 400 if request.method == "POST" else 200
    context = {
        "g": info,
        "form": form,
        "plan": [{"r": r, "delta": None if r.current is None else r.new - r.current} for r in (plan or [])],
        "previewed": plan is not None,
        "time_zone": settings.TIME_ZONE,
    }
    template = RESET_TEMPLATE + "#body" if request.htmx and request.method == "GET" else RESET_TEMPLATE
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@staff_required
def group_delete(request: HtmxHttpRequest, group_id: str) -> HttpResponse:
    """GET: ask for confirmation. POST: delete the group (Kafka allows it only while Empty)."""
    info = _described_or_404(group_id)
    error = None
    if request.method == "POST":
        try:
            group_delete_service(group_id=group_id)
        except BrokerError as e:
            error = f"{e} ({e.name})"
        else:
            messages.success(request, f"Deleted consumer group {group_id}, its committed offsets and its history.")
            return redirect("group_list")
    return render(request, DELETE_TEMPLATE, {"g": info, "error": error}, status=400 if error else 200)
