"""Signals that keep the dependency direction (refills → patients): patients says that a
forecast input changed, or who hears about a patient; refills, which knows the forecast and the
reminder plan, listens and re-plans inside the same transaction."""

from django.dispatch import Signal

# Sent with patient=<Patient> or clinic=<Clinic>, inside the transaction of the change.
forecast_inputs_changed = Signal()

# Sent with patient=<Patient>, inside the transaction of the change: a caregiver link was made or
# revoked, the patient got a log-in, or the patient's own channels, e-mail or phone changed.
recipients_changed = Signal()
