import uuid

import django_tables2 as tables
from django.db.models import F
from django.db.models.functions import Left
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from identityhub import paging
from identityhub.lib import rules
from identityhub.remediation.buttons import ActionUrls, finding_buttons
from identityhub.tenants.templatetags.ui import soft_breaks, when_short

from . import counts, holders
from .models import VALUE_SORT_PREFIX, Finding
from .names import object_name, parent_path

# The sizes the pager offers (the server caps what it accepts; see the pagination helper).
PAGE_SIZES = (25, 50, 100, 200)


def _col(name: str, **td) -> dict:
    """th and td share a class, so the stylesheet gives the column its fixed width."""
    return {"th": {"class": f"col-{name}"}, "td": {"class": f"col-{name}", **td}}


class FindingTable(tables.Table):
    """The findings grid: readable rule titles (code on hover), objects by name with their OU below,
    fixed column widths (style: table.findings .col-*), compact dates."""

    page_sizes = PAGE_SIZES

    select = tables.CheckBoxColumn(
        accessor="pk",
        attrs={
            "th": {"class": "col-select"},
            "td": {"class": "col-select"},
            "th__input": {"aria-label": "Select all rows on this page", "data-select-all": "select"},
            "td__input": {"aria-label": "Select this row"},
        },
    )
    severity = tables.Column(attrs=_col("severity"))
    rule = tables.Column(attrs=_col("rule"), verbose_name="Problem")
    attribute = tables.Column(attrs=_col("attribute"))
    value = tables.Column(attrs=_col("value"))
    suggestion = tables.Column(attrs=_col("suggestion"))
    dn = tables.Column(verbose_name="Object", attrs=_col("object"))
    forest = tables.Column(accessor="forest__name", verbose_name="Forest", attrs=_col("forest"))
    status = tables.Column(attrs=_col("status"))
    last_seen = tables.Column(verbose_name="Last seen", attrs=_col("seen"))
    # The buttons of remediation/buttons.py, built with the rows (rows_html).
    actions = tables.Column(accessor="pk", orderable=False, verbose_name="", attrs=_col("actions"))

    class Meta:
        model = Finding
        fields = [
            "select",
            "severity",
            "rule",
            "attribute",
            "value",
            "suggestion",
            "dn",
            "forest",
            "status",
            "last_seen",
        ]
        sequence = [
            "select",
            "severity",
            "rule",
            "attribute",
            "value",
            "suggestion",
            "actions",
            "dn",
            "forest",
            "status",
            "last_seen",
        ]
        # Links in the rows lead to other pages: only the sort headers and the pager stay in the list's
        # htmx target (the section around the table boosts its links into #findings).
        attrs = {"class": "table findings", "tbody": {"hx-boost": "false"}}
        row_attrs = {"data-rule": lambda record: record.rule, "id": lambda record: f"finding-{record.pk}"}
        order_by = ("severity", "rule")  # blocking, degrading, hygiene
        empty_text = "No findings match."
        # The header and the pager as every table's; the rows from rows_html.
        template_name = "scans/finding_table.html"

    def __init__(self, *args, tenant=None, forest_names=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant  # whose URLs the rows link to (rows_html)
        self.forest_names = list(forest_names)  # the tenant's forests: a renamed one shows in the rows
        self.holders = {}  # finding pk -> other holders of a duplicate value (holders.py), per page
        self.page_ids: list[int] = []

    def order_value(self, queryset, is_descending):
        """By value: its first VALUE_SORT_PREFIX characters, then the id, both in the index
        finding_open_value, so any page is read in index order. Ordering ties by the whole value
        sorted every finding sharing a prefix per request: 16,835 blank values at a million objects,
        73 ms a page. Values that differ only after 200 characters come in the order they were found."""
        keys = (Left("value", VALUE_SORT_PREFIX), F("id"))
        return queryset.order_by(*(key.desc() if is_descending else key.asc() for key in keys)), True

    def load_page(self) -> list[int]:
        """The page's finding ids, in the list's order, from the ORDER BY alone: an index scan (OFFSET
        skips index entries, not joined rows with their `seen` subquery). A page nearer the end is
        read backwards from the end (the last page costs what the first does); one more than
        paging.MAX_DEPTH rows from both ends is not read (too_deep). The rows themselves are read
        only when the page's rows are not cached (rows_html)."""
        per_page, count = self.paginator.per_page, self.paginator.count
        start = (self.page.number - 1) * per_page
        stop = min(start + per_page, count)
        after = count - stop  # rows after this page
        ordered = self.data.data.values_list("pk", flat=True)
        self.too_deep = min(start, after) > paging.MAX_DEPTH
        if self.too_deep:
            self.page_ids = []
            self.empty_text = (
                f"This page starts {start:,} findings into the list: pages are read up to {paging.MAX_DEPTH:,} "
                "findings from either end. To reach these findings, narrow the filter (a problem, an OU, a "
                "search), sort the other way, or export the list."
            )
        elif after < start:
            # QuerySet.reverse() flips every ORDER BY term (the id tie-breaker too): the index backwards.
            self.page_ids = list(ordered.reverse()[after : after + stop - start])[::-1]
        else:
            self.page_ids = list(ordered[start : start + per_page])
        # The page holds these: `{% if table.page %}` takes its length, which would otherwise run the
        # plain slice (every skipped row joined) as another query.
        self.page.object_list = self.page_ids
        return self.page_ids

    def read_records(self) -> list:
        """The page's findings in full, in the page's order."""
        rows = {finding.pk: finding for finding in self.data.data.filter(pk__in=self.page_ids)}
        return [rows[pk] for pk in self.page_ids if pk in rows]

    def rows_html(self) -> SafeString:
        """The page's rows: built once per version of the tenant's findings (counts.cached: every write
        to them moves the version; no caching without a shared cache), for this page of ids and
        everything else the rows show: the columns (a viewer gets no checkboxes nor buttons), the
        tenant's URL and forests' names, the time zone, language and today's date (the times show
        "14:05" today, "29 Nov" before)."""
        if not self.page_ids:
            return format_html('<tr><td colspan="{}">{}</td></tr>', len(self.columns), self.empty_text)
        key = (
            "finding-rows",
            self.page_ids,
            [column.name for column in self.columns],
            self.tenant.slug,
            self.forest_names,
            timezone.get_current_timezone_name(),
            timezone.localdate().isoformat(),
            translation.get_language(),
        )
        return mark_safe(counts.cached(self.tenant, repr(key), self.build_rows))  # noqa: S308 - built by build_rows

    def build_rows(self) -> SafeString:
        """The page's rows, built in one pass.

        django-tables2 renders a row through a BoundRow, an accessor and a render_* call per cell, and
        the actions cell through a template include: about 5 ms a row, most of a 50-row page's time
        (issue 18). Here each visible column contributes its cell_* method, the URLs are reversed once
        per page, and the output is what the per-cell rendering gave: the same cells, ids, classes and
        attributes (tests/test_finding_rows.py)."""
        records = self.read_records()
        self.holders = holders.other_holders(records, self.tenant)
        cells = [(column.attrs["td"].as_html(), getattr(self, f"cell_{column.name}")) for column in self.columns]
        self._page = _PageContext(self.tenant.slug)
        rows = []
        for index, record in enumerate(records):
            tds = "".join(f"<td {attrs}>{cell(record)}</td>" for attrs, cell in cells)
            parity = "odd" if index % 2 else "even"
            rows.append(f'<tr data-rule="{escape(record.rule)}" id="finding-{record.pk}" class="{parity}">{tds}</tr>')
        return mark_safe("\n".join(rows))  # noqa: S308 - each cell escapes what it shows

    # Each cell_*: the cell's inner HTML, escaped. An empty value (None or "") shows the column's "—",
    # as django-tables2 did for the columns with a render_* method.

    def cell_select(self, record):
        return f'<input type="checkbox" name="select" value="{record.pk}" aria-label="Select this row" />'

    def cell_severity(self, record):
        return f'<span class="badge {escape(record.severity)}">{escape(record.get_severity_display())}</span>'

    def cell_rule(self, record):
        return self._page.rule_title(record.rule)

    def cell_attribute(self, record):
        if not record.attribute:
            return EMPTY
        attribute = escape(record.attribute)
        return f'<span title="{attribute}">{attribute}</span>'

    def cell_value(self, record):
        if not record.value:
            return EMPTY
        # A very long value (a 300-character displayName) shows its first lines; all of it on hover
        # and on the object page.
        shown = f'<span class="mono clamp" title="{escape(record.value)}">{soft_breaks(record.value)}</span>'
        if record.detail:  # e.g. which cloud-only object already holds the value
            detail = escape(record.detail)
            shown += f'<small class="muted detail" title="{detail}">{detail}</small>'
        holders = self.holders.get(record.pk)
        if holders:
            links = format_html_join(", ", '<a href="{}" title="{}">{}</a>', ((h.url, h.dn, h.name) for h in holders))
            shown += f'<small class="holders">Also held by {links}</small>'
        return shown

    def cell_suggestion(self, record):
        value = record.suggestion
        if not value:
            return EMPTY
        return f'<span class="mono clamp" title="{escape(value)}">{soft_breaks(value)}</span>'

    def cell_actions(self, record):
        return finding_buttons(record, self._page.action_urls)

    def cell_dn(self, record):
        if not record.dn:
            return EMPTY
        url = self._page.object_url(record.forest_id, record.guid)
        path = soft_breaks(parent_path(record.dn))
        return (
            f'<a href="{url}" title="{escape(record.dn)}">{escape(object_name(record.dn))}</a>'
            f'<small class="muted path">{path}</small>'
        )

    def cell_forest(self, record):
        return escape(record.forest.name) if record.forest.name else EMPTY

    def cell_status(self, record):
        # The id lets an inline action update this cell out of band.
        status = f'<span id="status-{record.pk}">{escape(record.get_status_display())}</span>'
        # reverted_fixes: a fix of ours that a later scan saw undone (remediation app).
        if record.reverted_fixes.all():
            status += ' <span class="badge red" title="A fix was undone in AD">reverted</span>'
        return status

    def cell_last_seen(self, record):
        # A scan confirms the findings it sees unchanged without rewriting them (with_seen).
        return self._page.when(record.seen_at)


EMPTY = "—"


class _PageContext:
    """What the rows of one page share, computed once: the tenant's URLs, each rule's title, each
    distinct time (a scan sees most findings at the same moment)."""

    def __init__(self, slug: str):
        self.slug = slug
        self.action_urls = ActionUrls(slug)
        self._titles: dict[str, str] = {}
        self._times: dict = {}
        self._objects: dict[int, tuple[str, str]] = {}

    def rule_title(self, code: str) -> str:
        if code not in self._titles:
            rule = rules.RULES.get(code)
            if rule is None:
                self._titles[code] = escape(code) if code else EMPTY
            else:
                self._titles[code] = format_html(
                    '<span title="{} — {} Fix: {}">{}</span>', code, rule.why, rule.fix, rule.title
                )
        return self._titles[code]

    def when(self, moment) -> str:
        if moment not in self._times:
            self._times[moment] = when_short(timezone.localtime(moment))
        return self._times[moment]

    def object_url(self, forest_id: int, guid) -> str:
        # One reverse per forest; the object's GUID is the last part of the URL.
        if forest_id not in self._objects:
            url = reverse("object-detail", args=[self.slug, forest_id, _NO_GUID])
            head, _sep, tail = url.rpartition(str(_NO_GUID))
            self._objects[forest_id] = (head, tail)
        head, tail = self._objects[forest_id]
        return f"{head}{guid}{tail}"


_NO_GUID = uuid.UUID(int=0)
