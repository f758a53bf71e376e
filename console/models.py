"""The console's own tables: API tokens for the REST proxy (`console.api`)."""

import hashlib
import secrets

from django.conf import settings
from django.db import models

TOKEN_PREFIX = "kc_"


def token_hash(raw: str) -> str:
    """Tokens are stored as SHA-256 digests: a leaked database does not leak usable tokens. (A
    token has 256 random bits, so a fast hash is enough; passwords need a slow one, tokens do not.)"""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A per-user bearer token for the REST API; the raw value is shown once, at creation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The first characters of the raw token, to tell tokens apart in lists without revealing them.
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate() -> str:
        return TOKEN_PREFIX + secrets.token_urlsafe(32)
