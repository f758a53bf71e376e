"""Template filters the console's pages share."""

from django import template

register = template.Library()


@register.filter
def colour(index: int | str | None) -> str:
    """A member-colour class (m0..m9) for a position or id, stable for the same input."""
    try:
        return f"m{int(index) % 10}"
    except (TypeError, ValueError):
        return f"m{sum(map(ord, str(index))) % 10}"
