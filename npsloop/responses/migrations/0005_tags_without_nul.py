"""Drop NUL from the tag names already stored (SQLite only: PostgreSQL never stored one).

Tag names are now cleaned of control characters (workflow.clean_tag); a NUL stored
before cut the SQLite export's CSV line short. Read in Python: SQLite's string functions
stop at a NUL.
"""

from django.db import migrations


def strip_nul(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    tag = apps.get_model("responses", "Tag")
    tags = tag.objects.using(schema_editor.connection.alias)
    taken = set(tags.values_list("organization_id", "name"))
    for pk, organization_id, name in list(tags.values_list("pk", "organization_id", "name")):
        cleaned = name.replace("\x00", "")
        # A name that would then be empty or another tag's is left (names are unique).
        if cleaned != name and cleaned and (organization_id, cleaned) not in taken:
            tags.filter(pk=pk).update(name=cleaned)
            taken.add((organization_id, cleaned))


class Migration(migrations.Migration):
    dependencies = [("responses", "0004_updated_indexes")]

    operations = [migrations.RunPython(strip_nul, migrations.RunPython.noop)]
