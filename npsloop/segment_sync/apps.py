from django.apps import AppConfig


class SegmentSyncConfig(AppConfig):
    name = "npsloop.segment_sync"
    label = "segment_sync"

    def ready(self) -> None:
        from npsloop.responses.signals import response_changed
        from npsloop.segment_sync import receivers

        response_changed.connect(
            receivers.on_response_changed, dispatch_uid="segment_sync.response_changed"
        )
