"""Reconciliation on the dashboard: support asks for one, the worker runs it, both support and
the tenant's customer read the drift report (HTML and JSON twin); customers cannot start one."""

from tests.auth_helpers import csrf_of, customer_client, support_client

JORDAN = "a1e2c3d4-0000-4000-8000-000000000042"


def test_reconcile_now_runs_in_the_worker_and_shows_the_drift_report(connected, worker, sandboxes):
    support = support_client(connected)
    assert support.get("/tenants/acme/reconciliations.json").get_json()["reconciliations"] == []
    token = csrf_of(support, "/tenants/acme/reconciliations")
    answer = support.post("/tenants/acme/reconciliations", data={"csrf_token": token})
    assert answer.status_code == 302
    assert sandboxes.th_users() == {}  # planned, not run inside the request
    worker.run_once()
    [run] = support.get("/tenants/acme/reconciliations.json").get_json()["reconciliations"]
    assert (run["status"], run["trigger"], run["dry_run"]) == ("done", "schedule", False)
    report = support.get(f"/tenants/acme/reconciliations/{run['id']}.json").get_json()
    created = [item["employee_id"] for item in report["reconciliation"]["report"]["created"]]
    assert JORDAN in created
    assert JORDAN in sandboxes.th_users()
    page = support.get(f"/tenants/acme/reconciliations/{run['id']}").get_data(as_text=True)
    assert f'<h2 id="created">Created ({len(created)})</h2>' in page
    assert JORDAN in page


def test_a_customer_reads_reports_but_cannot_start_one(connected):
    customer = customer_client(connected, "acme")
    page = customer.get("/tenants/acme/reconciliations")
    assert page.status_code == 200
    assert 'id="reconcile-now"' not in page.get_data(as_text=True)
    token = csrf_of(customer, "/tenants/acme/checklist")
    refused = customer.post("/tenants/acme/reconciliations", data={"csrf_token": token})
    assert refused.status_code == 403
    assert customer.get("/tenants/beta/reconciliations.json").status_code == 404


def test_support_sends_a_test_event_through_the_normal_pipeline(connected, worker, sandboxes):
    support = support_client(connected)
    page = support.get("/tenants/acme").get_data(as_text=True)
    assert "<option>employee_created</option>" in page
    assert "<option>reconciliation</option>" not in page
    token = csrf_of(support, "/tenants/acme")
    sent = support.post(
        "/tenants/acme/test-events",
        data={"csrf_token": token, "event": "employee_created", "employee_id": JORDAN},
    )
    assert sent.status_code == 302
    [delivery] = connected.extensions["thsync"].store.deliveries.find("acme")
    assert delivery["headers"] == '{"User-Agent": "thsync test event", "X-Sent-By": "support"}'
    assert worker.drain() == 1
    assert sandboxes.th_users()[JORDAN]["first_name"] == "Jordan"
    refused = support.post(
        "/tenants/acme/test-events",
        data={"csrf_token": token, "event": "reconciliation", "employee_id": JORDAN},
    )
    assert refused.status_code == 400


def test_a_customer_cannot_send_test_events(connected):
    customer = customer_client(connected, "acme")
    token = csrf_of(customer, "/tenants/acme/checklist")
    refused = customer.post(
        "/tenants/acme/test-events",
        data={"csrf_token": token, "event": "employee_created", "employee_id": JORDAN},
    )
    assert refused.status_code == 403
    assert connected.extensions["thsync"].store.deliveries.find("acme") == []
