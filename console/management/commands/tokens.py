"""`manage.py tokens create|list|revoke`: API tokens for the REST proxy."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.api.tokens import TokenError, token_create, token_revoke, user_get
from console.models import ApiToken


class Command(BaseCommand):
    help = "Create, list and revoke REST API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token for a user; prints it once.")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="What the token is for, e.g. 'billing-service'.")
        lst = sub.add_parser("list", help="List tokens (prefixes only, never the tokens).")
        lst.add_argument("username", nargs="?")
        revoke = sub.add_parser("revoke", help="Revoke a token by its id or prefix.")
        revoke.add_argument("token", help="The token's id or the prefix shown by 'list'.")

    def handle(self, *args: str, action: str, **opts: Any) -> None:
        try:
            getattr(self, f"_{action}")(**opts)
        except TokenError as e:
            raise CommandError(str(e)) from None

    def _create(self, username: str, name: str, **_: object) -> None:
        token, raw = token_create(user=user_get(username), name=name)
        self.stdout.write(raw)
        self.stderr.write(f"Token {token.pk} '{token.name}' for {username}; this is the only time it is shown.")

    def _list(self, username: str | None = None, **_: object) -> None:
        tokens = ApiToken.objects.select_related("user")
        if username:
            tokens = tokens.filter(user=user_get(username))
        for t in tokens:
            state = "active" if t.active else f"revoked {t.revoked_at:%Y-%m-%d %H:%M}"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            self.stdout.write(f"{t.pk}\t{t.prefix}…\t{t.user.username}\t{t.name}\t{state}\tlast used {used}")

    def _revoke(self, token: str, **_: object) -> None:
        matches = ApiToken.objects.filter(pk=int(token)) if token.isdigit() else ApiToken.objects.filter(prefix__startswith=token.rstrip("…"))
        if matches.count() != 1:
            raise CommandError(f"No single token matches '{token}' ({matches.count()} do).")
        t = matches.get()
        token_revoke(token=t)
        self.stdout.write(f"Revoked token {t.pk} '{t.name}' of {t.user.username}.")
