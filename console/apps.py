import importlib
import pkgutil

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import pre_delete


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        # A deleted user's REST consumer instances close as consumers do (the model does not
        # import the service, so the two do not import each other).
        from console.api.rest_consumers import user_instances_close

        pre_delete.connect(user_instances_close, sender=settings.AUTH_USER_MODEL, dispatch_uid="rest-consumers-close")
        # Pages register their live fragments when their view modules are imported.
        import console.live.kinds  # noqa: F401
        import console.views

        for module in pkgutil.iter_modules(console.views.__path__):
            importlib.import_module(f"console.views.{module.name}")
