"""npsloop manage rollups [--rebuild] [--organization ID]"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from npsloop.accounts.models import Organization
from npsloop.insights import rollups


class Command(BaseCommand):
    help = (
        "Bring the dashboard's daily roll-ups up to date (a full build where there is none); "
        "--rebuild recomputes every day."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="recompute every day")
        parser.add_argument("--organization", type=int, help="only this organization (id)")

    def handle(self, *args, rebuild=False, organization=None, **options):
        organizations = Organization.objects.order_by("pk")
        if organization is not None:
            organizations = organizations.filter(pk=organization)
            if not organizations.exists():
                raise CommandError(f"no organization {organization}")
        for org in organizations:
            began = time.monotonic()
            state = rollups.rebuild(org) if rebuild else rollups.refresh(org)
            keys = ", ".join(state.keys) if state and state.keys else "none"
            self.stdout.write(
                f"organization {org.pk} {org.name}: {'rebuilt' if rebuild else 'refreshed'} "
                f"in {time.monotonic() - began:.1f} s (properties: {keys})"
            )
