from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "npsloop.ops"
    label = "ops"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from npsloop.ops.context import end_request

        # Cleared when the server closes the response, after Django's own
        # "django.request" lines (4xx/5xx), so those carry the request id too.
        request_finished.connect(end_request, dispatch_uid="npsloop.ops.end_request")
