"""The go-live flow in a real browser: Debian's Chromium, headless, driven by Playwright.

Support signs in and makes a customer link; the customer opens it and sees the checklist; EH
sandbox webhooks for a new, an updated and an offboarded person turn it green; the customer opens
an event and reads the reason; another tenant's pages are refused. A screenshot of each page
goes to test-artifacts/ (not committed).
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.auth_helpers import SUPPORT_PASSWORD
from tests.fixtures_app import REPO, TENANT_YAML

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts" / "browser"
JORDAN = "a1e2c3d4-0000-4000-8000-000000000042"
TOM = "a1e2c3d4-0000-4000-8000-000000000077"


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        message = "Debian's Chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def shoot():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shoot(page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    return shoot


@pytest.fixture
def beta(dirs, sandboxes):
    text = TENANT_YAML.format(client_id="client-beta", eh_url=sandboxes.eh.url, th_url="x")
    (dirs["tenants"] / "beta.yaml").write_text(text.replace("Acme Logistics", "Beta Freight"))


def seed_tom(sandboxes):
    user = {
        "user_name": TOM,
        "first_name": "Tom",
        "last_name": "O'Brien",
        "email": "tom.obrien@harbourline.example",
        "active": True,
    }
    sandboxes.th_admin("POST", "/_admin/users", {"portal": "acme", "user": user})


def support_signs_in(page, live, shoot):
    page.goto(f"{live}/sign-in")
    shoot(page, "01-sign-in")
    page.fill("input[name=username]", "support")
    page.fill("input[name=password]", SUPPORT_PASSWORD)
    page.click("#sign-in button[type=submit]")
    page.wait_for_url(f"{live}/")
    shoot(page, "02-all-tenants")


def support_makes_a_link(page, live, shoot) -> str:
    page.goto(f"{live}/tenants/acme")
    shoot(page, "03-tenant-overview")
    page.fill("#send-link input[name=email]", "hr@acme.example")
    page.click("#send-link button[type=submit]")
    shoot(page, "04-link-made")
    return page.inner_text("#link").strip().replace("http://127.0.0.1:1", live)


def test_the_go_live_flow(chromium, live, connected, worker, fire, sandboxes, beta, shoot):
    support = chromium.new_context().new_page()
    support_signs_in(support, live, shoot)
    link = support_makes_a_link(support, live, shoot)

    customer = chromium.new_context().new_page()
    customer.goto(link)
    customer.click("#continue")
    customer.wait_for_url(f"{live}/tenants/acme/checklist")
    shoot(customer, "05-checklist-empty")
    assert customer.get_attribute("[data-item=new_person]", "data-state") == "waiting"

    fire("employee_created", JORDAN)
    worker.drain()
    sandboxes.eh_admin("PATCH", f"/_admin/employees/{JORDAN}", {"job_title": "Manager"})
    fire("employee_updated", JORDAN)
    worker.drain()
    seed_tom(sandboxes)
    fire("employee_offboarding", TOM)
    worker.drain()

    customer.reload()
    shoot(customer, "06-checklist-green")
    for item in ("new_person", "updated_person", "offboarded_person"):
        assert customer.get_attribute(f"[data-item={item}]", "data-state") == "done", item

    customer.click("[data-item=new_person] a")
    customer.wait_for_selector("#reason")
    shoot(customer, "07-event")
    assert "new" in customer.inner_text("#reason").lower()
    assert customer.query_selector("#retry") is None  # retrying is support's

    refused = customer.goto(f"{live}/tenants/beta/checklist")
    shoot(customer, "08-other-tenant-refused")
    assert refused.status == 404
    assert customer.goto(f"{live}/tenants/beta.json").status == 404
    assert customer.goto(f"{live}/index.json").status == 403

    support.goto(f"{live}/")
    shoot(support, "09-dashboard")  # the README's screenshot (docs/dashboard.png)
