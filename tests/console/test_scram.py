"""The SCRAM credentials section of the API tokens page: a user sets and removes their own from
a password (salted server-side), staff anyone's; bad input is a form error."""

import pytest
from kafka.net.sasl.scram import ScramClient

from brokercore.models import ScramCredential
from brokercore.security.credentials import scram_credential_find, scram_credential_set
from brokercore.security.scram import MECHANISMS, ScramServer

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def logs_in(username: str, password: str, mechanism: str) -> bool:
    client = ScramClient(username, password, mechanism)
    server = ScramServer(MECHANISMS[mechanism])
    try:
        client.process_server_first_message(
            server.first(client.first_message(), lambda n: scram_credential_find(n, MECHANISMS[mechanism])))
        server.final(client.final_message())
    except Exception:
        return False
    return True


def test_a_user_sets_their_own_credential_and_sees_it(viewer_client, viewer, staff):
    scram_credential_set(username="staff", mechanism="SCRAM-SHA-256", password="staff-pw")
    response = viewer_client.post("/tokens/scram/", {"mechanism": "SCRAM-SHA-512", "password": "kafka-pw",
                                                    "iterations": "8192", "username": "staff"})
    assert response.status_code == 302
    # The username field is staff's: a user always sets their own.
    assert logs_in("viewer", "kafka-pw", "SCRAM-SHA-512") and not logs_in("viewer", "other", "SCRAM-SHA-512")
    assert logs_in("staff", "staff-pw", "SCRAM-SHA-256")
    html = viewer_client.get("/tokens/").content.decode()
    assert "Set the SCRAM-SHA-512 credential of viewer" in html
    section = html[html.index('<section id="scram"'):]
    assert "SCRAM-SHA-512" in section and "8192" in section and "kafka-pw" not in html
    assert ">staff<" not in section  # others' credentials are not shown to a non-staff user


def test_bad_input_is_a_form_error(viewer_client, viewer):
    response = viewer_client.post("/tokens/scram/", {"mechanism": "SCRAM-SHA-256", "password": "x",
                                                    "iterations": "100"})
    assert response.status_code == 400
    assert "Too few iterations: SCRAM-SHA-256 takes 4096 to 16384 iterations" in response.content.decode()
    response = viewer_client.post("/tokens/scram/", {"mechanism": "SCRAM-SHA-256", "password": ""}, **HTMX)
    assert response.status_code == 200 and "Password must not be empty" in response.content.decode()
    assert response.content.decode().lstrip().startswith('<section id="scram"')
    response = viewer_client.post("/tokens/scram/", {"mechanism": "SCRAM-SHA-1", "password": "x"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not ScramCredential.objects.exists()


def test_staff_set_and_remove_anyones(staff_client, viewer):
    response = staff_client.post("/tokens/scram/", {"username": "viewer", "mechanism": "SCRAM-SHA-256",
                                                   "password": "given-by-staff"}, **HTMX)
    assert response.status_code == 200 and ">viewer<" in response.content.decode()
    assert logs_in("viewer", "given-by-staff", "SCRAM-SHA-256")
    response = staff_client.post("/tokens/scram/", {"username": "nobody", "mechanism": "SCRAM-SHA-256",
                                                   "password": "x"}, **HTMX)
    assert "No console user called &#x27;nobody&#x27;" in response.content.decode()
    response = staff_client.post("/tokens/scram/delete/", {"username": "viewer", "mechanism": "SCRAM-SHA-256"})
    assert response.status_code == 302 and not ScramCredential.objects.exists()
    response = staff_client.post("/tokens/scram/delete/", {"username": "viewer", "mechanism": "SCRAM-SHA-256"})
    assert response.status_code == 400
    assert "Attempt to delete a user credential that does not exist" in response.content.decode()


def test_a_user_removes_only_their_own(viewer_client, viewer, staff):
    scram_credential_set(username="staff", mechanism="SCRAM-SHA-256", password="staff-pw")
    scram_credential_set(username="viewer", mechanism="SCRAM-SHA-256", password="viewer-pw")
    viewer_client.post("/tokens/scram/delete/", {"username": "staff", "mechanism": "SCRAM-SHA-256"})
    assert list(ScramCredential.objects.values_list("user__username", flat=True)) == ["staff"]
