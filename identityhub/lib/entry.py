"""The one shape a directory object takes between a source (LDAP, LDIF, CSV) and the rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

# Entra Connect syncs these structural classes; everything else in a forest is out of scope.
SYNCED_CLASSES = ("inetOrgPerson", "user", "contact", "group")


@dataclass(slots=True)
class Entry:
    """A directory object as read from any source.

    Attribute names are lower-cased keys, values are always lists: str for text attributes,
    bytes for binary ones (objectGUID, objectSid, userCertificate, ...).
    """

    dn: str
    attributes: dict[str, list] = field(default_factory=dict)
    source: str = ""  # the forest (or file) the entry came from

    def values(self, name: str) -> list:
        return self.attributes.get(name.lower(), [])

    def first(self, name: str, default=None):
        values = self.values(name)
        return values[0] if values else default

    @property
    def object_classes(self) -> list[str]:
        return [str(v) for v in self.values("objectClass")]

    @property
    def object_class(self) -> str:
        """The most specific synced class (inetOrgPerson before user), or the last class listed."""
        lowered = {c.lower() for c in self.object_classes}
        for name in SYNCED_CLASSES:
            if name.lower() in lowered:
                return name
        classes = self.object_classes
        return classes[-1] if classes else ""

    @property
    def guid(self) -> str | None:
        """objectGUID as AD shows it (little-endian field order), or None when absent."""
        raw = self.first("objectGUID")
        if raw is None:
            return None
        if isinstance(raw, bytes) and len(raw) == 16:
            return str(uuid.UUID(bytes_le=raw))
        return str(uuid.UUID(str(raw).strip("{}")))
