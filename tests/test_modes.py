"""Shadow, live and paused, end to end against the sandboxes; switching to live is support's
action, confirmed, and replays shadow's events only when asked."""

from tests.auth_helpers import csrf_of, support_client
from thsync.tribal_habits.shadow import NOT_SENT

JORDAN = "a1e2c3d4-0000-4000-8000-000000000042"


def switch(app, mode, **form):
    support = support_client(app)
    token = csrf_of(support, "/tenants/acme/mode")
    response = support.post("/tenants/acme/mode", data={"csrf_token": token, "mode": mode, **form})
    assert response.status_code == 302
    return support.get("/tenants/acme/mode.json").get_json()


def store_of(app):
    return app.extensions["thsync"].store


def test_a_tenant_file_without_a_mode_starts_in_shadow(app, dirs):
    path = dirs["tenants"] / "acme.yaml"
    path.write_text(path.read_text().replace("mode: live\n", ""))
    data = support_client(app).get("/tenants/acme/mode.json").get_json()
    assert (data["mode"], data["changed_by"]) == ("shadow", None)


def test_shadow_reads_eh_and_th_but_only_records_the_write(connected, worker, fire, sandboxes):
    switch(connected, "shadow")
    fire("employee_created", JORDAN)
    assert worker.drain() == 1
    [job] = store_of(connected).history.find()
    assert (job.status, job.outcome) == ("succeeded", "would_create")
    assert sandboxes.th_writes() == []
    assert JORDAN not in sandboxes.th_users()
    calls = [c for a in store_of(connected).history.attempts(job.id) for c in a["calls"]]
    th_calls = [(c["method"], c["status"], c["excerpt"]) for c in calls if c["service"] == "th"]
    assert th_calls[0][:2] == ("GET", 404)
    assert th_calls[1] == ("POST", None, NOT_SENT)
    assert store_of(connected).people.get("acme", JORDAN) is None


def test_paused_stores_deliveries_and_jobs_wait(connected, worker, fire, sandboxes):
    switch(connected, "paused")
    fire("employee_created", JORDAN)
    assert worker.drain() == 0
    [job] = store_of(connected).history.find()
    assert job.status == "queued"
    switch(connected, "live")
    assert worker.drain() == 1
    assert sandboxes.th_users()[JORDAN]["active"] is True


def test_going_live_without_confirmation_changes_nothing(connected, worker, fire):
    switch(connected, "shadow")
    fire("employee_created", JORDAN)
    worker.drain()
    data = switch(connected, "live")  # no confirm=yes: back to the confirmation page
    assert data["mode"] == "shadow"
    assert [j["outcome"] for j in data["waiting"]["would_have"]] == ["would_create"]


def test_going_live_replays_nothing_from_shadow_unless_asked(connected, worker, fire, sandboxes):
    switch(connected, "shadow")
    fire("employee_created", JORDAN)
    worker.drain()
    data = switch(connected, "live", confirm="yes")
    assert (data["mode"], data["changed_by"]) == ("live", "support")
    assert worker.drain() == 0
    assert sandboxes.th_writes() == []


def test_going_live_with_replay_writes_what_shadow_would_have(connected, worker, fire, sandboxes):
    switch(connected, "shadow")
    fire("employee_created", JORDAN)
    worker.drain()
    switch(connected, "live", confirm="yes", replay="1")
    assert worker.drain() == 1
    assert store_of(connected).history.find()[0].outcome == "created"
    assert sandboxes.th_users()[JORDAN]["first_name"] == "Jordan"


def test_the_mode_page_lists_what_is_waiting(connected, worker, fire):
    switch(connected, "shadow")
    fire("employee_created", JORDAN)
    worker.drain()
    page = support_client(connected).get("/tenants/acme/mode").get_data(as_text=True)
    assert "0 queued, 0 waiting to retry, 1 written only in shadow." in page
    assert 'id="would-have"' in page
