"""`manage.py scram set|delete|list`: console users' SCRAM credentials, like
`kafka-configs --entity-type users --alter --add-config 'SCRAM-SHA-256=[iterations=8192,password=...]'`.

The password is salted here and forgotten: only the salt, the iteration count and the two keys
are stored. Give it with --password, or on stdin (one line) to keep it out of the process list.
"""

import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser

from brokercore.management.commands._cli import BrokerCommand, table
from brokercore.security.credentials import (
    scram_credential_delete,
    scram_credential_set,
    scram_credentials_describe,
)
from brokercore.security.scram import DEFAULT_ITERATIONS, MECHANISMS


class Command(BrokerCommand):
    help = "Set, delete and list users' SCRAM-SHA-256/512 credentials for the Kafka listener."
    # call_command(..., stdin=StringIO(...)) in tests and scripts.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        mechanism_help = f"{' or '.join(MECHANISMS)}; repeat for both (default: both)."

        set_ = actions.add_parser("set", help="Set a user's credential from a password.")
        set_.add_argument("user", metavar="USER")
        set_.add_argument("--mechanism", action="append", choices=list(MECHANISMS), help=mechanism_help)
        set_.add_argument("--password", help="The password (else read from stdin, one line).")
        set_.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS,
                          help=f"Iterations, 4096 to 16384 (default {DEFAULT_ITERATIONS}).")

        delete = actions.add_parser("delete", help="Remove a user's credential.")
        delete.add_argument("user", metavar="USER")
        delete.add_argument("--mechanism", action="append", choices=list(MECHANISMS), help=mechanism_help)

        lst = actions.add_parser("list", help="Users' credentials: mechanism and iterations.")
        lst.add_argument("users", nargs="*", metavar="USER", help="Only these users (default: every user with one).")

    def handle(self, *args: str, action: str, **opts: Any) -> None:
        getattr(self, f"_{action}")(**opts)

    def _set(
        self, user: str, mechanism: list[str] | None, password: str | None, iterations: int, **opts: object
    ) -> None:
        if password is None:
            password = (opts.get("stdin") or sys.stdin).readline().rstrip("\r\n")
        for name in mechanism or MECHANISMS:
            info = scram_credential_set(username=user, mechanism=name, password=password, iterations=iterations)
            self.stdout.write(f"Set the {info.mechanism.name} credential of {user} ({info.iterations} iterations).")

    def _delete(self, user: str, mechanism: list[str] | None, **_: object) -> None:
        for name in mechanism or MECHANISMS:
            scram_credential_delete(username=user, mechanism=name)
            self.stdout.write(f"Deleted the {name} credential of {user}.")

    def _list(self, users: list[str], **_: object) -> None:
        results = scram_credentials_describe(users)
        rows = [(r.user, c.mechanism.name, c.iterations) for r in results for c in r.credentials]
        if rows:
            self.stdout.write(table(["USER", "MECHANISM", "ITERATIONS"], rows), ending="")
        errors = [r.error_message for r in results if r.error_code]
        if errors:
            raise CommandError("; ".join(errors))
