"""What the object page shows beyond its findings: values as lists, history across scans, changes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Value:
    text: str
    primary: bool = False  # the primary SMTP address (upper-case "SMTP:" prefix)


@dataclass
class Step:
    """One scan's snapshot of the object and what differed from the scan before it."""

    snapshot: object
    added: dict[str, list[str]] = field(default_factory=dict)
    removed: dict[str, list[str]] = field(default_factory=dict)
    moved_from: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.moved_from)


def _values(raw) -> list[str]:
    return [str(v) for v in (raw if isinstance(raw, list) else [raw])]


def attribute_rows(attributes: dict) -> list[tuple[str, list[Value]]]:
    """(name, values) sorted by name; proxyAddresses with the primary SMTP address first and marked."""
    rows = []
    for name, raw in sorted(attributes.items(), key=lambda kv: kv[0].lower()):
        values = [Value(v) for v in _values(raw)]
        if name.lower() == "proxyaddresses":
            for value in values:
                value.primary = value.text.startswith("SMTP:")
            values.sort(key=lambda v: (not v.primary, v.text.lower()))
        rows.append((name, values))
    return rows


def history(snapshots: list) -> list[Step]:
    """Newest first, each scan's snapshot with the values added and removed since the previous scan."""
    steps = []
    ordered = list(reversed(snapshots))  # oldest first
    for before, now in zip([None, *ordered], ordered, strict=False):
        step = Step(now)
        if before is not None:
            old, new = before.attributes, now.attributes
            for name in sorted(set(old) | set(new), key=str.lower):
                was, is_ = set(_values(old.get(name, []))), set(_values(new.get(name, [])))
                if is_ - was:
                    step.added[name] = sorted(is_ - was)
                if was - is_:
                    step.removed[name] = sorted(was - is_)
            if before.dn != now.dn:
                step.moved_from = before.dn
        steps.append(step)
    return list(reversed(steps))


def changes_of(forest, guid, limit: int = 100) -> list:
    """The changes made to this object (the change log's rows for it), newest first. Through the
    forest's reverse relation: the remediation app builds on scans, not the other way round."""
    return list(
        forest.changes.filter(guid=guid)
        .select_related("requested_by", "approved_by")
        .order_by("-created", "-pk")[:limit]
    )
