"""The Tribal Habits user, in one place: its fields, how their values are normalised, and how
two versions of a user compare. The rules engine renders payloads of these fields, the TH
client writes them, reconciliation and the safeguards compare them."""

from collections.abc import Mapping
from typing import Any

# The fields of the contract's user resource a rule file may set; custom fields are "X-<name>".
FIELDS = ("user_name", "first_name", "last_name", "email", "manager_email", "active")
CUSTOM_PREFIX = "X-"
EMAIL_KEYS = ("email", "manager_email")
# Keys TH reports about a user but will not take back in a PUT (sending them in replace mode
# would be refused or, worse, silently overwrite what TH keeps itself).
READ_ONLY_KEYS = frozenset({"id", "created_at", "updated_at", "last_login", "last_login_at"})


def is_field(key: str) -> bool:
    """A key TH takes: one of its fields, or a custom field "X-<name>"."""
    return key in FIELDS or (key.startswith(CUSTOM_PREFIX) and len(key) > len(CUSTOM_PREFIX))


def normalise_value(key: str, value: Any) -> Any:
    """Trim and lower-case e-mails and trim user_name: TH treats "A@x.com " as another user."""
    if isinstance(value, str) and key in EMAIL_KEYS:
        return value.strip().lower()
    if isinstance(value, str) and key == "user_name":
        return value.strip()
    return value


def normalise_user(user: Mapping[str, Any]) -> dict[str, Any]:
    """The user with every value normalised (see normalise_value)."""
    return {key: normalise_value(key, value) for key, value in user.items()}


def same_value(before: object, after: object) -> bool:
    """True when TH's `before` already says what we would send as `after`.

    Booleans compare strictly (a missing `active` is not `true`). Everything else compares as
    text, so TH's missing key, null and "" are all the same as sending "", and 42 equals "42".
    """
    if isinstance(before, bool) or isinstance(after, bool):
        return before is after
    if isinstance(before, list | dict) or isinstance(after, list | dict):
        return before == after
    return _as_text(before) == _as_text(after)


def diff_user(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The keys of `desired` whose values differ from `current`, as key -> {before, after}."""
    normalised = normalise_user(current)
    return {
        key: {"before": normalised.get(key), "after": after}
        for key, after in desired.items()
        if not same_value(normalised.get(key), after)
    }


def _as_text(value: object) -> str:
    return "" if value is None else str(value)
