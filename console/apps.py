import importlib
import pkgutil

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"

    def ready(self):
        # Pages register their live fragments when their view modules are imported.
        import console.live.kinds  # noqa: F401
        import console.views

        for module in pkgutil.iter_modules(console.views.__path__):
            importlib.import_module(f"console.views.{module.name}")
