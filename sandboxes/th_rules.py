"""The Tribal Habits sandbox's validation: what makes TH answer 422 to a user it is sent.

Each check returns the message TH's 422 body carries (`{"message": …}`), or None."""

import re
from datetime import datetime

REQUIRED = ("user_name", "first_name", "last_name", "email")
KNOWN = ("user_name", "first_name", "last_name", "email", "manager_email", "active", "send_invite")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d")


def key_text(value) -> str:
    """How TH compares user names and e-mails: trimmed and case-blind."""
    return str(value or "").strip().lower()


def valid_date(text: str) -> bool:
    for form in DATE_FORMATS:
        try:
            datetime.strptime(text, form)
            return True
        except ValueError:
            continue
    return False


def valid_number(value) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(str(value))
        return True
    except ValueError:
        return False


def custom_field_problem(fields: dict, key: str, value) -> str | None:
    name = key[2:]
    spec = fields.get(name)
    if spec is None:
        return f"custom field '{name}' does not exist in this portal"
    if value in (None, ""):
        return None
    kind = spec.get("type", "text")
    if kind == "list":
        items = [item.strip() for item in str(value).split(";")]
        missing = [item for item in items if item not in spec.get("items", [])]
        if missing:
            return f"'{missing[0]}' is not an item of the list field '{name}'"
    if kind == "date" and not valid_date(str(value)):
        return f"custom field '{name}' needs a date as dd/mm/yyyy or yyyy-mm-dd"
    if kind == "number" and not valid_number(value):
        return f"custom field '{name}' needs a number"
    return None


def required_problem(user: dict) -> str | None:
    for key in REQUIRED:
        if not str(user.get(key) or "").strip():
            return f"{key} is required"
    return None


def fields_problem(fields: dict, user: dict) -> str | None:
    for key, value in user.items():
        if key.startswith("X-"):
            problem = custom_field_problem(fields, key, value)
            if problem:
                return problem
        elif key not in KNOWN:
            return f"unknown field '{key}'"
    return None


def values_problem(user: dict) -> str | None:
    for key in ("email", "manager_email"):
        value = user.get(key)
        if value not in (None, "") and not EMAIL.match(str(value).strip()):
            return f"{key} '{value}' is not a valid e-mail address"
    if "active" in user and not isinstance(user["active"], bool):
        return "active must be true or false"
    return None


def email_clash(users: dict, user: dict, ignore: str | None) -> str | None:
    email = key_text(user["email"])
    for name, other in users.items():
        if name != ignore and key_text(other.get("email")) == email:
            return f"email '{email}' is already used by another user"
    return None


def user_problem(fields: dict, users: dict, user: dict, ignore: str | None) -> str | None:
    """Why TH would refuse `user` in a portal with these custom `fields` and `users` (keyed by
    key_text(user_name)); `ignore` is the user being updated, whose own e-mail is no clash."""
    return (
        required_problem(user)
        or fields_problem(fields, user)
        or values_problem(user)
        or email_clash(users, user, ignore)
    )


def stored(user: dict) -> dict:
    """The user as TH keeps it: user_name and e-mails trimmed, active unless said otherwise."""
    clean = {k: v for k, v in user.items() if k != "send_invite"}
    clean["user_name"] = str(clean["user_name"]).strip()
    for key in ("email", "manager_email"):
        if isinstance(clean.get(key), str):
            clean[key] = clean[key].strip()
    clean.setdefault("active", True)
    return clean
