"""SCRAM credentials for Kafka clients (SASL/SCRAM-SHA-256/512), on the API tokens page: a user
sets or removes their own from a password (salted server-side, never kept); staff may do it for
any user and see everyone's. Kafka's rules (mechanisms, iterations, no such user) live in
brokercore.security.credentials, shared with `manage.py scram` and AlterUserScramCredentials.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractUser
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from brokercore.errors import BrokerError
from brokercore.security.credentials import (
    UserResult,
    scram_credential_delete,
    scram_credential_set,
    scram_credentials_describe,
)
from brokercore.security.scram import DEFAULT_ITERATIONS, MAX_ITERATIONS, MECHANISMS, SCRAM_SHA_256
from console.views._common import HtmxHttpRequest

MECHANISM_CHOICES = [(name, name) for name in MECHANISMS]


class ScramForm(forms.Form):
    # The username is read only from staff (others always set their own); the rules on iterations
    # and passwords are brokercore's, so the form does not repeat them.
    username = forms.CharField(required=False, strip=True)
    mechanism = forms.ChoiceField(choices=MECHANISM_CHOICES, initial=SCRAM_SHA_256.name)
    password = forms.CharField(required=False, strip=False, widget=forms.PasswordInput)
    iterations = forms.IntegerField(required=False, initial=DEFAULT_ITERATIONS)


def _target(request: HtmxHttpRequest, username: str) -> str:
    """Whose credential a request changes: staff name anyone (default themselves), others themselves."""
    user: AbstractUser = request.user
    return (username or user.get_username()) if user.is_staff else user.get_username()


def scram_context(user: AbstractUser, form: ScramForm | None = None, error: str | None = None) -> dict:
    """What the page's SCRAM section shows: the user's credentials (everyone's, for staff)."""
    results: list[UserResult] = scram_credentials_describe(None)
    if not user.is_staff:
        results = [r for r in results if r.user == user.get_username()]
    return {
        "scram_credentials": [(r.user, c) for r in results for c in r.credentials],
        "scram_form": form or ScramForm(initial={"username": user.get_username()}),
        "scram_iterations": (SCRAM_SHA_256.min_iterations, MAX_ITERATIONS),
        "scram_error": error,
    }


def _answer(request: HtmxHttpRequest, *, form: ScramForm | None = None, error: str | None = None) -> HttpResponse:
    """The page again with the section's form error; htmx gets the section alone, and as a 200,
    since htmx leaves 4xx responses unswapped."""
    from console.views.tokens import tokens_page  # the page this section lives on

    status = 200 if request.htmx or not (form and form.errors or error) else 400
    return tokens_page(request, scram=scram_context(request.user, form, error), status=status, partial="scram")


@require_POST
@login_required
def scram_set(request: HtmxHttpRequest) -> HttpResponse:
    form = ScramForm(request.POST)
    if not form.is_valid():
        return _answer(request, form=form)
    data = form.cleaned_data
    username = _target(request, data["username"])
    try:
        info = scram_credential_set(username=username, mechanism=data["mechanism"], password=data["password"],
                                    iterations=data["iterations"] or DEFAULT_ITERATIONS)
    except BrokerError as e:
        form.add_error(None, e.message)
        return _answer(request, form=form)
    if request.htmx:
        return _answer(request)
    messages.success(request, f"Set the {info.mechanism.name} credential of {username}: Kafka clients log in with "
                              f"sasl.mechanism={info.mechanism.name} and this password.")
    return redirect("token_list")


@require_POST
@login_required
def scram_delete(request: HtmxHttpRequest) -> HttpResponse:
    username = _target(request, request.POST.get("username", ""))
    mechanism = request.POST.get("mechanism", "")
    try:
        scram_credential_delete(username=username, mechanism=mechanism)
    except BrokerError as e:
        return _answer(request, error=e.message)
    if request.htmx:
        return _answer(request)
    messages.success(request, f"Removed the {mechanism} credential of {username}: its Kafka connections close "
                              f"within seconds.")
    return redirect("token_list")
