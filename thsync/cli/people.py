"""Support's commands for the people lifecycle: reconciliations, scheduled actions, holds.

flask --app server reconcile run acme [--dry-run]     # bring TH in line with EH now
flask --app server reconcile show 7 [--json]          # a stored drift report
flask --app server schedule list [--tenant acme]      # future creations/deactivations
flask --app server schedule cancel 12
flask --app server holds list | show 3 | release 3 | discard 3
"""

import json
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from thsync.cli.context import services
from thsync.core.errors import DomainError
from thsync.people import safeguards
from thsync.people.reconcile import LISTS, reconcile
from thsync.people.timing import describe

reconcile_cli = AppGroup("reconcile", help="Full reconciliation of a tenant and its reports.")
schedule_cli = AppGroup("schedule", help="Scheduled creations, deactivations, reconciliations.")
holds_cli = AppGroup("holds", help="Actions the safeguards held for support.")


def zone_of(tenant_id: str) -> str:
    tenant, _ = services().registry.get(tenant_id)
    return tenant.time_zone if tenant else "UTC"


@reconcile_cli.command("run")
@click.argument("tenant_id")
@click.option("--dry-run", is_flag=True, help="only report what would change")
def run_command(tenant_id: str, dry_run: bool) -> None:
    """List everyone in EH and TH and bring TH in line (or, with --dry-run, only report).
    Refused while another reconciliation of the tenant runs (scheduled, or another CLI)."""
    try:
        result = reconcile(services(), tenant_id, dry_run=dry_run)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(format_report(result["id"], tenant_id, result["report"]))


@reconcile_cli.command("show")
@click.argument("rec_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="the whole report as JSON")
def show_command(rec_id: int, as_json: bool) -> None:
    """A stored drift report."""
    found = services().store.reconciliations.get(rec_id)
    if found is None:
        raise click.ClickException(f"reconciliation {rec_id} does not exist")
    if as_json:
        click.echo(json.dumps(found, indent=2, default=str))
        return
    click.echo(format_report(rec_id, found["tenant_id"], found["report"]))


@reconcile_cli.command("list")
@click.option("--tenant", "tenant_id")
def list_command(tenant_id: str | None) -> None:
    """Recent reconciliations, newest first."""
    for rec in services().store.reconciliations.find(tenant_id):
        counts = ", ".join(f"{k} {v}" for k, v in rec["summary"].items() if v)
        mode = "dry run" if rec["dry_run"] else rec["trigger"]
        click.echo(f"#{rec['id']}\t{rec['tenant_id']}\t{rec['status']}\t{mode}\t{counts}")


def format_report(rec_id: int, tenant_id: str, report: dict[str, Any]) -> str:
    """The drift report in words: one line per person under each heading."""
    title = "dry run: nothing was written" if report.get("dry_run") else "written to TH"
    lines = [f"reconciliation #{rec_id} of {tenant_id} ({title})"]
    for section in LISTS:
        items = report.get(section) or []
        lines.append(f"{section}: {len(items)}")
        lines.extend(f"  {describe_item(section, item)}" for item in items)
    lines.append(f"unchanged: {report.get('unchanged', 0)}")
    calls = report.get("calls") or {}
    lines.append(
        f"API calls: EH {calls.get('eh', 0)}, TH {calls.get('th', 0)} "
        f"({calls.get('th_writes', 0)} writes)"
    )
    return "\n".join(lines)


def describe_item(section: str, item: dict[str, Any]) -> str:
    who = item.get("user_name") or item.get("employee_id")
    if item.get("name"):
        who = f"{item['name']} ({who})"
    if section == "updated":
        changes = item.get("changes") or {}
        return f"{who}: " + "; ".join(
            f"{key} {c['before']!r} → {c['after']!r}" for key, c in sorted(changes.items())
        )
    if section == "recovered":
        return f"{who}: {item['action']}, recovered by reconciliation ({item['webhook']})"
    if section == "unknown":
        return f"{who} <{item.get('email')}>: {item['action']}"
    if section == "conflicts":
        return f"{who}: {item['email']} already belongs to {item['held_by']}"
    if section == "scheduled":
        return f"{who}: {item['action']} at {item['due']}"
    detail = item.get("reason") or item.get("error") or ""
    return f"{who}: {detail}" if detail else str(who)


@schedule_cli.command("list")
@click.option("--tenant", "tenant_id")
@click.option("--all", "show_all", is_flag=True, help="fired and cancelled ones too")
def schedule_list(tenant_id: str | None, show_all: bool) -> None:
    """Scheduled actions with their due time in the tenant's time zone."""
    store = services().store
    for action in store.schedule.find(tenant_id, status=None if show_all else "pending"):
        due = describe(action["due_at"], zone_of(action["tenant_id"]))
        who = action["employee_id"] or "(whole tenant)"
        click.echo(
            f"#{action['id']}\t{action['tenant_id']}\t{who}\t{action['action']}\t{due}\t"
            f"{action['status']}\t{action['reason'] or ''}"
        )


@schedule_cli.command("cancel")
@click.argument("action_id", type=int)
def schedule_cancel(action_id: int) -> None:
    """Cancel one pending scheduled action."""
    cancelled = services().store.schedule.cancel(action_id=action_id, reason="cancelled by support")
    if not cancelled:
        raise click.ClickException(f"no pending scheduled action {action_id}")
    click.echo(f"scheduled action {action_id} cancelled")


@holds_cli.command("list")
@click.option("--tenant", "tenant_id")
def holds_list(tenant_id: str | None) -> None:
    """Open holds: what the safeguards stopped, waiting for support."""
    for hold in services().store.holds.find(tenant_id):
        click.echo(
            f"#{hold['id']}\t{hold['tenant_id']}\t{hold['kind']}\t{len(hold['items'])} "
            f"person(s)\t{hold['reason']}"
        )


@holds_cli.command("show")
@click.argument("hold_id", type=int)
def holds_show(hold_id: int) -> None:
    hold = services().store.holds.get(hold_id)
    if hold is None:
        raise click.ClickException(f"hold {hold_id} does not exist")
    click.echo(json.dumps(hold, indent=2, default=str))


@holds_cli.command("release")
@click.argument("hold_id", type=int)
def holds_release(hold_id: int) -> None:
    """Carry out the held actions (a mass deactivation) and close the hold."""
    try:
        done = safeguards.release(services(), hold_id)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"hold {hold_id} released: {len(done['deactivated'])} deactivated, "
        f"{len(done['failed'])} failed"
    )
    for failure in done["failed"]:
        click.echo(f"  {failure['user_name']}: {failure['error']}")


@holds_cli.command("discard")
@click.argument("hold_id", type=int)
def holds_discard(hold_id: int) -> None:
    """Close the hold without carrying anything out."""
    try:
        safeguards.discard(services(), hold_id)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"hold {hold_id} discarded: nothing was done")


def init_app(app: Flask) -> None:
    for group in (reconcile_cli, schedule_cli, holds_cli):
        app.cli.add_command(group)
