"""Reading Employment Hero's records into what the rules see."""


def custom_field_values(items) -> dict:
    """EH custom fields → {name: value}; select values become lists of their labels."""
    values = {}
    for item in items or []:
        value = item.get("value")
        if isinstance(value, list):
            value = [option.get("value") for option in value if isinstance(option, dict)]
        values[item.get("name")] = value
    return values
