"""NUL in a path or a query value: PostgreSQL cannot store or compare it (psycopg refuses the
query), so it is answered 404 (path) or 400 (query) before any view runs, on both backends."""

import pytest

from console.api.tokens import token_create
from tests.api.conftest import RestClient

CONSOLE_PATHS = ["/groups/%00/", "/topics/a%00b/", "/topics/orders/messages/%00/", "/groups/g%00/delete/"]
REST_PATHS = ["/rest/topics/%00", "/rest/consumers/%00/instances/x/records",
              "/rest/v3/clusters/%00/topics", "/rest/topics/a%00/partitions/0"]


@pytest.fixture
def staff_token(staff):
    return token_create(user=staff, name="tests")[1]


@pytest.mark.parametrize("path", CONSOLE_PATHS)
def test_nul_in_a_console_path_is_404(staff_client, path):
    response = staff_client.get(path)
    assert response.status_code == 404
    assert "NUL" in response.content.decode()


@pytest.mark.parametrize("query", ["q=%00", "q=a%00b", "%00=x", "group=x&offset=%00"])
def test_nul_in_a_console_query_is_400(staff_client, query):
    for path in ("/groups/", "/topics/", "/"):
        response = staff_client.get(f"{path}?{query}")
        assert response.status_code == 400


@pytest.mark.parametrize("path", REST_PATHS)
def test_nul_in_a_rest_path_is_a_json_404(staff_token, path):
    response = RestClient(staff_token).get(path)
    assert response.status_code == 404
    assert response.json()["error_code"] == 404 and "NUL" in response.json()["message"]


def test_nul_in_a_rest_query_is_a_json_400(staff_token):
    response = RestClient(staff_token).get("/rest/v3/clusters?name=%00")
    assert response.status_code == 400 and response.json()["error_code"] == 40001
    response = RestClient(staff_token).post("/rest/topics/x?partition=%00", data=b"{}", content_type="application/json")
    assert response.status_code == 400 and response.json()["error_code"] == 40001
