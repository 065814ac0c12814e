"""The findings list's rule chips, built in Python (scans/chips.py): the markup the templates wrote,
an include with a {% querystring %} per chip (~25 a page, issue 18), for awkward rules and URLs too."""

import re

import pytest
from django.template import engines
from django.test import RequestFactory

from identityhub.lib import rules
from identityhub.scans.chips import rule_chips

from .reports_support import make_report_data

# What templates/scans/finding_list.html and scans/rule_chip.html rendered before the chips were built
# in Python.
CHIP = (
    '{% load findings %}<a class="chip{% if row.rule == current_rule %} current{% endif %}" '
    'href="{% querystring rule=row.rule page=None %}" title="{{ row.rule }} — {{ row.rule|rule_why }}">'
    '<span class="badge {{ row.severity }}">{{ row.n }}</span> {{ row.rule|rule_title }}</a>\n'
)
BLOCK = """
      {% for row in rule_counts|slice:":8" %}{% include chip %}
      {% empty %}<span class="muted">No findings match these filters.</span>{% endfor %}
      {% if rule_counts|length > 8 %}
      <details class="more-chips"><summary>{{ rule_counts|length|add:"-8" }} more problems</summary>
        <div class="rule-counts">{% for row in rule_counts|slice:"8:" %}{% include chip %}{% endfor %}</div>
      </details>{% endif %}
"""

KNOWN = sorted(rules.RULES)[:12]
AWKWARD = 'no.such<rule>&"x"'  # a code no rule has (a retired one), with markup in it


def template_chips(request, rule_counts):
    engine = engines["django"]
    context = {
        "rule_counts": rule_counts,
        "current_rule": request.GET.get("rule", ""),
        "chip": engine.from_string(CHIP),
    }
    return engine.from_string(BLOCK).render(context, request)


def normal(html) -> str:
    return re.sub(r">\s+<", "><", " ".join(str(html).split()))


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?page=3",
        f"?rule={KNOWN[1]}&sort=-value&page=2&per_page=50",
        "?q=%3Cb%3E%22%26x%27+%C3%A9&severity=blocking&rule=a&rule=b",
        "?sort=value&rule=no.such%3Crule%3E%26%22x%22&forest=7",
    ],
)
@pytest.mark.parametrize("count", [0, 1, 8, 12])
def test_the_chips_are_the_markup_the_templates_wrote(query, count):
    codes = [*KNOWN[:2], AWKWARD, *KNOWN[2:]][:count]
    rule_counts = [
        {"rule": code, "severity": ("blocking", "degrading", "hygiene")[i % 3], "n": 123456 - i}
        for i, code in enumerate(codes)
    ]
    request = RequestFactory().get("/t/acme/findings/" + query)
    built = rule_chips(request.GET, rule_counts)
    assert normal(built) == normal(template_chips(request, rule_counts))
    assert "&lt;rule&gt;" in built if AWKWARD in codes else "<rule>" not in built


def test_the_list_renders_no_template_per_chip(client, personas, forest):
    data = make_report_data(forest, personas["admin"])
    client.force_login(personas["auditor"])
    response = client.get("/t/acme/findings/?sort=value&page=1")
    assert "scans/rule_chip.html" not in [t.name for t in response.templates]
    body = response.content.decode()
    open_rules = {f.rule for f in data["findings"].values() if f.status == "open"}
    assert open_rules
    for rule in open_rules:
        assert f'href="?sort=value&amp;rule={rule}"' in body, rule
