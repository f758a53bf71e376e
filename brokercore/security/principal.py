"""Who a request comes from, as Kafka names it (KafkaPrincipal "User:<name>")."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a connection or request is (Kafka's KafkaPrincipal, "User:<name>"): the console user it
    authenticated as, or anonymous (no user id)."""

    name: str
    user_id: int | None = None

    def __str__(self) -> str:
        return f"User:{self.name}"


ANONYMOUS = Principal("ANONYMOUS")
