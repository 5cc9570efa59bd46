from django.contrib import admin

from npsloop.accounts.forms import AdminLoginForm
from npsloop.accounts.models import ApiToken, Membership, Organization

# The operators' sign-in at /admin/ has the same failed-attempt lockout as /login/.
admin.site.login_form = AdminLoginForm


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "organization", "scope", "created_at", "revoked_at"]
    list_filter = ["scope"]
    readonly_fields = ["prefix", "digest", "last_used_at"]
