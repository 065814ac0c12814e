"""Content-Security-Policy on every page, no inline script or style in our templates, and the pages (htmx,
charts, Swagger UI from our own static files) still work in Chromium under it, offline (issue #12, point 9)."""

import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.utils import timezone

from identityhub.health.models import SyncSnapshot
from identityhub.scans.models import Finding

from .browser import log_in, screenshot

TEMPLATES = Path(settings.BASE_DIR) / "templates"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
STYLE_ATTR = re.compile(r"<(?!style)[^>]*\sstyle\s*=", re.I)
PDF_TEMPLATE = "reports/evidence_pdf.html"  # rendered by WeasyPrint in a worker, never served


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in header.split(";")) if d}


@pytest.mark.django_db
def test_every_page_carries_a_policy_without_inline_script(client, personas):
    client.force_login(personas["auditor"])
    for url in ("/login/", "/", "/t/acme/findings/", "/api/docs/", "/admin/login/"):
        policy = _policy(client.get(url))
        assert policy["script-src"] == ["'self'"], url
        assert policy["style-src"] == ["'self'"], url
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], url
        assert "'unsafe-inline'" not in str(policy) and "'unsafe-eval'" not in str(policy)


def test_templates_hold_no_inline_script_handler_or_style():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        if path.relative_to(TEMPLATES).as_posix() == PDF_TEMPLATE:
            continue
        text = re.sub(r"\{#.*?#\}", "", path.read_text())  # not in template comments
        for pattern in (INLINE_SCRIPT, HANDLER, STYLE_ATTR):
            offenders += [f"{path.relative_to(TEMPLATES)}: {m.group()[:60]}" for m in pattern.finditer(text)]
        if re.search(r"<style\b", text, re.I):
            offenders.append(f"{path.relative_to(TEMPLATES)}: <style>")
    assert not offenders, offenders


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_work_in_chromium_under_the_policy_and_offline(live_server, page, personas, forest):
    now = timezone.now()
    Finding.objects.create(
        tenant=forest.tenant, forest=forest, key="k1", guid=uuid.uuid4(), dn="CN=Ann,DC=corp", object_class="user",
        ou="DC=corp", rule="upn.character", severity="blocking", error="character", attribute="userPrincipalName",
        value="ann smith@acme.com", first_seen=now, last_seen=now,
    )  # fmt: skip
    for minutes in (50, 20):
        SyncSnapshot.objects.create(
            tenant=forest.tenant, taken=now - timezone.timedelta(minutes=minutes), sync_enabled=True,
            last_sync=now - timezone.timedelta(minutes=minutes + 5), error_count=1,
        )  # fmt: skip
    violations, foreign = [], []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    own = urlsplit(live_server.url).netloc

    def offline(route):  # nothing but this site: a CDN would fail here
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    log_in(page, live_server, "admin", "pw-admin")
    page.wait_for_url(re.compile(r"/$"))

    page.goto(f"{live_server.url}/t/acme/findings/")
    page.select_option("#id_severity", "degrading")  # an htmx swap of the table
    page.wait_for_url(re.compile(r"severity=degrading"))
    page.wait_for_function("() => !document.body.innerText.includes('ann smith@acme.com')")
    page.goto(f"{live_server.url}/t/acme/findings/")
    page.click("#findings button:has-text('Exception')")  # an htmx GET of the inline form
    page.wait_for_selector("#findings input[name=justification]")

    page.goto(f"{live_server.url}/t/acme/health/")
    page.wait_for_function("() => typeof Chart !== 'undefined' && Chart.getChart('trend-chart') !== undefined")

    page.goto(f"{live_server.url}/rollout/")
    page.wait_for_selector("#portfolio progress.bar")
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"csp-portfolio-{width}")

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title:has-text('IdentityHub API')")
    page.wait_for_selector(".swagger-ui .opblock")  # the schema was fetched and drawn
    screenshot(page, "csp-api-docs")

    page.goto(f"{live_server.url}/admin/")
    page.wait_for_selector("#site-name")
    assert not violations, violations
    assert not foreign, foreign
