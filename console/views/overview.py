"""Overview: the cluster at a glance (topics, partitions, records, rate, groups, brokers)."""

from collections import Counter

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from brokercore.cluster.read import brokers_list
from brokercore.coordinator.read import group_list
from brokercore.topics.read import cluster_totals, topic_list, topic_rates
from console.live.fragments import fragment
from console.views._common import live

TEMPLATE = "console/overview.html"


def overview_context(_argument: str = "") -> dict:
    rates = topic_rates()
    topics = topic_list()
    groups = group_list()
    states = Counter(g.state for g in groups)
    brokers = brokers_list()
    busiest = sorted(((t, rates.get(t.name)) for t in topics), key=lambda tr: -(tr[1] or 0))
    return {
        "totals": cluster_totals(),
        "rate": sum(rates.values()) if rates else None,
        "topics": busiest[:10],  # (topic, msg/s or None)
        "topic_count": len(topics),
        "groups": groups[:10],
        "group_states": sorted(states.items()),
        "group_count": len(groups),
        "brokers": brokers,
        "brokers_alive": sum(1 for b in brokers if b.alive),
    }


fragment("cluster", TEMPLATE + "#stats", page="overview")(overview_context)
fragment("cluster", TEMPLATE + "#busiest", page="overview")(overview_context)
fragment("cluster", TEMPLATE + "#groups", page="overview")(overview_context)


@require_GET
@login_required
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, {**overview_context(), "live_url": live("cluster:overview")})
