from django.apps import AppConfig


class RefillsConfig(AppConfig):
    name = "refills"
