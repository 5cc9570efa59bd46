from django.contrib import admin

from npsloop.mail.models import OutboundEmail


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "to", "subject", "status"]
    list_filter = ["status", "kind"]
    search_fields = ["to", "subject"]
    readonly_fields = ["raw"]
