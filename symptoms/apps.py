from django.apps import AppConfig


class SymptomsConfig(AppConfig):
    name = "symptoms"
