"""npsloop manage retention [--dry-run] [--months N] [--mode anonymise|delete]"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from npsloop.ops import retention


class Command(BaseCommand):
    help = (
        "Anonymise or delete responses, contacts and their traces older than "
        "RETENTION_MONTHS (RETENTION_MODE), per organization, and print the counts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would change, change nothing"
        )
        parser.add_argument("--months", type=int, default=None, help="instead of RETENTION_MONTHS")
        parser.add_argument(
            "--mode", choices=retention.MODES, default=None, help="instead of RETENTION_MODE"
        )
        parser.add_argument("--batch-size", type=int, default=retention.BATCH_SIZE)

    def handle(self, *args, dry_run=False, months=None, mode=None, batch_size=500, **options):
        months = settings.NPSLOOP_RETENTION_MONTHS if months is None else months
        mode = mode or settings.NPSLOOP_RETENTION_MODE
        if months <= 0:
            self.stdout.write(
                "Retention is off (RETENTION_MONTHS=0): everything is kept. "
                "Use --months N to try it."
            )
            return
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        report = retention.run_retention(
            months=months, mode=mode, dry_run=dry_run, batch_size=batch_size
        )
        self.stdout.write(
            f"retention: {mode} what is older than {months} months "
            f"(created before {report.cutoff:%Y-%m-%d %H:%M} UTC)"
            + (" [dry run: nothing changed]" if dry_run else "")
        )
        for org in report.organizations:
            changed = {key: value for key, value in org.counts.items() if value}
            summary = ", ".join(f"{key} {value}" for key, value in changed.items())
            self.stdout.write(
                f"  organization {org.organization_id} {org.name}: {summary or 'nothing to do'}"
            )
        totals = {key: value for key, value in report.totals.items() if value}
        self.stdout.write(
            ("total (dry run): " if dry_run else "total: ")
            + (", ".join(f"{key} {value}" for key, value in totals.items()) or "nothing to do")
        )
