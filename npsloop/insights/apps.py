from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "npsloop.insights"
    label = "insights"

    def ready(self) -> None:
        from npsloop.insights import signals  # noqa: F401  (connects the receivers)
