"""Test settings: the product's settings with jobs run in-process and a private data dir."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("JOBS_URL", "immediate")
if "NPSLOOP_DATA_DIR" not in os.environ:
    # A private directory per test run, so two runs never share a SQLite file.
    _data_dir = tempfile.mkdtemp(prefix="npsloop-tests-")
    atexit.register(shutil.rmtree, _data_dir, ignore_errors=True)
    os.environ["NPSLOOP_DATA_DIR"] = _data_dir
os.environ.setdefault("BASE_URL", "http://testserver")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from npsloop.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests only

LOGGING["loggers"]["mail.log"] = {"level": "WARNING"}  # noqa: F405  (aiosmtpd's chatter)
