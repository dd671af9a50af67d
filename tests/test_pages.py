"""Every dashboard page is served by one helper, as HTML at its path and as its JSON twin at the
path plus `.json`; the twins' keys are a public interface and stay as they are. The old job page
is the event page now, and times reach the templates raw, formatted by the `when` filter."""

import pytest

from tests.auth_helpers import csrf_of, support_client
from tests.fixtures_app import REPO

JORDAN = "a1e2c3d4-0000-4000-8000-000000000042"
# GET routes that are not pages, and why: each new GET route is a page or is named here.
NOT_PAGES = {
    "static": "files",
    "web.healthz": "the load balancer's probe, JSON already",
    "auth.sign_in": "the sign-in form",
    "auth.link": "a customer's link, used once",
    "oauth.connect": "a redirect to Employment Hero",
    "oauth.callback": "Employment Hero's redirect back, answered once",
    "events.job_page": "the old job URL, a redirect to the event page",
    "events.job_json": "the old job URL's twin, a redirect to the event page's twin",
}
SUMMARY = {
    "drain_minutes",
    "eh_connection",
    "eh_reason",
    "events_today",
    "failures_open",
    "id",
    "jobs",
    "last_webhook_at",
    "mode",
    "name",
    "org_uuid",
    "queue_depth",
    "th_key",
    "time_zone",
}
OLD_JOB_KEYS = {"attempts", "deliveries", "job", "snapshot"}
EVENT_KEYS = {
    "eh_record",
    "extracted",
    "outcome",
    "payload",
    "reason",
    "rule",
    "tenant_id",
    "trace",
}
TWIN_KEYS = {
    "/index.json": {"load_errors", "tenants"},
    "/tenants/acme.json": {
        "authorised_by",
        "authoriser_roles",
        "authoriser_warning",
        "deliveries",
        "jobs",
        "load_errors",
        "tenant",
        "webhook_path",
    },
    "/tenants/acme/events/1.json": OLD_JOB_KEYS | EVENT_KEYS,
    "/tenants/acme/checklist.json": {"done", "items", "setup", "sso", "tenant"},
    "/tenants/acme/mode.json": {"changed_at", "changed_by", "mode", "modes", "tenant", "waiting"},
    "/tenants/acme/people.json?q=jordan": {"people", "q", "tenant_id"},
    "/tenants/acme/rule-tester.json": {"error", "form", "recent", "result", "tenant_id"},
    "/tenants/acme/reconciliations.json": {"next_due_at", "reconciliations", "tenant"},
    "/tenants/acme/organisation.json": {"organisations", "tenant"},
}


def twin_of(path: str) -> str:
    return "/index.json" if path == "/" else path + ".json"


@pytest.fixture
def synced(connected, fire, worker):
    """One person through the sync: job 1 exists, with deliveries, attempts and a decision."""
    fire("employee_created", JORDAN)
    worker.drain()
    return connected


def test_every_page_has_a_json_twin_from_the_same_view(app):
    rules = list(app.url_map.iter_rules())
    pages = [
        rule
        for rule in rules
        if "GET" in rule.methods
        and not rule.rule.endswith(".json")
        and rule.endpoint not in NOT_PAGES
        and (rule.rule == "/" or rule.rule.startswith("/tenants/"))
    ]
    assert len(pages) == 10
    for rule in pages:
        view = app.view_functions[rule.endpoint]
        assert getattr(view, "page_template", None), f"{rule.rule} is not served by the helper"
        [twin] = [r for r in rules if r.rule == twin_of(rule.rule) and "GET" in r.methods]
        assert app.view_functions[twin.endpoint] is view, rule.rule
        assert rule.methods == twin.methods, rule.rule


def test_no_hand_written_json_route_is_left(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.endswith(".json") and rule.endpoint not in NOT_PAGES:
            view = app.view_functions[rule.endpoint]
            assert getattr(view, "page_template", None), f"{rule.rule} is written by hand"


def test_every_get_route_outside_the_pages_is_named(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if "GET" in rule.methods and not getattr(view, "page_template", None):
            assert rule.endpoint in NOT_PAGES, rule.endpoint


@pytest.mark.parametrize(("path", "keys"), sorted(TWIN_KEYS.items()))
def test_the_twins_keep_their_keys(synced, path, keys):
    response = support_client(synced).get(path)
    assert response.status_code == 200, path
    assert response.mimetype == "application/json"
    assert set(response.get_json()) == keys


def test_the_tenant_summaries_keep_their_keys(synced):
    support = support_client(synced)
    [tenant] = support.get("/index.json").get_json()["tenants"]
    assert set(tenant) == SUMMARY
    assert set(support.get("/tenants/acme.json").get_json()["tenant"]) == SUMMARY
    checklist = support.get("/tenants/acme/checklist.json").get_json()
    assert set(checklist["tenant"]) == {"id", "mode", "name"}
    assert set(support.get("/tenants/acme/mode.json").get_json()["tenant"]) == {"id", "name"}


def test_the_drift_report_twin_keeps_its_key(synced, worker):
    support = support_client(synced)
    token = csrf_of(support, "/tenants/acme/reconciliations")
    support.post("/tenants/acme/reconciliations", data={"csrf_token": token})
    worker.run_once()
    [run] = support.get("/tenants/acme/reconciliations.json").get_json()["reconciliations"]
    report = support.get(f"/tenants/acme/reconciliations/{run['id']}.json").get_json()
    assert set(report) == {"reconciliation"}


def test_the_link_twin_keeps_its_keys(app):
    support = support_client(app)
    form = {"csrf_token": csrf_of(support, "/tenants/acme"), "email": "hr@acme.example"}
    made = support.post("/tenants/acme/links.json", data=form).get_json()
    assert set(made) == {"email", "expires_in_hours", "url"}
    page = support.post("/tenants/acme/links", data=form).get_data(as_text=True)
    assert "It works once, within 72 hours, and shows only Acme Logistics." in page


def test_a_page_and_its_twin_show_the_same_data(synced):
    support = support_client(synced)
    data = support.get("/tenants/acme/events/1.json").get_json()
    page = support.get("/tenants/acme/events/1").get_data(as_text=True)
    assert f"Event #{data['job']['id']}" in page
    assert data["reason"] in page


def test_the_old_job_page_is_the_event_page(synced):
    support = support_client(synced)
    moved = support.get("/tenants/acme/jobs/1")
    assert (moved.status_code, moved.headers["Location"]) == (302, "/tenants/acme/events/1")
    moved = support.get("/tenants/acme/jobs/1.json")
    assert (moved.status_code, moved.headers["Location"]) == (302, "/tenants/acme/events/1.json")
    assert support.get("/tenants/acme/jobs/999").status_code == 302  # the event page says 404
    assert support.get("/tenants/acme/events/999").status_code == 404


def test_the_event_page_shows_what_the_job_page_showed(synced):
    support = support_client(synced)
    data = support.get("/tenants/acme/events/1.json").get_json()
    assert set(data) >= OLD_JOB_KEYS
    assert data["snapshot"]["user_name"] == JORDAN
    page = support.get("/tenants/acme/events/1").get_data(as_text=True)
    assert 'id="event-types">employee_created<' in page
    assert f'id="attempt-count">{data["job"]["attempts"]}<' in page
    assert f'id="action">{data["job"]["decision"]["action"]}<' in page
    assert "In Tribal Habits as last written" in page


@pytest.mark.parametrize(
    ("epoch", "shown"),
    [(None, ""), (0, "1970-01-01 00:00:00 UTC"), (1764633600.75, "2025-12-02 00:00:00 UTC")],
)
def test_the_when_filter_formats_epochs_in_utc(app, epoch, shown):
    template = app.jinja_env.from_string("{{ epoch | when }}")
    assert template.render(epoch=epoch) == shown


def test_pages_show_times_through_the_filter(synced):
    support = support_client(synced)
    received = support.get("/tenants/acme.json").get_json()["deliveries"][0]["received_at"]
    assert isinstance(received, float | int)  # the twin keeps the raw epoch
    shown = synced.jinja_env.from_string("{{ t | when }}").render(t=received)
    assert shown in support.get("/tenants/acme").get_data(as_text=True)


def test_page_templates_live_under_their_web_module(app):
    served = {view for view in app.view_functions.values() if hasattr(view, "page_template")}
    assert len(served) == 11  # ten pages and the customer link
    for view in served:
        module = view.__module__.rsplit(".", 1)[-1]
        assert view.page_template.startswith(f"{module}/"), (view.__name__, view.page_template)
        assert (REPO / "templates" / view.page_template).is_file()


def test_templates_format_times_only_through_the_filter():
    for template in (REPO / "templates").rglob("*.html"):
        assert "when(" not in template.read_text(), template
