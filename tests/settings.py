"""Test settings: the product's settings with jobs run in-process and a private data dir."""

import os
import tempfile

os.environ.setdefault("JOBS_URL", "immediate")
os.environ.setdefault("NPSLOOP_DATA_DIR", os.path.join(tempfile.gettempdir(), "npsloop-tests"))
os.environ.setdefault("BASE_URL", "http://testserver")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from npsloop.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests only

LOGGING["loggers"]["mail.log"] = {"level": "WARNING"}  # noqa: F405  (aiosmtpd's chatter)
