"""The go-live pages through their JSON twins (and a few HTML selectors), fed by real events
from the EH sandbox."""

import json

import pytest

from tests.auth_helpers import csrf_of, customer_client, support_client
from thsync.web.tenants import authoriser_warning, th_key_health

JORDAN = "a1e2c3d4-0000-4000-8000-000000000042"
TOM = "a1e2c3d4-0000-4000-8000-000000000077"
SASHA = "a1e2c3d4-0000-4000-8000-000000000555"


def seed_tom(sandboxes):
    user = {
        "user_name": TOM,
        "first_name": "Tom",
        "last_name": "O'Brien",
        "email": "tom.obrien@harbourline.example",
        "active": True,
    }
    sandboxes.th_admin("POST", "/_admin/users", {"portal": "acme", "user": user})


def states(app) -> dict:
    data = support_client(app).get("/tenants/acme/checklist.json").get_json()
    return {item["key"]: item["state"] for item in data["items"]}


def test_all_tenants_shows_mode_events_today_and_queue(connected, fire, worker):
    fire("employee_created", JORDAN)
    connected.extensions["thsync"].store.jobs.dispatch(2)  # the worker's first step
    [tenant] = support_client(connected).get("/index.json").get_json()["tenants"]
    assert (tenant["mode"], tenant["events_today"]) == ("live", 1)
    assert (tenant["eh_connection"], tenant["queue_depth"]) == ("connected", 1)
    assert tenant["drain_minutes"] == round(2 / 240, 1)
    assert tenant["th_key"] == "unknown"  # TH has not been called yet
    worker.drain()
    [tenant] = support_client(connected).get("/index.json").get_json()["tenants"]
    assert tenant["th_key"] == "valid"


@pytest.mark.parametrize(
    ("statuses", "health"),
    [([], "unknown"), ([None], "unknown"), ([404, 201], "valid"), ([401], "refused")],
)
def test_th_key_health_reads_what_th_answered(statuses, health):
    calls = [{"service": "th", "status": status} for status in statuses]
    calls.append({"service": "eh", "status": 401})  # EH's answers say nothing of TH's key
    assert th_key_health(calls) == health


def test_the_overview_says_who_authorised_eh(connected):
    data = support_client(connected).get("/tenants/acme.json").get_json()
    assert data["authorised_by"]["email"] == "integrations@harbourline.example"
    assert data["authoriser_roles"] == ["owner"]
    assert data["authoriser_warning"] is None


@pytest.mark.parametrize(
    ("role", "warned"),
    [("owner", False), ("admin", False), ("employee", True), ("manager", True)],
)
def test_an_ordinary_employee_authorising_is_warned_about(role, warned):
    info = {"name": "Pat", "memberships": [{"role": role}]}
    warning = authoriser_warning(info)
    assert (warning is not None) is warned
    if warned:
        assert warning.startswith(f"Pat is not an Employment Hero admin (role: {role}).")


def test_the_checklist_turns_green_from_real_events(connected, fire, worker, sandboxes):
    assert set(states(connected).values()) == {"waiting"}
    fire("employee_created", JORDAN)
    worker.drain()
    sandboxes.eh_admin("PATCH", f"/_admin/employees/{JORDAN}", {"job_title": "Manager"})
    fire("employee_updated", JORDAN)
    worker.drain()
    seed_tom(sandboxes)
    fire("employee_offboarding", TOM)
    fire("employee_created", SASHA)
    worker.drain()
    assert states(connected) == {
        "new_person": "done",
        "updated_person": "done",
        "offboarded_person": "done",
        "rehire": "waiting",
        "excluded_person": "done",
        "custom_fields": "done",
    }
    data = support_client(connected).get("/tenants/acme/checklist.json").get_json()
    assert data["items"][0]["proved_by_job"] == 1
    assert data["done"] == 5


def test_support_marks_an_item_not_applicable(connected):
    support = support_client(connected)
    token = csrf_of(support, "/tenants/acme/checklist")
    form = {"csrf_token": token, "not_applicable": "1"}
    assert support.post("/tenants/acme/checklist/rehire", data=form).status_code == 302
    assert states(connected)["rehire"] == "not_applicable"
    customer = customer_client(connected)
    token = csrf_of(customer, "/tenants/acme/checklist")
    form = {"csrf_token": token, "not_applicable": "0"}
    assert customer.post("/tenants/acme/checklist/rehire", data=form).status_code == 403


def test_the_checklist_gives_the_eh_setup_values_and_the_sso_key(connected, fire, worker):
    fire("employee_created", JORDAN)
    worker.drain()
    data = customer_client(connected).get("/tenants/acme/checklist.json").get_json()
    setup = data["setup"]
    assert setup["redirect_uri"] == "http://127.0.0.1:1/oauth/callback"
    assert setup["webhook_url"].startswith("http://127.0.0.1:1/webhooks/acme/tok-acme-")
    assert setup["org_uuid"] == "5b0f3c1e-8a2d-4f6b-9c3e-1d2a3b4c5d6e"
    assert "employee_created" in setup["events"]
    assert data["sso"]["field"] == "id"
    assert data["sso"]["examples"] == [{"employee_id": JORDAN, "user_name": JORDAN}]
    assert (data["sso"]["blank"], data["sso"]["duplicates"]) == ([], {})


def test_the_event_page_explains_the_decision(connected, fire, worker):
    fire("employee_created", SASHA)
    worker.drain()
    customer = customer_client(connected)
    data = customer.get("/tenants/acme/events/1.json").get_json()
    assert data["rule"] == "contractors"
    assert "contractor" in data["reason"]
    contractors = next(step for step in data["trace"] if step["rule"] == "contractors")
    assert contractors["matched"] is True
    assert contractors["file"].endswith("standard.yaml")
    assert isinstance(contractors["line"], int)
    assert json.loads(data["deliveries"][0]["body"])["event"] == "employee_created"
    assert data["outcome"] == {"status": "skipped", "outcome": "skipped", "reason": data["reason"]}
    page = customer.get("/tenants/acme/events/1").get_data(as_text=True)
    assert 'id="retry"' not in page  # retrying is support's
    assert 'id="retry"' in support_client(connected).get("/tenants/acme/events/1").get_data(
        as_text=True
    )


def test_people_search_by_name_email_and_id(connected, fire, worker):
    fire("employee_created", JORDAN)
    worker.drain()
    support = support_client(connected)
    for query in ("mcallister", "jordan.mcallister@harbourline", JORDAN[-6:]):
        data = support.get(f"/tenants/acme/people.json?q={query}").get_json()
        [person] = data["people"]
        assert person["employee_id"] == JORDAN
        assert person["th_state"]["user_name"] == JORDAN
    assert support.get("/tenants/acme/people.json?q=nobody").get_json()["people"] == []


def test_the_rule_tester_decides_without_sending(connected, sandboxes):
    employee = json.loads((sandboxes_data() / "employee-active.json").read_text())["data"]
    event = {"event": "employee_created", "data": {"id": employee["id"]}}
    support = support_client(connected)
    token = csrf_of(support, "/tenants/acme/rule-tester")
    form = {"csrf_token": token, "event": json.dumps(event), "employee": json.dumps(employee)}
    writes = len(sandboxes.th_writes())
    data = support.post("/tenants/acme/rule-tester.json", data=form).get_json()
    assert (data["result"]["action"], data["result"]["rule"]) == ("upsert", "new-people")
    assert data["result"]["payload"]["user_name"] == employee["id"]
    assert len(sandboxes.th_writes()) == writes
    form["event"] = "{not json"
    response = support.post("/tenants/acme/rule-tester.json", data=form)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("the event is not JSON: ")


def test_empty_states_say_what_to_do_next(app):
    support = support_client(app)
    people = support.get("/tenants/acme/people").get_data(as_text=True)
    assert "Type part of a name, an e-mail or an EH employee id." in people
    checklist = support.get("/tenants/acme/checklist").get_data(as_text=True)
    assert "No examples yet: they appear once people have gone through the sync." in checklist


def sandboxes_data():
    from tests.fixtures_app import DATA

    return DATA


def test_the_rule_tester_reads_eh_for_a_picked_delivery(connected, fire, sandboxes):
    fire("employee_created", JORDAN)
    support = support_client(connected)
    token = csrf_of(support, "/tenants/acme/rule-tester")
    form = {"csrf_token": token, "delivery_id": "1", "event": "", "employee": ""}
    data = support.post("/tenants/acme/rule-tester.json", data=form).get_json()
    assert data["recent"][0]["employee_id"] == JORDAN
    assert data["result"]["payload"]["manager_email"] == "priya.nair@harbourline.example"
    assert sandboxes.th_writes() == []
