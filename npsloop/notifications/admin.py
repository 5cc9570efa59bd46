from django.contrib import admin

from npsloop.notifications.models import Channel, Delivery, Rule


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "organization", "active", "created_at"]
    list_filter = ["kind", "active"]
    # The secret is write-only, also for operators.
    exclude = ["secret"]


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ["name", "trigger", "organization", "active"]
    list_filter = ["trigger", "active"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["event_id", "event_type", "channel", "state", "attempts", "created_at"]
    list_filter = ["state", "event_type"]
    readonly_fields = [f.name for f in Delivery._meta.fields]
