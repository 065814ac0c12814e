"""An expression index for one lookup: vetting's "is this sAMAccountName taken in the domain"
(remediation/vetting.sam_holders), which otherwise reads every object of the forest's kept scans
(~300 ms a vetted row at 3 x 100,000 objects; ~0.1 ms with it). Its expression is the one Django
writes for `attributes__samaccountname__0__iexact`. PostgreSQL only (SQLite reads the snapshot,
as before); built CONCURRENTLY, so a large table is not locked against scans while it builds.

The cost is on scan writes: one more index entry per stored object (measured on 100,000 rows:
about 10 to 20 % more time for the objects' INSERT, noisy on a shared machine), smaller than the
(scan, guid) key's index (17 MB against 20 MB for 300,000 objects).
"""

from django.db import migrations

INDEX = "scans_directoryobject_sam"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON scans_directoryobject "
        "(scan_id, UPPER((attributes #>> '{samaccountname,0}'::text[])))"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("scans", "0010_i18p_finding_list_indexes")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
