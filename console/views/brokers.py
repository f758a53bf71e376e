"""Brokers: the broker nodes, their liveness, and how many partition leaderships each holds."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from brokercore import selectors
from console.live.fragments import fragment
from console.views._common import live

TEMPLATE = "console/brokers.html"


@fragment("cluster", TEMPLATE + "#nodes", page="brokers")
def brokers_context(_argument: str = "") -> dict:
    return {"brokers": selectors.brokers_list(), "leaders": selectors.partition_leaders()}


@require_GET
@login_required
def broker_list(request):
    return render(request, TEMPLATE, {**brokers_context(), "live_url": live("cluster:brokers")})
