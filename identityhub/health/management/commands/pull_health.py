"""Pull sync health from Microsoft Graph once.

    pull_health TENANT_SLUG [--json]
        a pull for a stored tenant: stores the snapshot (like the 30-minute task) and prints it.
    pull_health --tenant-id ID --client-id ID [--json]
        the same pull with credentials not yet stored (secret from GRAPH_CLIENT_SECRET): writes
        nothing, to check an app registration before saving it.

Bad credentials, a missing permission, throttling that does not end or an unreachable host end
with the reason on stderr and exit status 1.
"""

import json
import os

from django.core.management.base import BaseCommand, CommandError

from identityhub.health import pulls
from identityhub.lib import graph
from identityhub.tenants.models import Tenant


class Command(BaseCommand):
    help = "Pull sync health from Microsoft Graph for a tenant (stored), or for given credentials (nothing stored)."

    def add_arguments(self, parser):
        parser.add_argument("tenant", nargs="?", metavar="TENANT_SLUG")
        parser.add_argument("--tenant-id", help="Entra tenant ID, with --client-id: nothing is stored")
        parser.add_argument("--client-id", help="application (client) ID; the secret comes from GRAPH_CLIENT_SECRET")
        parser.add_argument("--json", action="store_true", help="print the snapshot as JSON")

    def handle(self, *args, tenant, tenant_id, client_id, **options):
        if bool(tenant) == bool(tenant_id or client_id):
            raise CommandError("Give a TENANT_SLUG, or --tenant-id and --client-id (not both).")
        try:
            data = self._stored(tenant) if tenant else self._unstored(tenant_id, client_id)
        except graph.GraphError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
        else:
            self._summary(data)

    def _stored(self, slug: str) -> dict:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {slug!r}.")
        snapshot = pulls.pull(tenant)
        return {"tenant": tenant.slug, "snapshot_id": snapshot.pk, "taken": snapshot.taken.isoformat(), **snapshot.raw}

    def _unstored(self, tenant_id: str | None, client_id: str | None) -> dict:
        if not (tenant_id and client_id):
            raise CommandError("--tenant-id and --client-id go together.")
        secret = os.environ.get("GRAPH_CLIENT_SECRET", "")
        if not secret:
            raise CommandError("Set the environment variable GRAPH_CLIENT_SECRET to the app's client secret.")
        with pulls.make_client(tenant_id, client_id, secret=secret) as client:
            return graph.pull_health(client).to_json()

    def _summary(self, data: dict) -> None:
        out = self.stdout.write
        out(f"sync enabled:       {'yes' if data['sync_enabled'] else 'no'}")
        out(f"last sync:          {data['last_sync'] or 'never'}")
        out(f"last password sync: {data['last_password_sync'] or 'never'}")
        out(f"verified domains:   {', '.join(data['verified_domains']) or 'none'}")
        for kind, counts in data["counts"].items():
            out(f"{kind + ':':<20}{counts['synced']} synced, {counts['cloud_only']} cloud-only")
        out(f"provisioning errors: {len(data['provisioning_errors'])}")
        for e in data["provisioning_errors"]:
            out(f"  {e['object_type']} {e['display_name']}: {e['category']} {e['property']} {e['value']}")
        cloud = data.get("cloud_sync") or {}
        jobs = [(c["display_name"], j) for c in cloud.get("configurations", []) for j in c["jobs"]]
        out(f"cloud sync jobs:    {len(jobs) or 'none'}")
        for name, job in jobs:
            quarantine = f" ({job['quarantine']['reason']})" if job["quarantine"] else ""
            out(f"  {name} {job['template']}: {job['status']}{quarantine}, {job['escrows']} escrowed")
        licensing = data.get("licensing") or {}
        codes = ", ".join(f"{n} {code}" for code, n in (licensing.get("errors_by_code") or {}).items())
        out(f"licence errors:     {codes or 'none'}")
        without = (licensing.get("users_without_usage_location") or {}).get("synced", 0)
        out(f"no usage location:  {without} synced user(s)")
        for sku in licensing.get("skus", []):
            out(f"  {sku['sku_part_number']}: {sku['consumed']} of {sku['enabled']} consumed")
        for problem in cloud.get("problems", []) + licensing.get("problems", []):
            out(self.style.WARNING(f"not read: {problem['part']}: needs {problem['permission']}"))
        if "snapshot_id" in data:
            out(self.style.SUCCESS(f"Stored as snapshot #{data['snapshot_id']} of {data['tenant']}."))
