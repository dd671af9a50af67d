"""What support's commands run against: the app's services and settings, read one way."""

from flask import current_app

from thsync.services import Services


def services() -> Services:
    return current_app.extensions["thsync"]


def settings() -> dict:
    return services().settings
