from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from npsloop.accounts.models import Organization


class Contact(models.Model):
    class Gender(models.TextChoices):
        UNKNOWN = "", _("Unknown")
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")
        DIVERSE = "diverse", _("Diverse")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="contacts"
    )
    email = models.EmailField(_("email"), max_length=254)
    external_id = models.CharField(_("user id"), max_length=200, blank=True)
    anonymous_id = models.CharField(_("anonymous id"), max_length=200, blank=True)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    gender = models.CharField(_("gender"), max_length=16, choices=Gender.choices, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    # The customer's own creation time (Segment's createdAt), used by the send rules.
    signed_up_at = models.DateTimeField(_("created at"), null=True, blank=True)
    properties = models.JSONField(_("properties"), default=dict, blank=True)
    # Timestamp of the Segment event whose traits are stored: an older event
    # arriving late must not overwrite newer traits.
    traits_updated_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "organization", Lower("email"), name="contact_email_unique_per_org"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["organization", "external_id"]),
            models.Index(fields=["organization", "anonymous_id"]),
            # The roll-ups' refresh (changed contacts) and the dashboard's counts.
            models.Index(fields=["organization", "updated_at"], name="contact_org_updated"),
            models.Index(
                fields=["organization", "unsubscribed_at"], name="contact_org_unsubscribed"
            ),
            models.Index(fields=["organization", "bounced_at"], name="contact_org_bounced"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def can_receive(self) -> bool:
        return self.unsubscribed_at is None and self.bounced_at is None
