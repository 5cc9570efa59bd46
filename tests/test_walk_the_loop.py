"""The README's walk-through script, against a live server with in-process jobs."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "walk_the_loop.py"


@pytest.mark.django_db(transaction=True)
def test_walk_the_loop_script(live_server, settings, outbox_mode, capsys):
    settings.BASE_URL = live_server.url
    spec = importlib.util.spec_from_file_location("walk_the_loop", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.walk(live_server.url, timeout=10) == 0
    assert "The loop works: NPS 100" in capsys.readouterr().out
