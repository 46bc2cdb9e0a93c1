from collections.abc import Mapping

from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers

from . import permissions, two_factor
from .models import CHANNEL_CHOICES, ApiToken, Patient


class TokenRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, write_only=True, style={"input_type": "password"})
    otp = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="Anyone with two-step log-in on (all clinic staff): the code from the authenticator app"
        " (or a recovery code).",
    )
    name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        write_only=True,
        help_text="What the token is for, e.g. the app or device, so you can tell your tokens apart.",
    )

    def validate(self, data):
        user = authenticate(self.context["request"], username=data["email"], password=data["password"])
        if user is None and getattr(self.context["request"], "axes_locked_out", False):
            raise exceptions.Throttled(wait=15 * 60, detail="Too many tries. Wait 15 minutes, then try again.")
        if user is None:
            raise serializers.ValidationError("That e-mail and password do not match an account.", code="authorization")
        # Whoever has a second factor passes it for every token (SPEC §10); staff must have one.
        has_second_factor = two_factor.has_two_factor(user)
        if two_factor.required_for(user) and not has_second_factor:
            raise serializers.ValidationError({"otp": ["Set up two-step log-in in the web app first."]})
        if has_second_factor:
            checked = two_factor.verify_for_token(self.context["request"], user, data.get("otp", ""))
            if checked.locked:
                wait = two_factor.CODE_WINDOW.total_seconds()
                raise exceptions.Throttled(wait=wait, detail=str(two_factor.TOO_MANY_CODES))
            if checked.missing:
                raise serializers.ValidationError(
                    {"otp": ["This account has two-step log-in: send the code from the authenticator app."]}
                )
            if checked.device is None:
                raise serializers.ValidationError(
                    {"otp": ["Type the code from your authenticator app, or one of your recovery codes."]}
                )
        data["user"] = user
        return data


class ApiTokenSerializer(serializers.ModelSerializer):
    """One of your API tokens, as listed: never the key."""

    current = serializers.SerializerMethodField(help_text="The token this request was sent with.")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "created_at", "last_used_at", "expires_at", "current"]
        read_only_fields = fields

    def get_current(self, token) -> bool:
        auth = getattr(self.context.get("request"), "auth", None)
        return isinstance(auth, ApiToken) and auth.pk == token.pk


class TokenResponseSerializer(ApiTokenSerializer):
    """A new token. `token` is the key: it is shown this once, and only its hash is kept."""

    token = serializers.CharField(source="key", read_only=True)

    class Meta(ApiTokenSerializer.Meta):
        fields = ["token", "id", "name", "created_at", "expires_at"]
        read_only_fields = fields


class EmergencyContactSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    phone = serializers.CharField(max_length=32)
    relation = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")

    def to_internal_value(self, data):
        # A PATCH is partial, and DRF hands that down to nested serializers, which would then skip
        # their required fields: a contact always needs its name and phone.
        value = super().to_internal_value(data)
        missing = {f: ["This field is required."] for f in ("name", "phone") if not value.get(f)}
        if missing:
            raise serializers.ValidationError(missing)
        value.setdefault("relation", "")
        return value


class PatientSerializer(serializers.ModelSerializer):
    """Who may write which field is patients.permissions' rule (context["relation"])."""

    emergency_contacts = EmergencyContactSerializer(many=True, required=False)
    notification_channels = serializers.ListField(
        child=serializers.ChoiceField(choices=CHANNEL_CHOICES), required=False, max_length=len(CHANNEL_CHOICES)
    )
    has_login = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = [
            "id",
            "clinic",
            "full_name",
            "date_of_birth",
            "status",
            "time_zone",
            "email",
            "phone",
            "emergency_contacts",
            "notification_channels",
            "language",
            "has_login",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "clinic", "has_login", "created_at", "updated_at"]
        extra_kwargs = {"time_zone": {"required": True}}

    def get_has_login(self, patient) -> bool:
        return patient.user_id is not None

    def validate_notification_channels(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Name each channel at most once.")
        return value

    def refuse_unpermitted(self):
        """A change to an existing patient: 403 with a message for each field this person may
        not change (patients.permissions, the rule the pages use too), or for the whole record
        when they may change none of it. Call it before is_valid, so bad values of refused
        fields are refused for who sends them, not for how they are written."""
        relation = self.context.get("relation", frozenset())
        wanted = self.initial_data if isinstance(self.initial_data, Mapping) else {}
        refused = permissions.refused_fields(relation, wanted)
        may_change = permissions.editable_fields(relation) & permissions.PATIENT_FIELDS
        if permissions.SELF in relation:
            message = _("Only your clinic can change this.")
        else:
            message = _("Only the patient or their clinic can change this.")
        if refused:
            raise exceptions.PermissionDenied({field: [message] for field in refused})
        if not may_change:
            raise exceptions.PermissionDenied(message)

    def validate(self, data):
        if self.instance is not None:
            # The same rule once more, on what was actually parsed.
            refused = permissions.refused_fields(self.context.get("relation", frozenset()), data)
            if refused:
                raise exceptions.PermissionDenied({field: [_("You cannot change this.")] for field in refused})
        return data
