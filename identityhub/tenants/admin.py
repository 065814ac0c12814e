from django.contrib import admin

from .models import Forest, Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "auth_method", "ruleset"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Forest)
class ForestAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "port", "scan_schedule"]
    list_filter = ["tenant"]
    # The stored bind password is never shown back, not even to superusers.
    exclude = ["bind_password"]
