"""The schema's migrations (Alembic; revisions in thsync/store/migrations/versions/).

flask --app server db upgrade                  # apply every revision not yet applied
flask --app server db current                  # the database's revision
flask --app server db history                  # every revision, newest first
flask --app server db revision -m "add x"      # a new revision from the tables' changes

The app also upgrades at every start, so `db upgrade` is for doing it ahead of a deploy.
"""

import click
from alembic.util import CommandError
from flask import Flask, current_app
from flask.cli import AppGroup

from thsync.store import migrate
from thsync.store.repositories import Store

db_cli = AppGroup("db", help="The database schema: upgrade, current revision, history.")


def store() -> Store:
    built: Store = current_app.extensions["thsync"].store
    return built


@db_cli.command("upgrade")
def upgrade_command() -> None:
    """Bring the schema to the newest revision (safe while other processes start)."""
    applied = store().upgrade()
    if applied:
        click.echo(f"applied {', '.join(applied)}; now at {applied[-1]}")
    else:
        click.echo(f"already at {store().schema_revision()} (head)")


@db_cli.command("current")
def current_command() -> None:
    """The revision the database is at."""
    revision = store().schema_revision()
    if revision is None:
        click.echo("no revision: the database is empty")
    elif revision == migrate.head_revision():
        click.echo(f"{revision} (head)")
    else:
        click.echo(f"{revision} (behind {migrate.head_revision()}: run `db upgrade`)")


@db_cli.command("history")
def history_command() -> None:
    """Every revision, newest first; the database's own is marked."""
    current = store().schema_revision()
    for revision in migrate.revisions():
        marks = {"head": revision.head, "current": revision.id == current}
        suffix = "".join(f" ({m})" for m, on in marks.items() if on)
        click.echo(f"{revision.parent or '<base>'} -> {revision.id}{suffix}: {revision.message}")


@db_cli.command("revision")
@click.option("-m", "--message", required=True, help="what the revision changes")
@click.option("--empty", is_flag=True, help="write upgrade/downgrade by hand, compare nothing")
def revision_command(message: str, empty: bool) -> None:
    """Write the next revision from the difference between the tables and the database."""
    try:
        path = store().write_revision(message, autogenerate=not empty)
    except CommandError as exc:  # e.g. the database is behind head
        raise click.ClickException(str(exc)) from exc
    if path is None:
        click.echo("the tables and the database agree: no revision written")
    else:
        click.echo(f"wrote {path}; read it and adjust before committing")


def init_app(app: Flask) -> None:
    app.cli.add_command(db_cli)
