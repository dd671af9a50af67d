"""The Alembic environment. thsync.store.migrate hands over the store's own connection, already
inside a transaction (holding PostgreSQL's advisory lock, or SQLite's write lock), so every
revision of one upgrade commits, or rolls back, together."""

from alembic import context

from thsync.store.schema import metadata


class NoConnection(Exception):
    """Run migrations through the app (`flask --app server db …`), which hands over a connection."""


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise NoConnection(NoConnection.__doc__)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        on_version_apply=context.config.attributes.get("on_version_apply"),
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
