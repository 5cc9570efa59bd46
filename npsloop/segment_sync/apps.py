from django.apps import AppConfig


class SegmentSyncConfig(AppConfig):
    name = "npsloop.segment_sync"
    label = "segment_sync"
