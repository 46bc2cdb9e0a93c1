"""The embedded run: SQLite and the filesystem broker unless DATABASE_URL/REDIS_URL say otherwise."""

from .base import *  # noqa: F403
from .base import env

IBT_ENVIRONMENT = "local"
DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="local-only-insecure-key-do-not-use-in-production")
# The demo sends real reminders to files the user can read, not to the Internet. (base sets
# EMAIL_BACKEND with vars().update(), where a type checker cannot see it.)
if vars()["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend":
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "sent-mail")  # noqa: F405
