from django.urls import path

from . import token_views, two_factor_views, views
from .views import LoginView

__all__ = ["LoginView", "urlpatterns"]

urlpatterns = [
    path("account/2fa/", two_factor_views.overview, name="two-factor"),
    path("account/2fa/setup/", two_factor_views.setup, name="two-factor-setup"),
    path("account/2fa/verify/", two_factor_views.verify, name="two-factor-verify"),
    path("account/2fa/recovery/", two_factor_views.recovery_codes, name="two-factor-recovery"),
    path("account/2fa/off/", two_factor_views.turn_off, name="two-factor-off"),
    path("account/2fa/needed/", two_factor_views.needed, name="two-factor-needed"),
    path("account/2fa/enrol/<str:token>/", two_factor_views.enrol, name="two-factor-enrol"),
    path("clinic/<int:clinic_id>/staff/", two_factor_views.clinic_staff, name="clinic-staff"),
    path(
        "clinic/<int:clinic_id>/staff/<int:user_id>/second-factor/link/",
        two_factor_views.send_staff_link,
        name="clinic-staff-link",
    ),
    path(
        "clinic/<int:clinic_id>/staff/<int:user_id>/second-factor/reset/",
        two_factor_views.reset_staff,
        name="clinic-staff-reset",
    ),
    path(
        "patients/<int:patient_id>/second-factor/reset/",
        two_factor_views.reset_patient,
        name="patient-second-factor-reset",
    ),
    path("account/tokens/", token_views.token_list, name="api-tokens"),
    path("account/tokens/<int:token_id>/revoke/", token_views.revoke, name="api-token-revoke"),
    path("patients/new/", views.patient_create, name="patient-create"),
    path("patients/<int:patient_id>/", views.patient_detail, name="patient-detail"),
    path("patients/<int:patient_id>/contacts/", views.patient_contacts, name="patient-contacts"),
    path("patients/<int:patient_id>/caregivers/", views.caregivers, name="patient-caregivers"),
    path("patients/<int:patient_id>/invite/", views.invite_patient, name="patient-invite"),
    path(
        "patients/<int:patient_id>/caregivers/<int:link_id>/revoke/",
        views.revoke_caregiver,
        name="caregiver-revoke",
    ),
    path(
        "patients/<int:patient_id>/invitations/<int:invitation_id>/revoke/",
        views.revoke_invitation,
        name="invitation-revoke",
    ),
    path("invite/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("clinic/audit/", views.audit_log, name="audit-log"),
    path("clinic/<int:clinic_id>/settings/", views.clinic_settings, name="clinic-settings"),
]
