from django.core.management.base import BaseCommand

from npsloop.api.schema import COMMITTED, schema_text


class Command(BaseCommand):
    help = "Write the API's OpenAPI schema to docs/openapi.json (or print it with --stdout)."

    def add_arguments(self, parser):
        parser.add_argument("--stdout", action="store_true")

    def handle(self, *args, stdout=False, **options):
        text = schema_text()
        if stdout:
            self.stdout.write(text, ending="")
        else:
            COMMITTED.write_text(text, encoding="utf-8")
            self.stdout.write(f"wrote {COMMITTED}")
