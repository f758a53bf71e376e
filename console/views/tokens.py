"""API tokens for the REST proxy: list, create (the raw token is shown once, in the response that
created it) and revoke. Everyone manages their own tokens; staff see and may revoke everyone's.

The rules (name required, at most 100 characters) live in console.api.tokens, shared with the
`tokens` command, so the form only carries them to the page.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractUser
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from console.models import ApiToken
from console.views._common import HtmxHttpRequest
from console.views.scram import scram_context

TEMPLATE = "console/tokens.html"
NAME_MAX = ApiToken._meta.get_field("name").max_length


class TokenForm(forms.Form):
    # Not required here: token_create says why an empty name is refused, in the same words as the CLI.
    name = forms.CharField(required=False, strip=True)


def _visible(user: AbstractUser) -> QuerySet[ApiToken]:
    tokens = ApiToken.objects.select_related("user")
    return tokens if user.is_staff else tokens.filter(user=user)


def tokens_page(
    request: HtmxHttpRequest, *, form: TokenForm | None = None, created: ApiToken | None = None, raw: str | None = None,
    status: int = 200, scram: dict | None = None, partial: str = "tokens",
) -> HttpResponse:
    """The page, or for htmx its `partial` section: API tokens, and the SCRAM credentials
    section (console.views.scram, whose context comes in `scram` when it has a form error)."""
    context = {
        "tokens": _visible(request.user),
        "form": form or TokenForm(),
        "created": created,
        "raw": raw,
        "name_max": NAME_MAX,
        "rest_url": request.build_absolute_uri("/rest/"),
        **(scram or scram_context(request.user)),
    }
    # htmx swaps only the section; a plain form post gets the whole page.
    template = f"{TEMPLATE}#{partial}" if request.htmx else TEMPLATE
    return render(request, template, context, status=status)


@require_GET
@login_required
def token_list(request: HtmxHttpRequest) -> HttpResponse:
    return tokens_page(request)


@require_POST
@login_required
def token_new(request: HtmxHttpRequest) -> HttpResponse:
    # Imported here, not at the top: console.apps imports every view module at start-up, and the
    # console.api package loads all REST routers, which no console page needs.
    from console.api.tokens import TokenError, token_create

    form = TokenForm(request.POST)
    form.is_valid()
    try:
        token, raw = token_create(user=request.user, name=form.cleaned_data.get("name", ""))
    except TokenError as e:
        form.add_error("name", str(e))
        # htmx leaves 4xx responses unswapped, so the form with its error comes back as a 200 there.
        return tokens_page(request, form=form, status=200 if request.htmx else 400)
    # Rendered, not redirected: the raw token exists only in this response.
    response = tokens_page(request, created=token, raw=raw, status=201)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def token_revoke_view(request: HtmxHttpRequest, token_id: int) -> HttpResponse:
    from console.api.tokens import token_revoke  # see token_new

    # Someone else's token is a 404 to a non-staff user: its existence is none of their business.
    token = get_object_or_404(_visible(request.user), pk=token_id)
    token_revoke(token=token)
    if request.htmx:
        return tokens_page(request)
    messages.success(request, f"Revoked token “{token.name}” ({token.prefix}…): requests with it now get 401.")
    return redirect("token_list")
