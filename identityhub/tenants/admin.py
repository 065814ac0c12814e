from django.contrib import admin

from .models import Forest, Membership, RoleMapping, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    readonly_fields = ["source"]  # given here: local; "mapped" ones come from the mappings below


class RoleMappingInline(admin.TabularInline):
    model = RoleMapping
    extra = 1
    verbose_name = "role from Entra ID"
    verbose_name_plural = "roles from Entra ID (applied at every sign-in with Microsoft)"


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "auth_method", "ruleset"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, RoleMappingInline]


@admin.register(Forest)
class ForestAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "port", "scan_schedule"]
    list_filter = ["tenant"]
    # The stored bind password is never shown back, not even to superusers.
    exclude = ["bind_password"]
