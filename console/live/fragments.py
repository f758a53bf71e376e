"""What a live page can subscribe to, and the fragments pushed when it changes.

A subscription is "kind" or "kind:argument" (cluster, topic:orders, group:billing, lab:3,
tail:orders). Each kind has a resolver that maps the argument to the channel-layer group the
broker publishes to, and a list of fragments: a template partial (whose root element carries the
id it replaces) and a function that builds its context with brokercore's reads. Pages register their own
fragments, so the websocket consumer knows nothing about any page.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractUser
from django.template.loader import render_to_string


@dataclass
class Kind:
    resolve: Callable[[str], str | None]  # argument -> channel-layer group, None if it does not exist
    # (template partial, context builder, page): a fragment with a page is sent only to
    # subscriptions naming that page ("cluster:overview"), so pages get only their own elements.
    fragments: list[tuple[str, Callable[[str], dict], str | None]] = field(default_factory=list)
    # A custom renderer for stateful pushes (the live tail): (argument, state) -> html
    stream: Callable[[str, dict], str] | None = None


KINDS: dict[str, Kind] = {}


def kind(name: str, *, resolve: Callable[[str], str | None]) -> Kind:
    return KINDS.setdefault(name, Kind(resolve=resolve))


def fragment(kind_name: str, template: str, *, page: str | None = None) -> Callable:
    """Decorator: `@fragment("topic", "console/topic_detail.html#partitions")` on a context builder."""

    def register(builder: Callable[[str], dict]) -> Callable[[str], dict]:
        KINDS[kind_name].fragments.append((template, builder, page))
        return builder

    return register


def parse(subscription: str) -> tuple[str, str]:
    name, _, argument = subscription.partition(":")
    return name, argument


def render(subscription: str, state: dict, user: AbstractUser) -> str:
    """Every fragment of one subscription, concatenated for one websocket message (sync: DB reads)."""
    name, argument = parse(subscription)
    k = KINDS[name]
    parts = []
    built: dict[Callable, dict | None] = {}  # one builder feeds several partials: build once
    for template, builder, page in k.fragments:
        if page is not None and page != argument:
            continue
        if builder not in built:
            built[builder] = builder(argument)
        context = built[builder]
        if context is None:
            continue
        parts.append(render_to_string(template, {**context, "user": user, "live_push": True}))
    if k.stream is not None:
        parts.append(k.stream(argument, state))
    return "".join(parts)
