"""The console's own 404, 403 and 500 pages (DEBUG off, as in tests and production)."""

import pytest
from django.urls import path

from brokercore.topics.service import topic_create


def _boom(request):
    raise RuntimeError("something inside broke")


urlpatterns = [path("boom/", _boom)]
handler500 = "console.unavailable.server_error"  # the project's, as console/urls.py sets it


@pytest.mark.django_db
def test_a_missing_topic_says_what_is_missing_inside_the_console(staff_client):
    response = staff_client.get("/topics/nope/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Topic &#x27;nope&#x27; does not exist." in html
    assert 'href="/topics/"' in html and "Log out" in html  # the console's layout and navigation


@pytest.mark.django_db
def test_an_unknown_url_names_the_path_not_an_exception_class(staff_client, client):
    html = staff_client.get("/no-such-page/").content.decode()
    assert "There is no page at /no-such-page/." in html and "Resolver404" not in html
    client.logout()
    anonymous = client.get("/no-such-page/")
    assert anonymous.status_code == 404 and "Log in" in anonymous.content.decode()


@pytest.mark.django_db
def test_a_read_only_user_is_told_why_a_change_is_refused(viewer_client):
    topic_create(name="orders", partitions=1)
    response = viewer_client.post("/topics/orders/delete/")
    assert response.status_code == 403
    assert "Changing the broker needs a staff account." in response.content.decode()


@pytest.mark.django_db
def test_a_server_error_shows_a_page_without_details(client, settings):
    settings.ROOT_URLCONF = __name__
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Server error" in html and "something inside broke" not in html and "Traceback" not in html
