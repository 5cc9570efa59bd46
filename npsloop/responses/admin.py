from django.contrib import admin

from npsloop.responses.models import Response


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["pk", "survey", "score", "created_at"]
    list_filter = ["score"]
    raw_id_fields = ["invitation", "contact", "survey"]
