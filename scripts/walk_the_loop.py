#!/usr/bin/env python3
"""Walk the survey loop against a running npsloop, as a person would in the browser.

    .venv/bin/python scripts/walk_the_loop.py [http://127.0.0.1:8000]

Signs up a new organization, creates a survey, adds a contact, invites them,
waits for the worker to send the email, reads it from the outbox, clicks 9,
writes a comment and checks that the survey's dashboard shows NPS 100.
"""

from __future__ import annotations

import re
import secrets
import sys
import time
from html import unescape

import httpx


def _csrf(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if not match:
        raise SystemExit("no CSRF token on the page")
    return match.group(1)


def _post(client: httpx.Client, path: str, data: dict) -> httpx.Response:
    page = client.get(path)
    page.raise_for_status()
    response = client.post(path, data={"csrfmiddlewaretoken": _csrf(page.text), **data})
    if response.status_code >= 400:
        raise SystemExit(f"POST {path} answered {response.status_code}")
    return response


def step(text: str) -> None:
    print(f"· {text}", flush=True)


def walk(base: str, *, timeout: float = 60.0) -> int:
    base = base.rstrip("/")
    suffix = secrets.token_hex(4)
    email, password = f"walker-{suffix}@example.com", f"walk-the-loop-{suffix}"
    with httpx.Client(base_url=base, follow_redirects=True, timeout=20) as client:
        step(f"sign up as {email}")
        _post(
            client,
            "/signup/",
            {"organization": f"Walkers {suffix}", "email": email, "password": password},
        )

        step("create a survey")
        form = client.get("/surveys/new/").text
        fields = dict(re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', form))
        texts = dict(re.findall(r'<textarea name="([^"]+)"[^>]*>\s*([^<]*)</textarea>', form))
        data = {
            k: unescape(v) for k, v in {**fields, **texts}.items() if k != "csrfmiddlewaretoken"
        }
        data |= {"name": "Walk NPS", "default_language": "en", "salutation": "informal"}
        survey_page = _post(client, "/surveys/new/", data)
        survey_path = re.search(r"/surveys/(\d+)/", str(survey_page.url)).group(0)

        step("add a contact")
        contact_page = _post(
            client,
            "/contacts/new/",
            {"email": f"customer-{suffix}@example.com", "first_name": "Casey", "language": "en"},
        )
        survey_id = survey_path.strip("/").split("/")[-1]

        step("invite the contact now")
        _post(client, str(contact_page.url.path), {"survey": survey_id})

        step("wait for the worker to send the email")
        deadline = time.monotonic() + timeout
        while True:
            outbox = client.get("/outbox/").text
            found = re.search(r'href="(/outbox/(\d+)/)"', outbox)
            if found:
                break
            if time.monotonic() > deadline:
                raise SystemExit("no email in the outbox: is the worker running?")
            time.sleep(1)
        html = client.get(f"/outbox/{found.group(2)}/html").text
        links = dict(
            (int(s), u) for u, s in re.findall(r'href="([^"]+/r/[^"]+/)" title="(\d+)"', html)
        )
        if sorted(links) != list(range(11)):
            raise SystemExit("the email does not have eleven rating links")

    step("click 9 in the email, then comment")
    rating = httpx.URL(unescape(links[9]))
    with httpx.Client(base_url=base, follow_redirects=True, timeout=20) as customer:
        _post(customer, rating.path, {"score": "9", "comment": "Walked the loop, all good."})

    step("see NPS 100 on the survey's dashboard")
    with httpx.Client(base_url=base, follow_redirects=True, timeout=20) as client:
        _post(client, "/login/", {"username": email, "password": password})
        dashboard = client.get(survey_path).text
    nps = re.search(r'id="nps">([^<]+)<', dashboard).group(1).strip()
    if nps != "100" or "Walked the loop, all good." not in dashboard:
        raise SystemExit(f"expected NPS 100 and the comment, got NPS {nps}")
    print(f"The loop works: NPS {nps}. Sign in at {base}/login/ as {email} / {password}")
    return 0


if __name__ == "__main__":
    sys.exit(walk(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
