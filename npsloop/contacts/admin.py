from django.contrib import admin

from npsloop.contacts.models import Contact


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "language", "created_at", "unsubscribed_at"]
    search_fields = ["email", "first_name", "last_name"]
    list_filter = ["language"]
