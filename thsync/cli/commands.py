"""Support's commands: `flask --app server <group> <command>` (see `--help` on each)."""

import json
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from thsync.cli import database, people
from thsync.cli.context import services, settings
from thsync.config.settings import SETTINGS
from thsync.config.tenants import TenantFileErrors, load_tenant, tenant_files
from thsync.pipeline.worker import Worker
from thsync.rules.engine import build_context, evaluate
from thsync.rules.ruleset import RuleFileErrors, load_ruleset

rules_cli = AppGroup("rules", help="Check rule and tenant files; preview a decision.")
jobs_cli = AppGroup("jobs", help="List and retry sync jobs.")
deliveries_cli = AppGroup("deliveries", help="Inspect and replay received webhooks.")


def check_tenant(path: Path, rules_dir: Path) -> list[str] | None:
    """The tenant file's problems and its rules'; None for a tenant this mode does not load (a
    development-only one in production), as the registry skips it."""
    production = settings()["MODE"] == "production"
    try:
        tenant = load_tenant(path, settings().get("ENV"), production)
    except TenantFileErrors as exc:
        return [str(e) for e in exc.errors]
    if tenant is None:
        return None
    try:
        load_ruleset(rules_dir, tenant.id)
    except RuleFileErrors as exc:
        return [str(e) for e in exc.errors]
    return []


@rules_cli.command("check")
@click.argument("tenants", nargs=-1)
def check_command(tenants: tuple[str, ...]) -> None:
    """Check every tenant file and the rules each uses; print every error. Exit 1 on errors."""
    rules_dir = Path(settings()["RULES_DIR"])
    paths = tenant_files(Path(settings()["TENANTS_DIR"]))
    if tenants:
        paths = [p for p in paths if p.stem in tenants]
        missing = set(tenants) - {p.stem for p in paths}
        for name in sorted(missing):
            click.echo(f"{name}: no tenant file tenants/{name}.yaml", err=True)
        if missing:
            sys.exit(1)
    problems: list[str] = []
    skipped = 0
    for path in paths:
        found = check_tenant(path, rules_dir)
        if found is None:
            skipped += 1
            click.echo(f"skip  {path.stem} (development only: not loaded in production)")
            continue
        problems.extend(dict.fromkeys(found))
        click.echo(f"{'error' if found else 'ok'}   {path.stem}")
    for problem in problems:
        click.echo(problem, err=True)
    also = f", {skipped} skipped" if skipped else ""
    click.echo(f"{len(paths) - skipped} tenant(s) checked, {len(problems)} error(s){also}")
    sys.exit(1 if problems else 0)


def read_json(path: str | None) -> Any:
    if path is None:
        return None
    data = json.loads(Path(path).read_text())
    return data.get("data", data) if isinstance(data, dict) and "data" in data else data


@rules_cli.command("preview")
@click.argument("tenant_id")
@click.option("--event", "event_file", required=True, help="webhook body (JSON file)")
@click.option("--employee", "employee_file", help="EH employee (JSON file, {data: …} or bare)")
@click.option("--manager", "manager_file", help="EH manager (JSON file)")
@click.option("--custom-fields", "custom_file", help="custom fields {name: value} (JSON)")
@click.option("--now", "now_text", help="ISO date-time to evaluate at (default: now)")
def preview_command(
    tenant_id: str,
    event_file: str,
    employee_file: str | None,
    manager_file: str | None,
    custom_file: str | None,
    now_text: str | None,
) -> None:
    """Show what the rules decide for an event, without calling the HR source or TH."""
    tenant, ruleset = services().registry.get(tenant_id)
    if tenant is None or ruleset is None:
        raise click.ClickException(f"unknown tenant {tenant_id} (or its file does not load)")
    event = json.loads(Path(event_file).read_text())
    source = services().source_for(tenant)  # reads the event only: no call is made
    zone = ZoneInfo(tenant.time_zone)
    now = datetime.fromisoformat(now_text).astimezone(zone) if now_text else datetime.now(zone)
    context = build_context(
        event=event,
        event_type=source.read_event(ruleset, event).get("event_type"),
        employee=read_json(employee_file) or source.event_person(event) or None,
        manager=read_json(manager_file),
        custom_fields=read_json(custom_file),
        tenant=tenant.context(),
        now=now,
    )
    click.echo(json.dumps(evaluate(ruleset, context).as_dict(), indent=2, default=str))


@jobs_cli.command("list")
@click.option("--tenant", "tenant_id")
@click.option(
    "--status", type=click.Choice(["queued", "retry", "running", "succeeded", "skipped", "failed"])
)
@click.option("--limit", default=50, show_default=True)
def list_jobs(tenant_id: str | None, status: str | None, limit: int) -> None:
    """Recent jobs, newest first."""
    for job in services().store.history.find(tenant_id=tenant_id, status=status, limit=limit):
        click.echo(
            f"#{job.id}\t{job.tenant_id}\t{job.employee_id}\t{job.status}\t"
            f"{job.outcome or ''}\t{job.reason or ''}"
        )


@jobs_cli.command("retry")
@click.option("--tenant", "tenant_id", help="only this tenant's failed jobs")
@click.argument("job_ids", nargs=-1, type=int)
def retry_jobs(tenant_id: str | None, job_ids: tuple[int, ...]) -> None:
    """Queue failed jobs again (all failed jobs, a tenant's, or the ids given)."""
    requeued = services().store.jobs.requeue_failed(tenant_id=tenant_id, job_ids=job_ids)
    click.echo(f"{len(requeued)} job(s) queued again: {', '.join(map(str, requeued)) or '-'}")


@deliveries_cli.command("replay")
@click.argument("delivery_id", type=int)
def replay(delivery_id: int) -> None:
    """Sync the delivery's employee again (their latest EH state)."""
    job_id = services().store.jobs.queue_replay(delivery_id)
    if job_id is None:
        raise click.ClickException(f"delivery {delivery_id} does not exist or names no employee")
    click.echo(f"delivery {delivery_id} queued as job {job_id}")


@deliveries_cli.command("show")
@click.argument("delivery_id", type=int)
def show_delivery(delivery_id: int) -> None:
    delivery = services().store.deliveries.get(delivery_id)
    if delivery is None:
        raise click.ClickException(f"delivery {delivery_id} does not exist")
    click.echo(json.dumps(delivery, indent=2, default=str))


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="run every runnable job, then exit")
def worker_command(once: bool) -> None:
    """Run a worker process (run as many as you like against PostgreSQL)."""
    worker = Worker(services())
    if once:
        click.echo(f"{worker.drain(ignore_run_after=False)} job(s) run")
        return
    stop = threading.Event()
    click.echo(f"worker {worker.name} started")
    try:
        worker.run_forever(stop)
    except KeyboardInterrupt:
        stop.set()


@click.command("settings")
def settings_command() -> None:
    """Every setting, its default and what it does."""
    for setting in SETTINGS:
        click.echo(f"{setting.name}={setting.default!r}\n    {setting.help}")


def init_app(app: Flask) -> None:
    for command in (rules_cli, jobs_cli, deliveries_cli, worker_command, settings_command):
        app.cli.add_command(command)
    people.init_app(app)  # reconcile, schedule, holds
    database.init_app(app)  # db upgrade, current, history, revision
