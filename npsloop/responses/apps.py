from django.apps import AppConfig


class ResponsesConfig(AppConfig):
    name = "npsloop.responses"
    label = "responses"
