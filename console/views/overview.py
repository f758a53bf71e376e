from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from brokercore import selectors


@require_GET
@login_required
def overview(request):
    return render(
        request,
        "overview.html",
        {"totals": selectors.cluster_totals(), "topics": selectors.topic_list(search=request.GET.get("q", ""))},
    )
