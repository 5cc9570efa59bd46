from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "npsloop.web"
    label = "web"
