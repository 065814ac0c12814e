"""Sign in with Microsoft in a real Chromium against the OIDC stand-in, end to end; screenshots."""

import uuid

import pytest

from identityhub.accounts.models import EntraIdentity
from identityhub.tenants.models import Role

from .browser import log_in, screenshot
from .entra_support import mapping, person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(chromium):
    # The browser's own trust of the stand-in's test CA is not under test (the server-side checks are):
    # Chromium is told to accept it, the app trusts it through ENTRA_CA_BUNDLE only.
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_sign_in_with_microsoft_end_to_end_then_sign_out_of_both(live_server, browser_page, idp, tenant, personas):
    page = browser_page
    leads = str(uuid.uuid4())
    mapping(tenant, leads, Role.LEAD)
    mapping(tenant, "IdentityHub.Auditor", Role.AUDITOR, kind="app_role")
    idp.next_user = person(upn="grace@contoso.com", name="Grace Hopper", groups=[leads])

    page.goto(f"{live_server.url}/t/acme/")  # a deep link: back there after signing in
    page.wait_for_selector("#sign-in-microsoft")
    screenshot(page, "entra-login-1440")
    page.set_viewport_size({"width": 1024, "height": 768})
    screenshot(page, "entra-login-1024")
    page.click("#sign-in-microsoft")
    page.wait_for_url(f"{live_server.url}/t/acme/")
    assert "Grace Hopper" in page.inner_text("#people")
    assert "from Entra ID" in page.inner_text("#people")
    assert page.inner_text(".page-head .badge") == "lead"
    assert leads in page.inner_text("#role-mappings")
    assert str(EntraIdentity.objects.get().object_id) == idp.next_user.oid
    screenshot(page, "entra-signed-in-tenant-1024")

    page.click("form.logout button")
    page.wait_for_selector("#entra-sign-out")
    screenshot(page, "entra-signed-out-1024")
    page.click("#entra-sign-out")
    page.wait_for_url(f"{live_server.url}/login/")
    assert idp.logouts == [f"{live_server.url}/login/"]
    page.goto(f"{live_server.url}/t/acme/")
    page.wait_for_url("**/login/?next=/t/acme/")


def test_a_refusal_in_the_browser_is_a_page_that_says_what_is_wrong(live_server, browser_page, idp):
    page = browser_page
    idp.tamper = {"aud": str(uuid.uuid4())}
    idp.next_user = person()
    page.goto(f"{live_server.url}/login/")
    page.click("#sign-in-microsoft")
    page.wait_for_selector("h2.refusal")
    assert page.inner_text("h2.refusal") == "The token is for another application"
    screenshot(page, "entra-refused-audience-1440")
    page.click("text=Back to sign-in")
    page.wait_for_selector("#sign-in-microsoft")


def test_local_login_false_page_and_the_mapping_on_the_tenant_page(
    live_server, browser_page, idp, settings, tenant, personas
):
    page = browser_page
    mapping(tenant, str(uuid.uuid4()), Role.ADMIN)
    mapping(tenant, "IdentityHub.Auditor", Role.AUDITOR, kind="app_role")
    settings.LOCAL_LOGIN = False
    page.goto(f"{live_server.url}/login/")
    assert page.locator("#sign-in-microsoft").is_visible()
    assert page.locator("#id_password").count() == 0
    screenshot(page, "entra-login-only-microsoft-1440")

    settings.LOCAL_LOGIN = True  # the superuser's break-glass path is /admin/login/ either way
    log_in(page, live_server, "root", "pw-root")
    page.goto(f"{live_server.url}/t/acme/")
    page.wait_for_selector("#role-mappings")
    assert "IdentityHub.Auditor" in page.inner_text("#role-mappings")
    assert "local" in page.inner_text("#people")
    screenshot(page, "entra-tenant-mapping-1440")
    page.set_viewport_size({"width": 1024, "height": 768})
    screenshot(page, "entra-tenant-mapping-1024")
