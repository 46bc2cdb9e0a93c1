from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = "People, clinics and access"

    def ready(self):
        # Connects the receivers that end a person's API tokens when their role changes.
        from . import api_tokens  # noqa: F401
