from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "npsloop.ingest"
    label = "ingest"
