"""What the broker's CLI commands (topics, produce, consume) share: one error shape and K=V parsing.

Every expected failure (a BrokerError, a bad argument, bad input) ends the process with status 1
and exactly one stderr line, `Error: NAME: message` for broker errors (NAME is Kafka's error
name) and `Error: message` for the rest. No traceback unless --traceback is given.
"""

import os
import sys
from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, handle_default_options
from django.db import connections

from brokercore.errors import BrokerError


class BrokerCommand(BaseCommand):
    """Base of the CLI commands: thin adapters that parse, call brokercore, print."""

    # System checks cost every invocation a noticeable start-up delay and check nothing the
    # broker needs; the server process runs them.
    requires_system_checks = []

    def execute(self, *args: str, **options: Any) -> str | None:
        # Callers of call_command (tests, scripts) get a CommandError carrying the same line.
        try:
            return super().execute(*args, **options)
        except BrokerError as e:
            raise CommandError(f"{e.name}: {e.message}") from e

    def run_from_argv(self, argv: list[str]) -> None:
        """Django's run_from_argv, but a bad argument is one line and status 1 (not usage + 2).

        `_called_from_command_line` stays False so that the parser raises CommandError instead
        of printing usage; that flag changes nothing else.
        """
        parser = self.create_parser(argv[0], argv[1])
        traceback = "--traceback" in argv[2:]
        try:
            options = parser.parse_args(argv[2:])
            cmd_options = vars(options)
            args = cmd_options.pop("args", ())
            handle_default_options(options)
            self.execute(*args, **cmd_options)
        except CommandError as e:
            if traceback:
                raise
            self.stderr.write(error_line(e))
            sys.exit(e.returncode)
        except KeyboardInterrupt:
            sys.exit(130)
        except BrokenPipeError:
            # The reader went away (`consume ... | head`): stop quietly, and keep the interpreter
            # from failing again when it flushes stdout at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        finally:
            connections.close_all()


def error_line(error: Exception) -> str:
    """The one stderr line for an expected failure."""
    if isinstance(error, BrokerError):
        return f"Error: {error.name}: {error.message}"
    # The argument parser already prefixes its messages with "Error: ".
    return "Error: " + str(error).removeprefix("Error: ")


def key_value_parse(text: str, *, option: str) -> tuple[str, str]:
    """Split `KEY=VALUE` at the first '='; the value may be empty or contain '='."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CommandError(f"{option} takes KEY=VALUE, got {text!r}.")
    return key, value


def key_values_parse(items: list[str] | None, *, option: str) -> dict[str, str]:
    """Repeated `KEY=VALUE` options as a dict; a key given twice keeps its last value."""
    return dict(key_value_parse(item, option=option) for item in items or ())


def table(headers: list[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces, like Kafka's tools print them."""
    cells = [headers] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells) + "\n"
