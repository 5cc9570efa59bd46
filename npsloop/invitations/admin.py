from django.contrib import admin

from npsloop.invitations.models import Invitation, InvitationEvent


class EventInline(admin.TabularInline):
    model = InvitationEvent
    extra = 0
    readonly_fields = ["at", "kind", "detail"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["pk", "survey", "contact", "state", "send_at", "attempts", "sent_at"]
    list_filter = ["state", "source"]
    raw_id_fields = ["contact", "survey"]
    readonly_fields = ["key"]
    inlines = [EventInline]
