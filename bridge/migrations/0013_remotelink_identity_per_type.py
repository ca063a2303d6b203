"""A remote id is unique per account and kind of record, not per account.

Leeloo's ids are unique within one resource only (its reference gives "Tag #1" and "My tunnel"
the same id), so a tunnel whose id a tag already had could not be mirrored. The identity is now
(account, remote id, content type); every existing link stays as it is: the new unique index
is built beside the old constraint and takes its place, nothing is rewritten.

On PostgreSQL the index is built CONCURRENTLY (a large table keeps taking writes while it is
built) and then made the constraint (``ADD CONSTRAINT … USING INDEX``, a moment's lock); the
old constraint's index is dropped after. Elsewhere Django's own operations do the same.
Going back refuses, with PostgreSQL's error, if two kinds of record now share a remote id.
"""

from django.db import migrations, models

NEW = "remotelink_account_remote_type_unique"
OLD = "remotelink_account_remote_unique"


class AddUniqueConstraintConcurrently(migrations.AddConstraint):
    """Django's AddConstraint, with the index built CONCURRENTLY on PostgreSQL first."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        table = schema_editor.quote_name(model._meta.db_table)
        columns = ", ".join(
            schema_editor.quote_name(model._meta.get_field(name).column)
            for name in self.constraint.fields
        )
        name = schema_editor.quote_name(self.constraint.name)
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")  # a build cut short
        schema_editor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({columns})")
        schema_editor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {name}"
        )


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("bridge", "0012_remotelink_content_type_without_constraint"),
    ]

    operations = [
        AddUniqueConstraintConcurrently(
            model_name="remotelink",
            constraint=models.UniqueConstraint(
                fields=["account", "remote_id", "content_type"], name=NEW
            ),
        ),
        migrations.RemoveConstraint(model_name="remotelink", name=OLD),
    ]
