from django.apps import AppConfig


class BrokercoreConfig(AppConfig):
    name = "brokercore"
    verbose_name = "Broker core"
    default_auto_field = "django.db.models.BigAutoField"
