"""Safeguards: what the sync must not do on its own, and the alerts and holds that replace it.

- Mass deactivation: one reconciliation or one burst of events that would deactivate more
  than `mass_deactivation_percent` of the tenant's active users (and more than
  `mass_deactivation_min` people) deactivates nobody. The list is held and e-mailed; support
  releases or discards it (`flask --app server holds release|discard`). An EH mistake (a
  whole team terminated by an import) must not lock hundreds of people out of their training.
- Switches: `allow_create`, `allow_update`, `allow_deactivate` turn a kind of write off.
- Identity: a user_name is the SSO key and never changes. When the rules would give a person a
  different user_name than the one written (a new employee code), the person is held.
"""

import logging
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from thsync.config.tenants import Tenant
from thsync.core.errors import HoldNotOpen, UnknownTenant
from thsync.tribal_habits.client import THClient
from thsync.tribal_habits.user import normalise_user

if TYPE_CHECKING:
    from thsync.services import Services

log = logging.getLogger(__name__)

SWITCHES = {"create": "allow_create", "update": "allow_update", "deactivate": "allow_deactivate"}
HOLD_COMMAND = "flask --app server holds release {id}   (or: holds discard {id})"


def key(user_name: object) -> str:
    """TH compares user names trimmed and case-blind."""
    return str(user_name or "").strip().lower()


def switched_off(kind: str, options: dict[str, Any]) -> str | None:
    """The reason a kind of write is off for this tenant, or None when it is allowed."""
    option = SWITCHES[kind]
    if options.get(option, True) is False:
        return f"{kind} is switched off for this tenant (options.{option}: false)"
    return None


def mass_limit(active_users: int, options: dict[str, Any]) -> int:
    """The most deactivations one run may make without support's say-so."""
    share = math.floor(active_users * options.get("mass_deactivation_percent", 10) / 100)
    return max(share, int(options.get("mass_deactivation_min", 5)))


def identity_change(snapshot: dict[str, Any] | None, user_name: object) -> str | None:
    """Why the person must be held, when the rules give them another user_name than TH's."""
    if not snapshot or not snapshot.get("user_name") or not user_name:
        return None
    if key(snapshot["user_name"]) == key(user_name):
        return None
    return (
        f"the rules now give user_name {user_name!r}, but Tribal Habits knows this person as "
        f"{snapshot['user_name']!r}; a user_name never changes, so nothing was created "
        "(check the EH field user_name comes from, e.g. a new employee code)"
    )


def email_holder(
    users_by_email: dict[str, dict[str, Any]], email: object, user_name: object
) -> dict[str, Any] | None:
    """Another TH user holding this e-mail (TH refuses a second user with it)."""
    holder = users_by_email.get(key(email))
    if holder is not None and key(holder.get("user_name")) != key(user_name):
        return holder
    return None


def index_by_email(users: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {key(u.get("email")): u for u in users if u.get("email")}


def person_label(item: dict[str, Any]) -> str:
    parts = (item.get("first_name"), item.get("last_name"))
    name = item.get("name") or " ".join(p for p in parts if p)
    who = item.get("user_name") or item.get("employee_id")
    return f"{name} ({who})" if name else str(who)


# -- holds -----------------------------------------------------------------------------------


def hold_mass_deactivation(
    services: "Services",
    tenant: Tenant,
    items: list[dict[str, Any]],
    active: int,
    source: str,
    count: int | None = None,
) -> int:
    """Hold a list of deactivations and e-mail it; returns the hold id. `count` is how many
    the run would deactivate in all (a burst's earlier ones went through before it was one)."""
    store = services.store
    limit = mass_limit(active, _options(services, tenant.id))
    count = len(items) if count is None else count
    held = (
        "nobody was deactivated"
        if count == len(items)
        else f"the first {count - len(items)} went through; nobody more is deactivated"
    )
    reason = (
        f"{source} would deactivate {count} of {active} active users (more than the "
        f"limit of {limit}); {held}"
    )
    hold_id = store.holds.hold(tenant.id, "mass_deactivation", reason, items)
    alert(
        services,
        tenant,
        f"[{tenant.name}] {len(items)} deactivations held for review",
        reason + ". These people stay active until support releases or discards the hold:",
        [person_label(i) for i in items],
        HOLD_COMMAND.format(id=hold_id),
    )
    return hold_id


def hold_identity(
    services: "Services", tenant: Tenant, employee_id: str, reason: str, item: dict[str, Any]
) -> int:
    existing = services.store.holds.open(tenant.id, "identity", employee_id)
    hold_id = services.store.holds.hold(tenant.id, "identity", reason, [item], employee_id)
    if existing is None:  # one e-mail per held person, not one per event
        alert(
            services,
            tenant,
            f"[{tenant.name}] {person_label(item)} held: user_name would change",
            f"EH employee {employee_id}: {reason}.",
            [],
            HOLD_COMMAND.format(id=hold_id),
        )
    return hold_id


def release(services: "Services", hold_id: int) -> dict[str, list[dict[str, Any]]]:
    """Carry out a held mass deactivation (support's decision); identity holds just close."""
    hold = services.store.holds.get(hold_id)
    if hold is None or hold["status"] != "held":
        raise HoldNotOpen(f"hold {hold_id} does not exist or was already decided")
    tenant, _ = services.registry.get(hold["tenant_id"])
    done: dict[str, list[dict[str, Any]]] = {"deactivated": [], "failed": []}
    if hold["kind"] == "mass_deactivation":
        if tenant is None:  # its file was removed or is broken: nobody to deactivate them in
            raise UnknownTenant(f"hold {hold_id}: tenant {hold['tenant_id']} does not load")
        with services.th_client(tenant) as th:
            for item in hold["items"]:
                _deactivate_one(th, item, done)
    if not services.store.holds.resolve(hold_id, "released", done):
        raise HoldNotOpen(f"hold {hold_id} was decided by someone else meanwhile")
    return done


def _deactivate_one(
    th: THClient, item: dict[str, Any], done: dict[str, list[dict[str, Any]]]
) -> None:
    try:
        result = th.deactivate(item["user_name"])
        done["deactivated"].append({"user_name": item["user_name"], "outcome": result.action})
    except Exception as exc:  # one refusal must not stop the rest; it is reported
        done["failed"].append({"user_name": item["user_name"], "error": str(exc)})


def discard(services: "Services", hold_id: int) -> None:
    if not services.store.holds.resolve(hold_id, "discarded", {"discarded": True}):
        raise HoldNotOpen(f"hold {hold_id} does not exist or was already decided")


# -- alerts ----------------------------------------------------------------------------------


def alert(
    services: "Services",
    tenant: Tenant,
    subject: str,
    message: str,
    items: Iterable[str] = (),
    command: str = "",
) -> None:
    """E-mail the tenant's alert recipients and support; never lets a mail problem stop the
    sync."""
    try:
        services.alert_desk.held(tenant, subject, message, items, command)
    except Exception:
        log.exception("could not send the alert %r", subject)


def _options(services: "Services", tenant_id: str) -> dict[str, Any]:
    _, ruleset = services.registry.get(tenant_id)
    return dict(ruleset.options) if ruleset else {}


def normalised_email(payload: dict[str, Any] | None) -> object:
    return normalise_user(payload or {}).get("email")
