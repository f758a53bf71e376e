"""`manage.py scram`: set, delete and list SCRAM credentials; bad input is one line and status 1."""


import pytest
from django.core.management.base import CommandError

from brokercore.models import ScramCredential
from brokercore.security.credentials import scram_credential_find
from brokercore.security.scram import SCRAM_SHA_256, SCRAM_SHA_512, ScramServer
from tests.brokercore.commands.helpers import cli, run
from tests.kafka.conftest import user_create

pytestmark = pytest.mark.django_db


def logs_in(username: str, password: str, mechanism) -> bool:
    """Whether kafka-python's SCRAM client gets through the server exchange with this password."""
    from kafka.net.sasl.scram import ScramClient

    client = ScramClient(username, password, mechanism.name)
    server = ScramServer(mechanism)
    lookup = lambda name: scram_credential_find(name, mechanism)  # noqa: E731
    try:
        client.process_server_first_message(server.first(client.first_message(), lookup))
        server.final(client.final_message())
    except Exception:
        return False
    return True


def test_set_both_mechanisms_list_and_delete_one():
    user, _, _ = user_create()
    out = run("scram", "set", user.username, "--password", "s3cret", "--iterations", "8192")
    assert out.splitlines() == [f"Set the SCRAM-SHA-256 credential of {user.username} (8192 iterations).",
                                f"Set the SCRAM-SHA-512 credential of {user.username} (8192 iterations)."]
    assert logs_in(user.username, "s3cret", SCRAM_SHA_256) and logs_in(user.username, "s3cret", SCRAM_SHA_512)
    assert not logs_in(user.username, "wrong", SCRAM_SHA_256)
    assert run("scram", "list").splitlines()[1:] == [f"{user.username}  SCRAM-SHA-256  8192",
                                                      f"{user.username}  SCRAM-SHA-512  8192"]
    run("scram", "delete", user.username, "--mechanism", "SCRAM-SHA-512")
    assert list(ScramCredential.objects.values_list("mechanism", flat=True)) == [1]
    # The password is nowhere in the row.
    row = ScramCredential.objects.get()
    assert b"s3cret" not in bytes(row.salt) + bytes(row.stored_key) + bytes(row.server_key)


def test_password_from_stdin():
    user, _, _ = user_create()
    run("scram", "set", user.username, "--mechanism", "SCRAM-SHA-512", stdin="from-stdin\n")
    assert logs_in(user.username, "from-stdin", SCRAM_SHA_512)


@pytest.mark.parametrize("args, message", [
    (["set", "nobody", "--password", "x"], "RESOURCE_NOT_FOUND: No console user called 'nobody'"),
    (["set", "{user}", "--password", "x", "--iterations", "4095"], "UNACCEPTABLE_CREDENTIAL: Too few iterations"),
    (["set", "{user}", "--password", "x", "--iterations", "16385"], "UNACCEPTABLE_CREDENTIAL: Too many iterations"),
    (["set", "{user}", "--password", ""], "UNACCEPTABLE_CREDENTIAL: Password must not be empty"),
    (["delete", "{user}"], "RESOURCE_NOT_FOUND: Attempt to delete a user credential that does not exist"),
    (["list", "{user}"], "Attempt to describe a user credential that does not exist: {user}"),
    (["set", "{user}", "--mechanism", "SCRAM-SHA-1", "--password", "x"], "invalid choice: 'SCRAM-SHA-1'"),
])
def test_bad_input_is_a_command_error(args, message):
    user, _, _ = user_create()
    with pytest.raises(CommandError, match=message.format(user=user.username)):
        run("scram", *[a.format(user=user.username) for a in args])


def test_the_real_command_exits_1_with_one_line(db_url):
    done = cli(db_url, "scram", "set", "nobody", "--password", "x")
    assert done.returncode == 1
    assert done.stderr.decode().splitlines() == [
        "Error: RESOURCE_NOT_FOUND: No console user called 'nobody': SCRAM credentials belong to console users."]
