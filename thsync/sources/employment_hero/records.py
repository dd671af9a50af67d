"""Reading Employment Hero's records into what the rules see."""

from collections.abc import Iterable
from typing import Any


def custom_field_values(items: Iterable[dict[str, Any]] | None) -> dict[str, Any]:
    """EH custom fields → {name: value}; select values become lists of their labels."""
    values: dict[str, Any] = {}
    for item in items or []:
        value = item.get("value")
        if isinstance(value, list):
            value = [option.get("value") for option in value if isinstance(option, dict)]
        # EH names every custom field; a nameless item would land under None, as it always has.
        values[item.get("name")] = value  # type: ignore[index]
    return values
