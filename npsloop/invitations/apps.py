from django.apps import AppConfig


class InvitationsConfig(AppConfig):
    name = "npsloop.invitations"
    label = "invitations"
