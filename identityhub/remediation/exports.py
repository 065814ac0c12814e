"""Exports of the change log: CSV rows, and LDIF that ldifde can import (the changes, or their undo).

The LDIF builder is plain functions (no Django), so it can be tested on its own:

* one `changetype: modify` record per change: `delete: attr` with the exact old values, then
  `add: attr` with the new ones, like the guarded modify the app itself sends, so ldifde refuses a
  record whose old value is no longer there instead of overwriting someone else's value;
* values and DNs that are not RFC 2849 SAFE-STRINGs (leading space, ':' or '<', trailing space,
  non-ASCII, NUL/CR/LF) are written base64 (`attr:: ...`), so the file is pure ASCII;
* lines are folded at 76 characters (continuation lines start with one space) and end with CRLF,
  as ldifde writes them; no `version:` line (ldifde writes none), `#` comments name each change.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

CRLF = "\r\n"
WIDTH = 76
FORWARD, UNDO = "forward", "undo"

# RFC 2849: SAFE-CHAR is %x01-09 / %x0B-0C / %x0E-7F; SAFE-INIT-CHAR also excludes space, ':' and '<'.
_SAFE_STRING = re.compile(r"[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*")


def is_safe(value: str) -> bool:
    """May `value` be written as `attr: value`? (Else base64.) Trailing spaces are base64 too (RFC 2849 SHOULD)."""
    if value == "":
        return True
    return bool(_SAFE_STRING.fullmatch(value)) and not value.endswith(" ")


def attr_line(name: str, value: str) -> str:
    """One unfolded `name: value` or `name:: base64` line."""
    if is_safe(value):
        return f"{name}: {value}" if value else f"{name}:"
    return f"{name}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}"


def fold(line: str, width: int = WIDTH) -> list[str]:
    """Split one logical line into physical lines of at most `width` characters (RFC 2849 folding)."""
    if len(line) <= width:
        return [line]
    lines = [line[:width]]
    rest = line[width:]
    step = width - 1  # a continuation line starts with one space
    lines.extend(" " + rest[i : i + step] for i in range(0, len(rest), step))
    return lines


def comment(text: str) -> str:
    """A `#` comment line: ASCII only, never longer than one line (ldifde does not unfold comments)."""
    ascii_text = " ".join(text.split()).encode("ascii", "backslashreplace").decode("ascii")
    return ("# " + ascii_text)[:WIDTH]


@dataclass
class Modification:
    """One attribute change of one object: delete exactly `delete`, then add `add`."""

    dn: str
    attribute: str
    delete: list[str] = field(default_factory=list)
    add: list[str] = field(default_factory=list)
    note: str = ""

    def reversed(self) -> Modification:
        return Modification(self.dn, self.attribute, delete=list(self.add), add=list(self.delete), note=self.note)


def modify_record(mod: Modification) -> str:
    """The LDIF text of one modify record, CRLF line ends, ending with the blank line that closes it."""
    logical = []
    if mod.note:
        logical.append(comment(mod.note))
    logical += [attr_line("dn", mod.dn), "changetype: modify"]
    for op, values in (("delete", mod.delete), ("add", mod.add)):
        if not values:
            continue  # never a bare `delete: attr`, which would remove every value
        logical.append(f"{op}: {mod.attribute}")
        logical += [attr_line(mod.attribute, v) for v in values]
        logical.append("-")
    physical = [part for line in logical for part in (fold(line) if not line.startswith("#") else [line])]
    return CRLF.join(physical) + CRLF + CRLF


def ldif(modifications: Iterable[Modification], direction: str = FORWARD, header: str = "") -> Iterator[str]:
    """The LDIF file, record by record (streams: holds one record at a time).

    `direction=UNDO` writes each modification the other way; the caller passes them newest first.
    A modification that neither deletes nor adds anything (an accept) writes no record.
    """
    if header:
        yield "".join(comment(line) + CRLF for line in header.splitlines())
    for mod in modifications:
        if not mod.delete and not mod.add:
            continue
        yield modify_record(mod.reversed() if direction == UNDO else mod)


# --------------------------------------------------------------------------- from Change rows


def modification_of(change) -> Modification:
    who = change.requested_by.get_username() if change.requested_by_id else "?"
    when = change.applied_at or change.created
    note = f"change {change.pk}: {change.action} by {who}, {when:%Y-%m-%d %H:%M} UTC"
    return Modification(change.dn, change.attribute, list(change.old_values), list(change.new_values), note)


CSV_HEADER = [
    "id",
    "time",
    "user",
    "forest",
    "dn",
    "attribute",
    "old_values",
    "new_values",
    "action",
    "result",
    "error",
    "current_values",
    "approved_by",
    "approved_at",
    "applied_at",
    "reverts",
]

# A spreadsheet runs a cell starting with these as a formula; AD values come from HR feeds and users.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text) -> str:
    text = "" if text is None else str(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _when(value) -> str:
    return value.isoformat() if value else ""


def csv_row(change) -> list[str]:
    """One change as CSV cells; multi-valued cells hold one value per line."""
    return [
        str(change.pk),
        _when(change.created),
        _cell(change.requested_by.get_username()),
        _cell(change.forest.name),
        _cell(change.dn),
        change.attribute,
        "\n".join(_cell(v) for v in change.old_values),
        "\n".join(_cell(v) for v in change.new_values),
        change.action,
        change.result,
        _cell(change.error),
        "\n".join(_cell(v) for v in change.current_values or []),
        _cell(change.approved_by.get_username()) if change.approved_by_id else "",
        _when(change.approved_at),
        _when(change.applied_at),
        str(change.reverts_id or ""),
    ]
