"""Brokers: the broker nodes, their liveness, and which partitions each leads."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from brokercore.cluster.read import brokers_list
from brokercore.topics.read import partition_leaders
from console.live.fragments import fragment
from console.views._common import live

TEMPLATE = "console/brokers.html"


@fragment("cluster", TEMPLATE + "#nodes", page="brokers")
def brokers_context(_argument: str = "") -> dict:
    brokers = brokers_list()
    led = sum(b.leader_count for b in brokers)
    return {
        "brokers": brokers,
        # (broker, percent of the partitions it leads)
        "broker_rows": [(b, round(100 * b.leader_count / led) if led else 0) for b in brokers],
        "brokers_alive": sum(1 for b in brokers if b.alive),
        "leaders": partition_leaders(),
        "session_timeout_s": settings.BROKER["NODE_SESSION_TIMEOUT_S"],
    }


@require_GET
@login_required
def broker_list(request: HttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, {**brokers_context(), "live_url": live("cluster:brokers")})
