from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "npsloop.accounts"
    label = "accounts"
