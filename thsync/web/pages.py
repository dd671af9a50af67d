"""How every dashboard page is served: a view returns its data and `page` serves it at its path
as HTML (the template) and at the path plus `.json` as JSON, from one registration, the way
Datasette's `BaseView.render` adds the JSON twin. The twin's keys are the data's keys, and they
are a public interface (the README says "add .json to its path").

The web's one accessor for the services and one for the tenant in the URL live here too, with
the `when` filter, so every web module reads them the same way.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Flask, abort, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from thsync.config.tenants import Tenant
from thsync.rules.ruleset import RuleSet
from thsync.services import Services

JSON_SUFFIX = ".json"
View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Page:
    """What a view returns when its data alone is not enough: the HTTP status, and what only
    the template needs (objects, constants) and the JSON twin must not grow by."""

    data: dict[str, Any]
    status: int = 200
    html: dict[str, Any] = field(default_factory=dict)


def services() -> Services:
    built: Services = current_app.extensions["thsync"]
    return built


def tenant_or_404(tenant_id: str) -> tuple[Tenant, RuleSet]:
    """The URL's tenant and its rules; 404 for an id no tenant file names."""
    tenant, ruleset = services().registry.get(tenant_id)
    if tenant is None or ruleset is None:  # the registry gives both or neither
        abort(404)
    return tenant, ruleset


def json_requested() -> bool:
    """True on a page's JSON twin: the URL rule matched ends in `.json` (not a header guess)."""
    rule = request.url_rule
    return rule is not None and rule.rule.endswith(JSON_SUFFIX)


def twin_path(rule: str) -> str:
    """Where a page's JSON twin is: its path plus `.json` (the home page's is /index.json)."""
    return "/index.json" if rule == "/" else rule + JSON_SUFFIX


def twin_endpoint(endpoint: str) -> str:
    """`tenant_page` → `tenant_json`, `checklist` → `checklist_json`: the names the guard's
    tests and `url_for` have always used."""
    return endpoint.removesuffix("_page") + "_json"


def render(
    answer: dict[str, Any] | Page | ResponseReturnValue, template: str
) -> ResponseReturnValue:
    """The view's answer as the format asked for; a response the view made itself (a redirect)
    goes out as it is."""
    if not isinstance(answer, dict | Page):
        return answer
    shown = answer if isinstance(answer, Page) else Page(answer)
    if json_requested():
        return jsonify(shown.data), shown.status
    return render_template(template, **shown.data, **shown.html), shown.status


def page(
    bp: Blueprint,
    rule: str,
    *,
    template: str,
    endpoint: str | None = None,
    methods: Iterable[str] = ("GET",),
) -> Callable[[View], View]:
    """Register a view at `rule` and at its JSON twin. Put it outermost, as with `bp.route`:
    the access marks (`support_only`, `customer_ok`) below it are copied for the guard."""

    def register(view: View) -> View:
        name = endpoint or view.__name__

        @wraps(view)
        def serve(**args: Any) -> ResponseReturnValue:
            return render(view(**args), template)

        serve.page_template = template  # type: ignore[attr-defined]  # read by the tests
        bp.add_url_rule(rule, name, serve, methods=list(methods))
        bp.add_url_rule(twin_path(rule), twin_endpoint(name), serve, methods=list(methods))
        return view

    return register


def format_when(epoch: float | None) -> str:
    """An epoch as support quotes it in tickets and logs: UTC, to the second; blank for never."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def init_app(app: Flask) -> None:
    app.add_template_filter(format_when, "when")
