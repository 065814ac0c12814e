"""The audit trail in Django's admin, read-only: changes are immutable, waivers and jobs are made by the app."""

from django.contrib import admin

from .models import ApplyRun, Change, Waiver


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Change)
class ChangeAdmin(ReadOnlyAdmin):
    list_display = ["created", "tenant", "forest", "dn", "attribute", "action", "result", "requested_by", "approved_by"]
    list_filter = ["tenant", "action", "result"]
    search_fields = ["dn", "attribute"]
    date_hierarchy = "created"
    list_select_related = ["tenant", "forest", "requested_by", "approved_by"]


@admin.register(Waiver)
class WaiverAdmin(ReadOnlyAdmin):
    list_display = ["finding", "tenant", "expires_on", "created_by", "created", "reopened_at"]
    list_filter = ["tenant"]
    search_fields = ["justification", "finding__dn"]
    list_select_related = ["tenant", "finding", "created_by"]


@admin.register(ApplyRun)
class ApplyRunAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "tenant", "status", "done", "total", "requested_by", "created", "finished"]
    list_filter = ["tenant", "status"]
    list_select_related = ["tenant", "requested_by"]
