"""Create the first admin with a random password, printed once. Does nothing if one exists."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an 'admin' superuser with a random password on first run (printed once)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        bar = "=" * 64
        self.stdout.write(
            f"{bar}\nCreated the first admin. Log in at the console with\n"
            f"  username: {username}\n  password: {password}\n"
            f"This password is shown only once. Change it with: manage.py changepassword {username}\n{bar}"
        )
