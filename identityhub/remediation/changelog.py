"""The change log, its CSV/LDIF exports, four-eyes approval and the list of exceptions.

(Being written: see the remediation issue.)
"""

from django.http import HttpResponse
from django.views.decorators.http import require_GET, require_POST

from identityhub.tenants.access import tenant_view


@require_GET
@tenant_view("view")
def change_list(request, tenant):
    return HttpResponse("")


@require_GET
@tenant_view("export")
def change_export_csv(request, tenant):
    return HttpResponse("")


@require_GET
@tenant_view("export")
def change_export_ldif(request, tenant):
    return HttpResponse("")


@require_POST
@tenant_view("edit")
def change_approve(request, tenant, change_id):
    return HttpResponse("")


@require_POST
@tenant_view("edit")
def change_reject(request, tenant, change_id):
    return HttpResponse("")


@require_GET
@tenant_view("view")
def waiver_list(request, tenant):
    return HttpResponse("")
