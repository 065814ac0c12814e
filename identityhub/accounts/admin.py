from django.contrib import admin

from .models import EntraIdentity


@admin.register(EntraIdentity)
class EntraIdentityAdmin(admin.ModelAdmin):
    list_display = ["upn", "display_name", "tenant_id", "object_id", "last_sign_in"]
    search_fields = ["upn", "display_name", "object_id"]
    readonly_fields = ["user", "tenant_id", "object_id", "upn", "display_name", "first_sign_in", "last_sign_in"]
