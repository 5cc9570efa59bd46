from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "npsloop.accounts"
    label = "accounts"

    def ready(self):
        from npsloop.accounts import throttle  # noqa: F401  (signal receivers)
