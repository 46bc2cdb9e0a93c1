"""People, clinics and access: who exists and who may see whom.

Who may see which patient is decided in one place only: patients/access.py.
"""

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import zones

LANGUAGE_CHOICES = [("en", "English"), ("es", "Español"), ("fr", "Français")]
CHANNEL_CHOICES = ["email", "sms", "inbox"]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def validate_time_zone(value: str) -> None:
    """A zone a person can live in (patients/zones.py): not `localtime`, `Factory` or `Etc/GMT+5`."""
    if not zones.is_livable(value):
        raise ValidationError(
            _("“%(value)s” is not a known time zone, such as America/Chicago."), params={"value": value}
        )


def validate_channels(value) -> None:
    if not isinstance(value, list) or any(c not in CHANNEL_CHOICES for c in value) or len(set(value)) != len(value):
        raise ValidationError(_("Choose channels from: e-mail, SMS, in-app inbox, each at most once."))


def validate_opening_hours(value) -> None:
    """{"mon": [["08:00", "17:00"]], ...}: each day a list of (open, close) pairs, open < close."""
    message = _('Opening hours must look like {"mon": [["08:00", "17:00"]]}, days mon to sun.')
    if not isinstance(value, dict) or any(day not in WEEKDAYS for day in value):
        raise ValidationError(message)
    for spans in value.values():
        if not isinstance(spans, list):
            raise ValidationError(message)
        for span in spans:
            if not (isinstance(span, list) and len(span) == 2 and all(_is_hhmm(t) for t in span) and span[0] < span[1]):
                raise ValidationError(message)


def default_reminder_steps() -> list[int]:
    return [14, 7, 3, 1]


def _is_hhmm(text) -> bool:
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        return False
    hh, mm = text[:2], text[3:]
    return hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)

    def for_address(self, address: str):
        """The account whose address this is, case aside, or None. The database's
        case-insensitive match also folds ı → I and ſ → S, so its candidates are narrowed to the
        address as stored: a look-alike of an address is not a way into its account."""
        from .addresses import same_address

        return next((user for user in self.filter(email__iexact=address) if same_address(user.email, address)), None)

    def get_by_natural_key(self, username):
        user = self.for_address(username)
        if user is None:
            raise self.model.DoesNotExist(f"No account has the address {username!r}.")
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """Anyone who logs in: patient, caregiver or clinic staff. Log-in is by e-mail.

    `is_staff` is Django's admin-site flag only; clinic roles come from ClinicMembership.
    """

    email = models.EmailField(_("e-mail"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    language = models.CharField(_("language"), max_length=8, choices=LANGUAGE_CHOICES, default="en")
    # How this person (as a caregiver) hears from us; a patient's own choices live on Patient.
    notification_channels = models.JSONField(default=list, blank=True, validators=[validate_channels])
    time_zone = models.CharField(
        max_length=64, blank=True, validators=[validate_time_zone], help_text=_("Blank: the patient's zone.")
    )
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    sms_opted_out_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def __str__(self):
        return self.email


class Clinic(models.Model):
    name = models.CharField(max_length=200)
    phone = models.CharField(max_length=32)
    after_hours_phone = models.CharField(max_length=32)
    opening_hours = models.JSONField(default=dict, blank=True, validators=[validate_opening_hours])
    time_zone = models.CharField(max_length=64, default="America/New_York", validators=[validate_time_zone])
    emergency_number = models.CharField(max_length=16, default="911")
    alert_email = models.EmailField()
    reminder_hour = models.PositiveSmallIntegerField(
        default=9,
        validators=[MinValueValidator(7), MaxValueValidator(20)],
        help_text=_("A whole hour, 07 to 20, on the patient's local clock."),
    )
    reminder_steps = models.JSONField(
        default=default_reminder_steps,
        help_text=_("Days before the refill date: 1 to 6 steps, the earliest at least 7, the 1-day step kept."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(reminder_hour__gte=7, reminder_hour__lte=20), name="clinic_reminder_hour_7_to_20"
            )
        ]

    def __str__(self):
        return self.name


class ClinicMembership(models.Model):
    class Role(models.TextChoices):
        STAFF = "staff", _("Clinic staff")
        ADMIN = "admin", _("Clinic admin")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.STAFF)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "clinic"], name="one_membership_per_clinic")]

    def __str__(self):
        return f"{self.user} {self.role} at {self.clinic}"


class Patient(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        TRANSFERRED = "transferred", _("Transferred")
        EXPLANTED = "explanted", _("Explanted")
        DECEASED = "deceased", _("Deceased")

    # Fields a patient may change about themselves; every other field is staff-only.
    PATIENT_EDITABLE = ("email", "phone", "emergency_contacts", "notification_channels", "language")

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    user = models.OneToOneField(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="patient_profile")
    full_name = models.CharField(_("full name"), max_length=150)
    date_of_birth = models.DateField(_("date of birth"), null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    calendar_version = models.PositiveIntegerField(
        default=0, help_text=_("Raised to cancel the private calendar link: the old link stops working.")
    )
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    email = models.EmailField(_("contact e-mail"), blank=True)
    phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    emergency_contacts = models.JSONField(default=list, blank=True)
    notification_channels = models.JSONField(default=list, blank=True, validators=[validate_channels])
    language = models.CharField(max_length=8, choices=LANGUAGE_CHOICES, default="en")
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    sms_opted_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["clinic", "status"])]

    def __str__(self):
        return f"Patient #{self.pk}"

    def clean(self):
        # Someone to call in an emergency is no use without a name and a number.
        contacts = self.emergency_contacts
        if not isinstance(contacts, list) or not all(
            isinstance(c, dict) and str(c.get("name") or "").strip() and str(c.get("phone") or "").strip()
            for c in contacts
        ):
            raise ValidationError({"emergency_contacts": _("Give each emergency contact a name and a phone number.")})

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class CaregiverLink(models.Model):
    """A caregiver looks after a patient until the link is revoked."""

    caregiver = models.ForeignKey(User, on_delete=models.CASCADE, related_name="caregiver_links")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="caregiver_links")
    relationship = models.CharField(max_length=60, blank=True)
    notify_call_clinic = models.BooleanField(
        default=False, help_text=_("Also tell this caregiver about call-clinic check-ins.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["caregiver", "patient"], condition=Q(revoked_at__isnull=True), name="one_live_link_per_pair"
            )
        ]

    def __str__(self):
        return f"{self.caregiver} cares for {self.patient}"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None


class Invitation(models.Model):
    """An e-mailed, signed, expiring, single-use invitation to log in as a caregiver or the patient."""

    class Kind(models.TextChoices):
        CAREGIVER = "caregiver", _("Caregiver")
        PATIENT = "patient", _("Patient")

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="invitations")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    email = models.EmailField()
    full_name = models.CharField(max_length=150)
    relationship = models.CharField(max_length=60, blank=True)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.kind} invitation to {self.email}"

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.accepted_at:
            return "accepted"
        if timezone.now() >= self.expires_at:
            return "expired"
        return "pending"


class AuditEvent(models.Model):
    """Append-only: who read or wrote which patient's data, when (UTC). No clinical free text."""

    class Action(models.TextChoices):
        READ = "read"
        LIST = "list"
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    # No database-level foreign keys: deleting a user or clinic must never rewrite the log.
    actor = models.ForeignKey(User, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+")
    actor_email = models.EmailField()
    action = models.CharField(max_length=8, choices=Action.choices)
    what = models.CharField(max_length=80, help_text="The kind of record, e.g. patient, caregiver_link.")
    clinic = models.ForeignKey(Clinic, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+")
    patient_id = models.BigIntegerField(null=True, blank=True, db_index=True, help_text="Set for one-patient events.")
    patient_ids = models.JSONField(default=list, help_text="Every patient the request touched (lists).")
    path = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["clinic", "-at"])]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_email} {self.action} {self.what}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Audit events are append-only.")


class SchedulerHeartbeat(models.Model):
    """The last instant each periodic job ran; /healthz reads it. On the "beat" row, the workers
    also keep the scheduler alarm (patients/scheduler_watch.py): set while it is open."""

    name = models.CharField(max_length=60, unique=True)
    last_tick_at = models.DateTimeField()
    stalled_since = models.DateTimeField(null=True, blank=True, help_text="The last tick before the stall.")
    alarm_sent_at = models.DateTimeField(null=True, blank=True, help_text="When the latest notice went out.")

    def __str__(self):
        return f"{self.name} at {self.last_tick_at}"


class QueueKind(models.TextChoices):
    """What a queue item is about (patients/queue.py reads it as QueueKind)."""

    CHECKIN_EMERGENCY = "checkin_emergency", _("Emergency check-in")
    CHECKIN_CALL_CLINIC = "checkin_call_clinic", _("Call-clinic check-in")
    PREDICTED_EMPTY = "predicted_empty", _("Reservoir predicted empty")
    CRITICAL_ALARM = "critical_alarm", _("Critical pump alarm")
    ALARM_BEFORE_FORECAST = "alarm_before_forecast", _("Pump alarm before the forecast")
    OVERDUE = "overdue", _("Refill overdue")
    DISCREPANCY = "discrepancy", _("Refill discrepancy")
    DEAD_DELIVERY = "dead_delivery", _("A reminder could not be delivered")
    NOBODY_TO_REMIND = "nobody_to_remind", _("Nobody to remind")
    END_OF_SERVICE = "end_of_service", _("Pump end of service")
    EXPLANTED = "explanted", _("Pump explanted")

    @classmethod
    def for_checkin(cls, level: str) -> "QueueKind":
        """The item a check-in level opens ("emergency" → checkin_emergency)."""
        return cls(f"checkin_{level}")


class QueueItem(models.Model):
    """One thing in the clinic's triage queue (SPEC §7). Any app opens one through
    patients.services.open_queue_item; the console (a later issue) works them."""

    class Tier(models.IntegerChoices):
        EMERGENCY = 1, _("Emergency check-in")
        DEVICE = 2, _("Predicted empty, critical alarm, alarm before forecast")
        CALL_CLINIC = 3, _("Call-clinic check-in")
        OVERDUE = 4, _("Overdue refill")
        DISCREPANCY = 5, _("Refill discrepancy")
        FOLLOW_UP = 6, _("Dead delivery, nobody to remind, end of service, explant")

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="queue_items")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="queue_items")
    Kind = QueueKind

    kind = models.CharField(max_length=40, choices=QueueKind.choices)
    tier = models.PositiveSmallIntegerField(choices=Tier.choices)
    source = models.CharField(max_length=80, blank=True, help_text="What opened it, e.g. event:12.")
    # While an item is open, at most one per key: opening it again does nothing.
    dedupe_key = models.CharField(max_length=120)
    opened_at = models.DateTimeField(default=timezone.now)
    acknowledged_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=60, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"], condition=Q(resolved_at__isnull=True), name="one_open_queue_item_per_key"
            )
        ]
        indexes = [
            models.Index(
                fields=["clinic", "tier", "opened_at"], condition=Q(resolved_at__isnull=True), name="open_queue_items"
            )
        ]

    def __str__(self):
        return f"{self.kind} for {self.patient}"


class EnrolmentDraft(models.Model):
    """A staff member's enrolment in progress (console/enrol.py): what each step
    posted, kept in the database rather than the session, so an idle log-out does not lose it;
    after log-in the same address carries on. Only its author reads it; it lasts 12 hours, and
    its answers are dropped once the patient is enrolled (the patient id stays, so a second
    "Enrol" finds it and creates nothing)."""

    MAX_AGE = timedelta(hours=12)

    id = models.CharField(primary_key=True, max_length=32)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="enrolment_drafts")
    clinic_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    done = models.JSONField(default=list, blank=True)
    patient = models.ForeignKey(Patient, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    started_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["user", "started_at"], name="enrolment_draft_user"),
            models.Index(fields=["started_at"], name="enrolment_draft_age"),
        ]

    def __str__(self):
        return f"Enrolment {self.pk} by {self.user}"


class ApiToken(models.Model):
    """A key for the REST API (patients/api_tokens.py writes these). One per app or device, named
    by its owner. Only the SHA-256 of the key is stored: the key is shown once, when it is made.
    It ends at `expires_at`, when unused for the owner's idle limit, when the password changes
    (`password_fingerprint` no longer matches) and when the owner's role changes."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    password_fingerprint = models.CharField(max_length=64)
    for_staff = models.BooleanField(help_text="Made for clinic staff or an admin: the short limits apply.")
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # Not a column: a token just issued carries its key here for the one response that shows it.
    key: str

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="api_token_user")]

    def __str__(self):
        return f"API token {self.name!r} of {self.user}"


class SecondFactorEnrolment(models.Model):
    """A one-time link with which a staff member who has no second factor yet sets one up
    (patients/two_factor.py writes these). A clinic admin sends it; the first admin gets it from
    `manage.py second_factor_link`. The signed token names the row; the row says whether the
    link still works (single use, 24 hours, replaced by a newer one)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Second-factor set-up link for {self.user}"

    @property
    def is_pending(self) -> bool:
        return self.used_at is None and self.revoked_at is None and timezone.now() < self.expires_at


class SecondFactorFailure(models.Model):
    """A wrong second-factor code (patients/two_factor.py writes these). The rule in
    two_factor.code_tries_left bounds the lock: a few tries per person and address, then a wait
    that tries during it do not extend, so a password thief cannot lock the owner out for good."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    ip_address = models.CharField(max_length=45, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "at"], name="second_factor_failure_user")]

    def __str__(self):
        return f"Wrong code for {self.user} from {self.ip_address} at {self.at:%Y-%m-%d %H:%M:%S}"
