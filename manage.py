#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    if sys.argv[1:2] == ["serve"]:
        # The server's many short-lived request threads share pooled PostgreSQL connections
        # (console/settings.py explains why only the server).
        os.environ.setdefault("DB_POOL", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
