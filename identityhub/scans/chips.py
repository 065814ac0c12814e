"""The findings list's rule chips: one link per problem the filter matches, with its count, to the
same list filtered on that problem.

Built in Python rather than a template: an include with a {% querystring %} per chip (20 to 30 on a
page) cost the list ~1 ms a request (issue 18). The markup is the templates' (tests/test_rule_chips.py).
"""

from functools import lru_cache

from django.http import QueryDict
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from identityhub.lib import rules

SHOWN = 8  # the largest problems at once, the rest one click away: the table stays in view


@lru_cache(maxsize=1024)
def _title_and_name(code: str) -> tuple[str, str]:
    """The chip's tooltip and text for a rule code, escaped: what it is, why it matters, how to fix it."""
    rule = rules.RULES.get(code)
    why = f"{rule.why} Fix: {rule.fix} Source: {rule.source}" if rule else ""
    return f"{escape(code)} — {escape(why)}", escape(rule.title if rule else code)


def rule_chips(query: QueryDict, rule_counts: list[dict]) -> SafeString:
    """The chips of `rule_counts` ([{rule, severity, n}], most findings first) for the list at
    `query`: each links to the same query on its rule, from the first page; the chip of the rule the
    query filters on is marked current."""
    if not rule_counts:
        return mark_safe('<span class="muted">No findings match these filters.</span>')
    current = query.get("rule", "")
    params = query.copy()
    params.pop("page", None)
    chips = []
    for row in rule_counts:
        code = row["rule"]
        params["rule"] = code  # in the place the query had it, else last (as {% querystring %})
        title, name = _title_and_name(code)
        chips.append(
            f'<a class="chip{" current" if code == current else ""}" href="{escape("?" + params.urlencode())}" '
            f'title="{title}"><span class="badge {escape(row["severity"])}">{row["n"]:d}</span> {name}</a>\n'
        )
    html = "".join(chips[:SHOWN])
    if len(chips) > SHOWN:
        html += (
            f'<details class="more-chips"><summary>{len(chips) - SHOWN} more problems</summary>\n'
            f'<div class="rule-counts">{"".join(chips[SHOWN:])}</div>\n</details>'
        )
    return mark_safe(html)  # noqa: S308 - every code, value and text escaped above
