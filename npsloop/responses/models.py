from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from npsloop.accounts.models import Organization
from npsloop.contacts.models import Contact
from npsloop.invitations.models import Invitation
from npsloop.surveys.models import Survey


class Tag(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(_("name"), max_length=50)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="tag_unique_per_org")
        ]

    def __str__(self) -> str:
        return self.name


class Response(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="responses"
    )
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    invitation = models.OneToOneField(
        Invitation, on_delete=models.SET_NULL, null=True, blank=True, related_name="response"
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="responses"
    )
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(10)]
    )
    comment = models.TextField(blank=True)
    language = models.CharField(max_length=8, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    commented_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_responses",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="responses")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__gte=0, score__lte=10), name="response_score_0_10"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["survey", "-created_at"]),
            models.Index(fields=["organization", "score", "-created_at"]),
            models.Index(fields=["organization", "status", "-created_at"]),
            # What changed since a moment: the roll-ups' refresh, the API's updated_since.
            models.Index(fields=["organization", "updated_at"], name="response_org_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.score} ({self.survey})"

    @property
    def category(self) -> str:
        from npsloop.insights.nps import category

        return category(self.score)


class Note(models.Model):
    """An internal note on a response; customers never see it."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    text = models.TextField(_("note"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:50]


class ResponseEvent(models.Model):
    """The response's timeline: replies, forwards, status, tags, assignment."""

    LABELS = {
        "replied": _("replied"),
        "forwarded": _("forwarded"),
        "tagged": _("tagged"),
        "untagged": _("tag removed"),
        "open": _("reopened"),
        "closed": _("closed"),
        "assigned": _("assigned"),
    }

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    kind = models.CharField(max_length=32)
    detail = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return self.kind

    @property
    def label(self) -> str:
        return str(self.LABELS.get(self.kind, self.kind))


class SavedFilter(models.Model):
    """A named inbox filter; notifications and metrics use it again."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="saved_filters"
    )
    name = models.CharField(_("name"), max_length=100)
    query = models.TextField(help_text="The filter as a URL query string.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="saved_filter_name")
        ]

    def __str__(self) -> str:
        return self.name


class ShareLink(models.Model):
    """A static snapshot of filtered responses, readable without an account."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="share_links"
    )
    # Only a digest of the token is stored; the link is shown once.
    token_digest = models.CharField(max_length=64, unique=True)
    title = models.CharField(_("title"), max_length=200)
    query = models.TextField(help_text="The filter the snapshot was taken with.")
    show_identity = models.BooleanField(_("show names and email addresses"), default=False)
    snapshot = models.JSONField()
    count = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title
