"""One module per Kafka API family; importing a module registers its handlers."""

import importlib

# Each family module is optional while the families are written: a missing one is skipped, any
# other import error is a bug and raised.
FAMILIES = ("meta", "sasl", "credentials", "produce", "fetch", "admin", "groups", "logdirs", "configs", "acls")


def load() -> None:
    """Import every family module, so that each registers its handlers (idempotent)."""
    for name in FAMILIES:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
