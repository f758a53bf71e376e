import pytest

from brokercore.coordinator.server_members import group_join
from tests.factories import records_factory, topic_factory

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login(client):
    for url in ("/", "/brokers/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_overview_shows_totals_topics_and_groups(viewer_client):
    topic_factory(name="orders", partitions=3)
    records_factory("orders", 7)
    group_join(group_id="billing", topics=["orders"])
    html = viewer_client.get("/").content.decode()
    assert 'id="overview-stats"' in html and 'ws-connect="/ws/live/?s=cluster%3Aoverview"' in html
    assert ">orders<" in html and ">7<" in html
    assert ">billing<" in html and "Stable" in html
    assert "Create a topic" not in html  # viewers cannot change anything


def test_overview_empty_state_says_what_to_do(staff_client):
    html = staff_client.get("/").content.decode()
    assert "No topics yet." in html and "Create one" in html


def test_brokers_page_lists_the_embedded_node(viewer_client):
    topic_factory(name="orders", partitions=2)
    html = viewer_client.get("/brokers/").content.decode()
    assert "embedded" in html and "2 partitions" in html
