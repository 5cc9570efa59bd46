"""Drop NUL from the names already stored (SQLite only: PostgreSQL never stored one).

Names are now cleaned of control characters when they are saved (normalize.text); a NUL
stored before cut the SQLite export's CSV line short. Read in Python: SQLite's string
functions stop at a NUL.
"""

from django.db import migrations

FIELDS = ("first_name", "last_name", "external_id")


def strip_nul(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    contact = apps.get_model("contacts", "Contact")
    using = schema_editor.connection.alias
    rows = contact.objects.using(using).values_list("pk", *FIELDS)
    for pk, *values in rows.iterator(chunk_size=2000):
        if any("\x00" in value for value in values):
            cleaned = {f: v.replace("\x00", "") for f, v in zip(FIELDS, values, strict=True)}
            contact.objects.using(using).filter(pk=pk).update(**cleaned)


class Migration(migrations.Migration):
    dependencies = [("contacts", "0004_updated_indexes")]

    operations = [migrations.RunPython(strip_nul, migrations.RunPython.noop)]
