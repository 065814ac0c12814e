"""The rollout page's timeline, built in Python (rollout/timeline.py): the markup its template wrote,
for awkward texts and links, times today, this year and before, in the user's time zone."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.template import engines
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identityhub.rollout import progress
from identityhub.rollout.models import RolloutEvent
from identityhub.rollout.timeline import TIMELINE, recent, timeline_html

# templates/rollout/rollout.html's timeline before it was built in Python.
TEMPLATE = """{% load ui %}{% for e in events %}
      <li><time datetime="{{ e.at|date:'c' }}">{{ e.at|when_short }}</time><span class="badge">{{ e.get_kind_display }}</span> {% if e.url %}<a href="{{ e.url }}">{{ e.text }}</a>{% else %}{{ e.text }}{% endif %}</li>
    {% empty %}<li class="muted">Nothing yet: scans, fixes, pulls and sign-offs appear here.</li>{% endfor %}"""  # noqa: E501


def normal(html) -> str:
    return re.sub(r">\s+<", "><", " ".join(str(html).split()))


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland"])
def test_the_timeline_is_the_markup_the_template_wrote(zone):
    now = timezone.now()
    events = [
        RolloutEvent(kind="scan", at=now, text='Scan of <corp> & "eu" finished', url="/t/acme/scans/1/?a=1&b=<2>"),
        RolloutEvent(kind="signoff", at=now - timedelta(days=3), text="Signed off: 'ok'", url=""),
        RolloutEvent(kind="health", at=now - timedelta(days=400), text="Health turned red"),
        RolloutEvent(kind="retired-kind", at=now - timedelta(hours=30), text="x", url="https://example.test/x"),
    ]
    with timezone.override(zone):
        for shown in (events, []):
            old = engines["django"].from_string(TEMPLATE).render({"events": shown})
            assert normal(timeline_html(shown)) == normal(old)
    assert "&lt;corp&gt; &amp; &quot;eu&quot;" in timeline_html(events)


@pytest.mark.django_db
def test_the_timeline_reads_its_last_events_and_no_user(tenant, personas, django_assert_num_queries):
    for i in range(TIMELINE + 5):
        progress.event(tenant, "scan", f"Scan {i}", user=personas["lead"], at=timezone.now() + timedelta(minutes=i))
    with django_assert_num_queries(1) as captured:
        events = recent(tenant)
    assert [e.text for e in events] == [f"Scan {i}" for i in range(TIMELINE + 4, 4, -1)]
    assert "auth_user" not in captured.captured_queries[0]["sql"]


@pytest.mark.django_db
def test_the_rollout_page_shows_the_timeline_without_reading_who_caused_each_event(client, tenant, personas):
    for i in range(3):
        progress.event(tenant, "signoff", f"Signed <{i}>", url=f"/x/{i}/", user=personas["lead"])
    client.force_login(personas["lead"])
    with CaptureQueriesContext(connection) as captured:
        body = client.get("/t/acme/rollout/").content.decode()
    timeline = [q["sql"] for q in captured.captured_queries if 'FROM "rollout_rolloutevent"' in q["sql"]]
    assert len(timeline) == 1 and "auth_user" not in timeline[0], timeline
    assert '<a href="/x/2/">Signed &lt;2&gt;</a>' in body
