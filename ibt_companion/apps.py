from django.apps import AppConfig


class IbtCompanionConfig(AppConfig):
    name = "ibt_companion"
    verbose_name = "IBT Companion"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
