"""The embedded run: SQLite and the filesystem broker unless DATABASE_URL/REDIS_URL say otherwise."""

from .base import *  # noqa: F403
from .base import env

IBT_ENVIRONMENT = "local"
# Off unless DEBUG=true is set: Django's debug pages list every URL of the app to whoever opens a
# wrong one (a caregiver trying another patient's page), and hide the app's own error pages
# (ibt_companion/errors.py). Static files come from WhiteNoise; the launcher collects them first.
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="local-only-insecure-key-do-not-use-in-production")
# The demo sends real reminders to files the user can read, not to the Internet. (base sets
# EMAIL_BACKEND with vars().update(), where a type checker cannot see it.)
if vars()["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend":
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "sent-mail")  # noqa: F405
