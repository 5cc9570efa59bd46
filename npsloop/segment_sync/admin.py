from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from npsloop.segment_sync import services
from npsloop.segment_sync.models import SegmentSync


@admin.register(SegmentSync)
class SegmentSyncAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "survey",
        "response",
        "state",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["state"]
    raw_id_fields = ["organization", "survey", "response"]
    readonly_fields = [
        "state",
        "changes",
        "attempts",
        "claimed_at",
        "sent_at",
        "last_error",
        "message_id",
        "payload",
        "created_at",
    ]
    actions = ["send_again"]

    @admin.action(description="Send again now")
    def send_again(self, request: HttpRequest, queryset: QuerySet[SegmentSync]) -> None:
        count = sum(services.retry_now(sync=sync) for sync in queryset)
        self.message_user(request, f"{count} sync(s) scheduled.", messages.SUCCESS)
