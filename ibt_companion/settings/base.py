"""Settings shared by every environment, read from the environment (12-factor).

Environment-specific modules (local, test, production) import this and change only what
differs. Nothing here talks to the network.
"""

from datetime import timedelta
from email.utils import formataddr
from pathlib import Path
from typing import Any

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A .env file is optional; real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

IBT_ENVIRONMENT = "base"

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

VAR_DIR = Path(env.str("IBT_VAR_DIR", default=str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "ibt_companion.apps.IbtCompanionConfig",
    "patients",
    "refills",
    "symptoms",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, so static files keep their caching; above the rest, so it sees their answers.
    "ibt_companion.no_store.NoStoreMiddleware",
    # A database outage anywhere below answers 503 with the emergency number (ibt_companion/outage.py).
    "ibt_companion.outage.OutageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Before anything reads the user: the public emergency check answers without the database.
    "ibt_companion.outage.AnonymousDuringOutageMiddleware",
    "patients.middleware.SessionTimeoutMiddleware",
    "patients.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ibt_companion.urls"
WSGI_APPLICATION = "ibt_companion.wsgi.application"
ASGI_APPLICATION = "ibt_companion.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "patients.context_processors.roles",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
# SQLite is the embedded default so that the app runs with no server. Web, worker and beat
# share the file, so it needs WAL, IMMEDIATE transactions and a busy timeout.
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'ibt_companion.sqlite3'}")}


def tune_database(db: dict) -> dict:
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db.setdefault("OPTIONS", {}).update(
            {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            }
        )
    else:
        db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
        db["CONN_HEALTH_CHECKS"] = True
        if db["ENGINE"] == "django.db.backends.postgresql":
            # Short indexed queries only: JIT compilation costs more than it saves (bench/).
            db.setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
    db["ATOMIC_REQUESTS"] = False
    return db


tune_database(DATABASES["default"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- People and log-in ------------------------------------------------------------------
AUTH_USER_MODEL = "patients.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTHENTICATION_BACKENDS = [
    # django-axes first, so a locked-out (user, IP) pair is refused before any password check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Throttling: by (user, IP), cool-off 15 minutes, reset on success; never a permanent lock.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Tries during a lock-out do not extend it: nobody can keep a patient locked out for good.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_CALLABLE = "patients.throttling.axes_username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# How many trusted proxies stand in front of the app (each appends to X-Forwarded-For): the
# address every throttle counts by (patients.throttling.client_ip). 0: the socket's address.
PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "patients.throttling.client_ip"
AXES_VERBOSE = False

# Sessions: idle limits per role (minutes), and 12 hours in all.
# The clinic queue keeps its rendered rows this long per state of the queue (console/snapshot.py);
# a change to the queue shows at once whatever this says. 0 makes the rows on every request.
QUEUE_SNAPSHOT_SECONDS = env.int("QUEUE_SNAPSHOT_SECONDS", default=5)
# Per process is enough: the keys come from the database, so no process can serve another's
# stale rows. (Django's default; written out so that nobody "fixes" it into a shared cache.)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ibt"}}

SESSION_IDLE_MINUTES_STAFF = 15
SESSION_IDLE_MINUTES_OTHER = 60
SESSION_ABSOLUTE_HOURS = 12
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_HOURS * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Two-step log-in (TOTP) for clinic staff; the app names itself in authenticator apps.
OTP_TOTP_ISSUER = "IBT Companion"
# django-otp's own throttle doubles the wait after every wrong code without end, so a password
# thief could lock the owner out for good; patients.two_factor bounds the wait instead.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0

# Shown on the log-in page and public pages, where no clinic is known yet.
DEFAULT_EMERGENCY_NUMBER = env.str("DEFAULT_EMERGENCY_NUMBER", default="911")

# Invitations (caregiver and patient log-ins) expire after this many days.
INVITATION_MAX_AGE_DAYS = 7

# --- Internationalisation ---------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español"), ("fr", "Français")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- E-mail -----------------------------------------------------------------------------
# EMAIL_URL like smtp://user:password@mail.example.org:587/?tls=True (django-environ).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
# The one address every e-mail comes from (a plain address the SMTP server may send as; production
# refuses a start without one). Mail about a patient shows their clinic's name as the sender
# (patients.emails.sender); mail about no clinic (operations, log-in security) shows EMAIL_FROM_NAME.
EMAIL_FROM_ADDRESS = env.str("EMAIL_FROM_ADDRESS", default="no-reply@localhost")
EMAIL_FROM_NAME = "IBT Companion"
DEFAULT_FROM_EMAIL = formataddr((EMAIL_FROM_NAME, EMAIL_FROM_ADDRESS))
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=15)

# SMS goes through a provider interface; this backend writes each message to a file.
SMS_BACKEND = env.str("SMS_BACKEND", default="refills.notify.channels.sms.FileBackend")
SMS_FILE = env.str("SMS_FILE", default=str(VAR_DIR / "sms-outbox.jsonl"))
# The provider sends inbound texts (STOP, START) with this shared secret; empty refuses them all.
SMS_INBOUND_TOKEN = env.str("SMS_INBOUND_TOKEN", default="")

# --- Celery -----------------------------------------------------------------------------
# With no REDIS_URL, kombu's filesystem transport carries messages, so the embedded run
# needs no server. The database stays the source of truth: the broker only carries work.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = (
    {"visibility_timeout": 3600}
    if REDIS_URL
    else {
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "processed_folder": str(VAR_DIR / "broker-processed"),
        "control_folder": str(VAR_DIR / "broker-control"),
        "store_processed": False,
    }
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True  # no result backend: nothing reads a task's return value
# A pool process keeps its database connection between tasks (ibt_companion/worker_db.py):
# Celery's Django fixup closes it only every this many tasks, Django's CONN_MAX_AGE and health
# checks do the rest, and where CONN_MAX_AGE is 0 a worker keeps it this many seconds.
CELERY_DB_REUSE_MAX = 1000
WORKER_CONN_MAX_AGE = env.int("WORKER_CONN_MAX_AGE", default=60)
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The scheduler is considered stale when its last tick is older than this.
SCHEDULER_TICK_MAX_AGE_SECONDS = 5 * 60
# The dead man's switch (patients/scheduler_watch.py): every worker checks the scheduler's last
# tick this often, and when it is stale e-mails OPERATIONS_EMAIL (empty: nobody, and the workers
# do not check), then again every SCHEDULER_ALARM_REPEAT_SECONDS, and once when it ticks again.
OPERATIONS_EMAIL = env.str("OPERATIONS_EMAIL", default="")
SCHEDULER_WATCH_INTERVAL_SECONDS = env.float("SCHEDULER_WATCH_INTERVAL_SECONDS", default=60.0)
SCHEDULER_ALARM_REPEAT_SECONDS = 60 * 60
# Each minute tick also fetches this URL (a healthchecks.io-style check; empty: off), so a
# monitor outside the app notices when the pings stop. A failed ping never fails the tick.
SCHEDULER_HEARTBEAT_URL = env.str("SCHEDULER_HEARTBEAT_URL", default="")
SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS = 5.0

# --- REST API ---------------------------------------------------------------------------
# No request of ours comes near this (Django's default is 2.5 MB); over it, the API answers 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "patients.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's JSON parser with a depth limit (ibt_companion/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "ibt_companion.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "ibt_companion.schema.ErrorResponsesAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "ibt_companion.pagination.PageNumberPagination",  # ?page=abc is a 400
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "ibt_companion.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "IBT Companion API",
    "DESCRIPTION": "Pump profile, refill forecast, reminders, symptom triage and the clinic queue.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
API_DOCS_REQUIRE_LOGIN = False  # production: True (docs/security.md)

# --- Security headers (tightened further in production) ---------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_HTTPONLY = True
# A form sent too late or without cookies: a page in plain words (JSON under /api/).
CSRF_FAILURE_VIEW = "ibt_companion.errors.csrf_failure"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
