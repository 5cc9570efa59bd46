from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "npsloop.insights"
    label = "insights"
