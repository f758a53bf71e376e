"""The API tokens page: list, create (raw token shown once), revoke, who may see and revoke what."""

import re

import pytest

from console.api.tokens import token_create, token_user
from console.models import ApiToken

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def html_of(response) -> str:
    return response.content.decode()


def test_login_required(client):
    for response in (client.get("/tokens/"), client.post("/tokens/new/", {"name": "x"})):
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not ApiToken.objects.exists()


def test_list_shows_own_tokens_with_prefix_never_the_token(viewer_client, viewer, staff):
    mine, raw = token_create(user=viewer, name="billing-service")
    token_create(user=staff, name="staff-secret-thing")
    html = html_of(viewer_client.get("/tokens/"))
    assert "billing-service" in html and f"{mine.prefix}…" in html
    assert raw not in html
    assert "staff-secret-thing" not in html
    assert "never" in html and "active" in html
    assert "Owner" not in html


def test_nav_links_to_the_page(viewer_client):
    html = html_of(viewer_client.get("/tokens/"))
    assert '<a href="/tokens/" aria-current="page">API tokens</a>' in html


def test_staff_see_everyones_tokens_with_owner(staff_client, viewer):
    token_create(user=viewer, name="viewer-script")
    html = html_of(staff_client.get("/tokens/"))
    assert "viewer-script" in html and "Owner" in html and ">viewer<" in html


def test_create_shows_the_raw_token_once_and_it_authenticates(viewer_client, viewer):
    response = viewer_client.post("/tokens/new/", {"name": "  ci  "})
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=viewer)
    assert token.name == "ci"
    html = html_of(response)
    raw = response.context["raw"]
    assert raw.startswith(token.prefix) and f'value="{raw}"' in html
    assert "you will not see it again" in html and "data-copy" in html
    assert token_user(raw) == viewer
    # The next view of the page never has it.
    assert raw not in html_of(viewer_client.get("/tokens/"))


def test_create_with_htmx_swaps_only_the_section(viewer_client):
    response = viewer_client.post("/tokens/new/", {"name": "ci"}, **HTMX)
    html = html_of(response)
    assert response.status_code == 201
    assert html.lstrip().startswith('<section id="tokens">') and "<html" not in html
    assert re.search(r'value="kc_[^"]+"', html)


@pytest.mark.parametrize(
    "name, message",
    [("", "A token needs a name"), ("   ", "A token needs a name"), ("x" * 101, "at most 100 characters")],
)
def test_bad_name_is_a_form_error(viewer_client, name, message):
    response = viewer_client.post("/tokens/new/", {"name": name})
    assert response.status_code == 400
    html = html_of(response)
    assert message in html and 'aria-invalid="true"' in html
    # htmx swaps only 2xx answers, so there the form with its error comes back as a 200.
    response = viewer_client.post("/tokens/new/", {"name": name}, **HTMX)
    assert response.status_code == 200 and message in html_of(response)
    assert not ApiToken.objects.exists()


def test_name_of_exactly_100_characters_is_fine(viewer_client):
    assert viewer_client.post("/tokens/new/", {"name": "x" * 100}).status_code == 201


def test_revoke_own_token(viewer_client, viewer):
    token, raw = token_create(user=viewer, name="old")
    response = viewer_client.post(f"/tokens/{token.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/tokens/"
    token.refresh_from_db()
    assert not token.active and token_user(raw) is None
    html = html_of(viewer_client.get("/tokens/"))
    assert "Revoked token “old”" in html and "revoked" in html
    assert f'action="/tokens/{token.pk}/revoke/"' not in html


def test_revoke_with_htmx_returns_the_section_and_asks_first(viewer_client, viewer):
    token, _ = token_create(user=viewer, name="old")
    assert "hx-confirm=" in html_of(viewer_client.get("/tokens/"))
    response = viewer_client.post(f"/tokens/{token.pk}/revoke/", **HTMX)
    assert response.status_code == 200
    assert html_of(response).lstrip().startswith('<section id="tokens">')
    token.refresh_from_db()
    assert not token.active


def test_revoke_needs_post(viewer_client, viewer):
    token, _ = token_create(user=viewer, name="old")
    assert viewer_client.get(f"/tokens/{token.pk}/revoke/").status_code == 405
    token.refresh_from_db()
    assert token.active


def test_user_cannot_revoke_someone_elses_token(viewer_client, staff):
    token, raw = token_create(user=staff, name="staff-token")
    assert viewer_client.post(f"/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.active and token_user(raw) == staff


def test_staff_may_revoke_anyones_token(staff_client, viewer):
    token, _ = token_create(user=viewer, name="viewer-token")
    assert staff_client.post(f"/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert not token.active


def test_revoking_twice_keeps_the_first_time(viewer_client, viewer):
    token, _ = token_create(user=viewer, name="old")
    viewer_client.post(f"/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    first = token.revoked_at
    viewer_client.post(f"/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at == first


def test_revoke_needs_csrf(viewer, viewer_client):
    from django.test import Client

    token, _ = token_create(user=viewer, name="old")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(viewer)
    assert strict.post(f"/tokens/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.active
