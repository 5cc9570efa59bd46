from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "npsloop.surveys"
    label = "surveys"
