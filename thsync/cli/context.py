"""What support's commands run against: the app's services and settings, read one way."""

from typing import Any

from flask import current_app

from thsync.services import Services


def services() -> Services:
    built: Services = current_app.extensions["thsync"]
    return built


def settings() -> dict[str, Any]:
    return services().settings
