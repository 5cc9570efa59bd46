from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "npsloop.mail"
    label = "mail"
