"""The console's own tables: API tokens and consumer instances of the REST proxy (`console.api`),
and failed-login counts (`console.login_limit`)."""

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


class RestConsumer(models.Model):
    """A REST proxy v2 consumer instance (`console.api.rest_consumers`, which also closes a
    deleted user's instances: console.apps connects its pre_delete receiver).

    The group membership itself lives in the broker's coordinator (a server-managed member);
    this row keeps what the coordinator does not know, so any server process can serve the
    instance: its name, format and settings, a manual assignment with its positions, and when it
    was last used (idle instances expire).
    """

    group_id = models.CharField(max_length=255)
    name = models.CharField(max_length=200)
    # Who created it: only they may use it (others are told it does not exist). None for an
    # instance created anonymously (REST["ALLOW_ANONYMOUS"]), which only anonymous callers may use.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="rest_consumers"
    )
    format = models.CharField(max_length=8)
    offset_reset = models.CharField(max_length=8)
    auto_commit = models.BooleanField(default=True)
    fetch_min_bytes = models.IntegerField(default=-1)
    request_timeout_ms = models.IntegerField(null=True, blank=True)
    # Subscribed: the coordinator's member id (empty until the first subscription, and again if
    # the coordinator dropped the member; the next poll rejoins), the topics or pattern asked for.
    member_id = models.CharField(max_length=255, blank=True, default="")
    topics = models.JSONField(default=list, blank=True)
    topic_pattern = models.TextField(blank=True, default="")
    # Manually assigned: [[topic, partition], ...] and next offsets by "topic:partition"
    # (subscribed instances keep their positions on the group member instead).
    assignment = models.JSONField(default=list, blank=True)
    positions = models.JSONField(default=dict, blank=True)
    last_used_ms = models.BigIntegerField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # A name is unique per group for each owner, so one user cannot learn another's instance
        # names by trying them; anonymous instances (no owner) share one namespace. Two partial
        # constraints, since a NULL owner would not collide in one over (owner, group, name).
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "group_id", "name"],
                condition=models.Q(owner__isnull=False),
                name="rest_consumer_owner_group_name_unique",
            ),
            models.UniqueConstraint(
                fields=["group_id", "name"],
                condition=models.Q(owner__isnull=True),
                name="rest_consumer_anonymous_group_name_unique",
            ),
        ]
        ordering = ["group_id", "name"]

    def __str__(self) -> str:
        return f"{self.group_id}/{self.name}"


class LoginFailure(models.Model):
    """Recent failed logins of one username or from one address (`console.login_limit`). In the
    database, not a per-process cache, so every server process counts the same failures."""

    # "user:<username, casefolded>" or "ip:<address>".
    key = models.CharField(max_length=255, unique=True)
    failures = models.IntegerField(default=0)
    # The failures counted since then; a window older than the cool-off starts over.
    window_start_ms = models.BigIntegerField()
    locked_until_ms = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}: {self.failures}"

