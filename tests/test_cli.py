"""The `npsloop` command: createorg in-process, serve as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from npsloop.accounts.selectors import token_for
from npsloop.cli import main
from tests.smtp import free_port


@pytest.mark.django_db
def test_createorg_prints_a_working_token_and_password(capsys):
    assert main(["createorg", "--name", "Scripted", "--email", "ops@scripted.test", "--write"]) == 0
    out = capsys.readouterr().out
    token = re.search(r"api token: (\S+)", out).group(1)
    password = re.search(r"password: (\S+)", out).group(1)
    found = token_for(token)
    assert found.organization.name == "Scripted" and found.scope == "write"
    from django.contrib.auth import authenticate

    assert authenticate(username="ops@scripted.test", password=password) is not None


def test_serve_starts_on_an_empty_sqlite_database_and_says_how_to_sign_in(tmp_path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "JOBS_URL", "EMAIL_URL", "BASE_URL", "SECRET_KEY"}
    }
    env |= {"NPSLOOP_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "npsloop.settings"}
    server = subprocess.Popen(
        [sys.executable, "-m", "npsloop.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                login = httpx.get(f"http://127.0.0.1:{port}/login/", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            raise AssertionError("the server did not answer")
        assert login.status_code == 200 and "csrfmiddlewaretoken" in login.text
        css = httpx.get(f"http://127.0.0.1:{port}/static/npsloop/app.css", timeout=2)
        assert css.status_code == 200 and "--promoter" in css.text
        assert httpx.get(f"http://127.0.0.1:{port}/r/forged/", timeout=2).status_code == 404
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert f"Create your organization at http://127.0.0.1:{port}/signup/" in out
    assert "emails are kept in the dashboard's outbox" in out
    assert "Huey consumer started" in out  # the built-in worker
    assert (tmp_path / "npsloop.sqlite3").exists() and (tmp_path / "secret_key").exists()
    assert server.returncode == 0
