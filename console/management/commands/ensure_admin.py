"""Create the first admin with a random password, printed once. Does nothing if one exists."""

import secrets
import shlex
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from brokercore.cluster.read import kafka_security_protocol, node_embedded


class Command(BaseCommand):
    help = "Create an 'admin' superuser with a random password on first run (printed once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: str, username: str, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        b = settings.BROKER
        node = node_embedded()  # the address clients are told, a wildcard bind made a host name
        bootstrap = f"{node.host}:{node.port}"
        protocol = kafka_security_protocol(False, bool(b["KAFKA_TLS_CERT"]))
        sasl = (f"-X security.protocol={protocol} -X sasl.mechanisms=PLAIN "
                f"-X sasl.username={shlex.quote(username)} -X sasl.password={shlex.quote(password)}")
        if b["KAFKA_TLS_CERT"]:
            # Right for a self-signed certificate; one signed by a CA needs that CA's file instead.
            sasl += f" -X ssl.ca.location={shlex.quote(b['KAFKA_TLS_CERT'])}"
        bar = "=" * 64
        self.stdout.write(
            f"{bar}\nCreated the first admin. Log in at the console with\n"
            f"  username: {username}\n  password: {password}\n"
            f"Kafka clients authenticate with SASL/PLAIN as a console user, e.g.\n"
            f"  kcat -b {bootstrap} {sasl} -L\n"
            f"  (other clients: security.protocol={protocol}, SASL mechanism PLAIN, this username and password;\n"
            f"  applications better use an API token as the password: manage.py tokens create {username} --name ...)\n"
            f"This password is shown only once. Change it with: manage.py changepassword {username}\n{bar}"
        )
