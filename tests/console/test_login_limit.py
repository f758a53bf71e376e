"""Failed logins are throttled per username and per address, in the database, for the console's
login form, the admin's, REST basic auth with a password, REST tokens (per address) and any other
caller of authenticate()."""

import base64

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.test import Client

from console.api.tokens import token_create
from console.models import LoginFailure

pytestmark = pytest.mark.django_db

COOLOFF_S = 60


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_LIMIT = {"FAILURES_PER_USERNAME": 3, "FAILURES_PER_IP": 5, "TOKEN_FAILURES_PER_IP": 5, "COOLOFF_S": COOLOFF_S}


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user(
        username="alice", password="alice-password", is_staff=True, is_superuser=True
    )


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user(username="bob", password="bob-password")


def login(username, password, ip="10.0.0.1", path="/login/"):
    client = Client(REMOTE_ADDR=ip)
    response = client.post(path, {"username": username, "password": password})
    return client, response


def logged_in(response) -> bool:
    return response.status_code == 302 and "/login/" not in response["Location"]


def rest(ip="10.0.0.1", **headers):
    return Client(REMOTE_ADDR=ip, HTTP_HOST="127.0.0.1", **headers).get("/rest/topics")


def basic(username, password):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def assert_locked(response):
    assert response.status_code == 429
    assert response.json()["error_code"] == 42901
    assert "try again in" in response.json()["message"]
    assert 1 <= int(response["Retry-After"]) <= COOLOFF_S


# --- The console's login form -------------------------------------------------------------------


def test_console_login_locks_a_username_after_the_limit_and_says_when_to_retry(alice, fake_clock):
    for _ in range(2):
        _, r = login("alice", "wrong")
        assert r.status_code == 200 and "correct username and password" in r.content.decode()
    _, r = login("alice", "wrong")
    # The failure that reaches the limit already says so.
    assert r.status_code == 429 and int(r["Retry-After"]) == COOLOFF_S
    assert "try again in 60 seconds" in r.content.decode()
    # Locked: even the right password, from another address, is refused.
    fake_clock.advance(30_000)
    _, r = login("alice", "alice-password", ip="10.9.9.9")
    assert r.status_code == 429 and int(r["Retry-After"]) == 30
    assert "try again in 30 seconds" in r.content.decode()
    # Refusals while locked do not push the end further: at the announced time it is over.
    fake_clock.advance(30_000)
    _, r = login("alice", "alice-password")
    assert logged_in(r), r.status_code


def test_a_successful_login_resets_the_usernames_count(alice):
    for _ in range(2):
        login("alice", "wrong")
    assert logged_in(login("alice", "alice-password")[1])
    for _ in range(2):
        assert login("alice", "wrong")[1].status_code == 200
    assert logged_in(login("alice", "alice-password")[1])


def test_failures_further_apart_than_the_cooloff_do_not_add_up(alice, fake_clock):
    for _ in range(5):
        assert login("alice", "wrong")[1].status_code == 200
        fake_clock.advance(COOLOFF_S * 1000 // 2 + 1)
    assert logged_in(login("alice", "alice-password")[1])


def test_usernames_are_counted_without_case(alice):
    for name in ("alice", "ALICE", "Alice"):
        login(name, "wrong")
    assert login("alice", "alice-password")[1].status_code == 429


def test_an_address_is_locked_after_failures_on_many_usernames(alice, bob):
    for i in range(5):
        login(f"guess-{i}", "wrong", ip="10.6.6.6")
    # Every username from that address is refused, the right password too ...
    _, r = login("bob", "bob-password", ip="10.6.6.6")
    assert r.status_code == 429 and "try again in" in r.content.decode()
    # ... and from elsewhere, the same users log in: their usernames were never guessed at.
    assert logged_in(login("bob", "bob-password", ip="10.7.7.7")[1])
    assert logged_in(login("alice", "alice-password", ip="10.7.7.7")[1])


def test_the_admin_login_says_when_to_retry(alice):
    for _ in range(3):
        _, r = login("alice", "wrong", path="/admin/login/")
    assert "try again in" in r.content.decode()
    _, r = login("alice", "alice-password", path="/admin/login/")
    assert "try again in" in r.content.decode()
    assert not r.wsgi_request.user.is_authenticated


def test_a_limit_of_zero_turns_the_count_off(alice, settings):
    settings.LOGIN_LIMIT = {"FAILURES_PER_USERNAME": 0, "FAILURES_PER_IP": 0, "TOKEN_FAILURES_PER_IP": 0, "COOLOFF_S": COOLOFF_S}
    for _ in range(10):
        assert login("alice", "wrong")[1].status_code == 200
    assert logged_in(login("alice", "alice-password")[1])
    assert not LoginFailure.objects.exists()


# --- REST -----------------------------------------------------------------------------------------


def test_rest_basic_auth_with_passwords_is_locked_with_429_and_retry_after(alice, fake_clock):
    assert rest(**basic("alice", "wrong")).status_code == 401
    assert rest(**basic("alice", "wrong")).status_code == 401
    assert_locked(rest(**basic("alice", "wrong")))
    assert_locked(rest(**basic("alice", "alice-password")))
    # The console's login form is locked too: the count is one, in the database.
    assert login("alice", "alice-password")[1].status_code == 429
    fake_clock.advance(COOLOFF_S * 1000)
    assert rest(**basic("alice", "alice-password")).status_code == 200


def test_rest_success_resets_the_count(alice):
    for _ in range(2):
        assert rest(**basic("alice", "wrong")).status_code == 401
    assert rest(**basic("alice", "alice-password")).status_code == 200
    for _ in range(2):
        assert rest(**basic("alice", "wrong")).status_code == 401
    assert rest(**basic("alice", "alice-password")).status_code == 200


def test_wrong_tokens_lock_the_address_for_tokens_but_a_right_token_and_passwords_still_work(alice, bob, fake_clock):
    _, raw = token_create(user=bob, name="ci")
    for _ in range(4):
        assert rest(ip="10.6.6.6", HTTP_AUTHORIZATION="Bearer kc_guess").status_code == 401
    assert_locked(rest(ip="10.6.6.6", HTTP_AUTHORIZATION="Bearer kc_guess"))
    # Token guesses by basic auth count and are refused the same way ...
    assert_locked(rest(ip="10.6.6.6", **basic("", "kc_guess")))
    # ... but passwords are counted apart: someone's bad token locks nobody's password login out,
    # an administrator's included.
    assert rest(ip="10.6.6.6", **basic("alice", "alice-password")).status_code == 200
    assert logged_in(login("alice", "alice-password", ip="10.6.6.6")[1])
    # And the other way round: wrong passwords from an address do not refuse its wrong tokens 429.
    for i in range(5):
        login(f"guess-{i}", "wrong", ip="10.8.8.8")
    assert rest(ip="10.8.8.8", HTTP_AUTHORIZATION="Bearer kc_guess").status_code == 401
    # A right token cannot be guessed: it is never refused (nor anyone behind the same address).
    assert rest(ip="10.6.6.6", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    # Other addresses are not affected.
    assert rest(ip="10.7.7.7", HTTP_AUTHORIZATION="Bearer kc_guess").status_code == 401
    fake_clock.advance(COOLOFF_S * 1000)
    assert rest(ip="10.6.6.6", HTTP_AUTHORIZATION="Bearer kc_guess").status_code == 401


# --- Behind a reverse proxy -------------------------------------------------------------------------


def proxied_login(username, password, forwarded_for, proxy="10.0.0.1"):
    client = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=forwarded_for)
    return client.post("/login/", {"username": username, "password": password})


def test_behind_a_trusted_proxy_each_client_is_counted_by_its_forwarded_address(alice, bob, settings):
    import ipaddress

    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    for i in range(5):  # one client guessing at many usernames, through two proxy hops
        proxied_login(f"guess-{i}", "wrong", "203.0.113.5, 10.1.2.3")
    assert proxied_login("bob", "bob-password", "203.0.113.5").status_code == 429
    # Another client behind the same proxy is not its neighbour's victim.
    assert logged_in(proxied_login("bob", "bob-password", "203.0.113.6"))
    # What the client itself put in front of the header does not move it elsewhere.
    assert proxied_login("bob", "bob-password", "198.51.100.7, 203.0.113.5").status_code == 429


def test_x_forwarded_for_from_an_untrusted_address_is_ignored(alice, bob, settings):
    settings.TRUSTED_PROXIES = []
    for i in range(5):  # each claims another address, but all come from 10.0.0.1
        proxied_login(f"guess-{i}", "wrong", f"203.0.113.{i}")
    assert proxied_login("bob", "bob-password", "203.0.113.99").status_code == 429


# --- Callers without an HTTP request (the Kafka listener's SASL/PLAIN) ------------------------------


def test_authenticate_without_a_request_counts_the_username(alice, fake_clock):
    for _ in range(3):
        assert authenticate(None, username="alice", password="wrong") is None
    assert authenticate(None, username="alice", password="alice-password") is None
    assert login("alice", "alice-password")[1].status_code == 429
    fake_clock.advance(COOLOFF_S * 1000)
    assert authenticate(None, username="alice", password="alice-password") == alice


def test_old_counts_are_forgotten(alice, bob, fake_clock):
    login("alice", "wrong", ip="10.1.1.1")
    assert LoginFailure.objects.count() == 2
    fake_clock.advance(COOLOFF_S * 1000)
    login("bob", "wrong", ip="10.2.2.2")
    assert sorted(LoginFailure.objects.values_list("key", flat=True)) == ["ip:10.2.2.2", "user:bob"]
