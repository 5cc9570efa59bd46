from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "npsloop.notifications"
    label = "notifications"

    def ready(self) -> None:
        from npsloop.contacts.signals import contact_unsubscribed
        from npsloop.notifications import receivers
        from npsloop.responses.signals import response_changed

        response_changed.connect(
            receivers.on_response_changed, dispatch_uid="notifications.response_changed"
        )
        contact_unsubscribed.connect(
            receivers.on_contact_unsubscribed, dispatch_uid="notifications.contact_unsubscribed"
        )
