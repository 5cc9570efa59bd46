from django.contrib import admin

from npsloop.surveys.models import Survey, SurveyText


class SurveyTextInline(admin.StackedInline):
    model = SurveyText
    extra = 0


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "organization__name"]
    readonly_fields = ["api_key_prefix", "api_key_digest"]
    inlines = [SurveyTextInline]
