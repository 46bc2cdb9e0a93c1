from django.apps import AppConfig


class RefillsConfig(AppConfig):
    name = "refills"
    verbose_name = "Pump, refills and reminders"

    def ready(self):
        from patients.signals import forecast_inputs_changed, recipients_changed

        from .services import on_forecast_inputs_changed, on_recipients_changed

        forecast_inputs_changed.connect(on_forecast_inputs_changed, dispatch_uid="refills.recompute")
        recipients_changed.connect(on_recipients_changed, dispatch_uid="refills.replan")
