"""Signals that keep the dependency direction (refills → patients): patients says that a
forecast input changed; refills, which knows the forecast, listens and recomputes inside the
same transaction."""

from django.dispatch import Signal

# Sent with patient=<Patient> or clinic=<Clinic>, inside the transaction of the change.
forecast_inputs_changed = Signal()
