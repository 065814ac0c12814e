"""Streaming readers for offline Active Directory exports: ldifde (LDIF) and csvde (CSV).

Every reader is a generator that yields `Entry` objects one by one and keeps at most one record
(plus one line) in memory, so a 2 GB export scans in constant memory. Every record is yielded,
whatever its class (OUs and the domain head too): choosing what is in scope is the scan's job.

Errors and streaming
    A malformed file raises `ExportFormatError(message, line)` (1-based line number) at the point
    where the reader meets the problem, after the entries before it have been yielded. Nothing is
    yielded after the error. A caller that must not act on a half-read file (a scan) has to treat
    the exception as fatal for the whole file: write into a new ScanRun and mark it failed, so it
    never becomes the tenant's current picture.

Decisions
    * Binary attributes: a base64 (`::`) value of an attribute in `BINARY_ATTRIBUTES`, or with the
      `;binary` option, stays bytes. Any other base64 value is decoded as UTF-8 to str; when it is
      not valid UTF-8 it stays bytes rather than being mangled. A plain (`:`) value stays str.
    * Change records: `changetype: add` (what ldifde writes on export) is accepted. modify, delete,
      modrdn and moddn raise an error: such a file is a change file (for example IdFix's "LDF"
      export), not an inventory, and skipping its records would make a scan look complete when it
      read nothing.
    * ldapsearch output: its comments, `ref:` continuation references and `search:`/`result:`
      trailers (one per page) are skipped and counted in the caller's `stats`; a non-zero result
      (the server stopped early) is counted as incomplete, or is an error for a caller without
      `stats` (a scan must not take a truncated export for the whole directory).
    * objectGUID is always 16 bytes: a GUID written as text (`6f8a3d0e-...`, with or without
      braces) is converted, anything else is a line-numbered error.
    * `attr:< URL` values are refused: a server-side upload must never open files or URLs it names.
    * Attribute options (`userCertificate;binary`) are dropped from the key; names are lower-cased.
    * An empty value (`mail:` in LDIF, an empty CSV field) means the attribute is absent.
    * DNs are kept as written (RFC 4514 string form, escapes untouched: IdFix's replication-conflict
      test looks for the literal `\\0ACNF:`), but are checked on read. `parse_dn` / `rdn_value`
      give the unescaped parts.
    * csvde: multi-valued attributes are joined with ';' and csvde has no escape for a ';' inside a
      value, so only attributes known to be multi-valued (`CSV_MULTI_VALUED`) are split; any other
      column is one value, so a ';' in sAMAccountName or displayName stays visible to the rules.
      A proxyAddresses value that itself contains ';' cannot be told apart in a csvde file.
      Binary values are csvde's `X'0a1b...'`; a known binary attribute may also be plain hex.
    * Text encodings: UTF-8 (with or without BOM), UTF-16 with BOM (ldifde/csvde `-u`), or the
      `encoding` the caller names (e.g. "cp1252" for a CSV saved by Excel).
    * A NUL character is refused wherever it appears (no text export holds one; the database would
      refuse it later). A base64 value that decodes to text with a NUL stays bytes.

Bounds
    Reading costs time and memory linear in the input, whatever the input: DNs are parsed in one
    pass, and `Limits` caps a line, a value (after unfolding), a DN, a record and the whole file,
    counted in characters after decoding (bytes for the file), so UTF-16 files and folded lines
    are held to the same bounds. Past a bound the reader raises `ExportFormatError` at that line.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import csv
import io
import itertools
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from identityhub.lib.entry import Entry

# Octet-string attributes an AD export carries; their base64 values stay bytes.
BINARY_ATTRIBUTES = frozenset(
    {
        "objectguid",
        "objectsid",
        "sidhistory",
        "usercertificate",
        "usersmimecertificate",
        "cacertificate",
        "thumbnailphoto",
        "jpegphoto",
        "photo",
        "ms-ds-consistencyguid",
        "msexchmailboxguid",
        "msexcharchiveguid",
        "msexchmailboxsecuritydescriptor",
        "ntsecuritydescriptor",
        "logonhours",
        "unicodepwd",
        "msexchsafesendershash",
        "msexchsaferecipientshash",
        "msexchblockedsendershash",
        "msds-generationid",
        "replicationsignature",
    }
)

# Attributes csvde joins with ';'. Only these are split (see the module docstring).
CSV_MULTI_VALUED = frozenset(
    {
        "objectclass",
        "proxyaddresses",
        "member",
        "memberof",
        "othermailbox",
        "othertelephone",
        "otherhomephone",
        "othermobile",
        "otherpager",
        "otheripphone",
        "otherfacsimiletelephonenumber",
        "url",
        "serviceprincipalname",
        "usercertificate",
        "usersmimecertificate",
        "showinaddressbook",
        "msexchextensioncustomattribute1",
        "msexchextensioncustomattribute2",
        "msds-sourceanchor",
        "sidhistory",
    }
)

MAX_LINE_BYTES = 16 * 1024 * 1024  # a line longer than this is not an export; stop before RAM does
_SNIFF_LINES = 64
_MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """What one export may hold; past any bound the reader stops with an ExportFormatError.

    Lengths are characters after decoding (UTF-8 and UTF-16 files alike), the file's in bytes.
    """

    # One physical line: a csvde row holds every value of a multi-valued attribute (a large
    # group's members) on one line.
    line: int = MAX_LINE_BYTES
    # One value: an LDIF attribute line once its folded continuation lines are joined, or one
    # (';'-split) csvde value. AD's largest ordinary values (photos) are 100 KB.
    value: int = 4 * _MiB
    # One DN. AD's RDN values are at most 64 to 255 characters; even a deep tree stays far below.
    dn: int = 64 * 1024
    # One LDIF record or csvde row, all its lines together, and its number of values: room for a
    # group at Microsoft's 250,000-member sync limit (so the rules can still report it).
    record: int = 64 * _MiB
    record_values: int = 500_000
    # The whole file (bytes; characters for a text stream). The upload form's own cap is lower.
    file: int = 4 * 1024 * _MiB


DEFAULT_LIMITS = Limits()

# csv's default field limit (128 KiB) is smaller than a csvde thumbnailPhoto in hex. This is a
# process-wide setting, so only ever raise it.
csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))


class ExportFormatError(ValueError):
    """The export is malformed at `line` (1-based). Fatal for the whole file."""

    def __init__(self, message: str, line: int):
        super().__init__(f"line {line}: {message}")
        self.message = message
        self.line = line


# --------------------------------------------------------------------------- public entry points


def read_export(
    path_or_file,
    source: str,
    *,
    kind: str | None = None,
    encoding: str | None = None,
    stats: Counter | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[Entry]:
    """Yield the entries of an ldifde or csvde export; `kind` ("ldif" or "csv") names the format,
    or else the reader is chosen by content, then name.

    `path_or_file` is a path, a binary file object (e.g. a Django upload) or a text file object.
    `stats`, when given, counts the LDIF records that are not entries (see _skipped_record).
    """
    with _opened(path_or_file) as handle:
        lines = _text_lines(handle, encoding, limits)
        if kind is None:
            kind, lines = _sniff(lines, _name_of(path_or_file))
        if kind == "ldif":
            yield from _parse_ldif(lines, source, stats, limits)
        elif kind == "csv":
            yield from _parse_csv(lines, source, limits)


def read_ldif(path_or_file, source: str, **options) -> Iterator[Entry]:
    """Yield the entries of an LDIF file as ldifde or ldapsearch writes it (see the module docstring).
    Options as read_export's."""
    return read_export(path_or_file, source, kind="ldif", **options)


def read_csv(path_or_file, source: str, **options) -> Iterator[Entry]:
    """Yield the entries of a CSV file as csvde writes it (see the module docstring). Options as read_export's."""
    return read_export(path_or_file, source, kind="csv", **options)


# --------------------------------------------------------------------------- DNs

# One attribute=value pair of an RFC 4514 DN (lenient like AD: '<', '>', '=' may be unescaped,
# and a backslash may escape any character). `sep` is what follows it.
# Every repetition is possessive (*+, ++): no piece gives characters back, so a pair that does not
# match fails after one pass over it. With backtracking, `CN=a<64,000 spaces>"x` re-scanned the
# spaces once per space (quadratic: 43 s for 64 KB). A value's trailing spaces are dropped by
# _unescape_value, so nothing the backtracking used to hand to the last \s* is lost.
_AVA_HEAD = r"""\s*+(?P<type>[A-Za-z][A-Za-z0-9-]*+|\d++(?:\.\d++)++)\s*+=\s*+
    (?P<value>\#[0-9A-Fa-f]*+|"(?:[^"\\]|\\.)*+"|(?:[^,+;"\\]|\\.)*+)\s*+"""
_AVA = re.compile(_AVA_HEAD + r"(?P<sep>[,;+]|$)", re.VERBOSE | re.DOTALL)
_AVA_WITHOUT_SEP = re.compile(_AVA_HEAD, re.VERBOSE | re.DOTALL)  # where a bad pair goes wrong
_ESCAPE = re.compile(r"((?:\\[0-9A-Fa-f]{2})+)|\\(.)", re.DOTALL)


def parse_dn(dn: str) -> list[list[tuple[str, str]]]:
    """Split a DN into RDNs, each a list of (type, unescaped value); raise ValueError if malformed.

    `CN=Smith\\, John+uid=js,OU=Users,DC=x` -> [[("CN", "Smith, John"), ("uid", "js")],
    [("OU", "Users")], [("DC", "x")]]. A `#hex` (BER) value is returned as written.
    """
    if not dn.strip():
        raise ValueError("the DN is empty")
    rdns: list[list[tuple[str, str]]] = [[]]
    pos = 0
    while pos < len(dn):
        match = _AVA.match(dn, pos)
        if match is None:
            raise ValueError(_why_not_a_pair(dn, pos))
        rdns[-1].append((match["type"], _unescape_value(match["value"])))
        pos = match.end()
        sep = match["sep"]
        if sep and pos >= len(dn):
            raise ValueError(f"the DN ends with a separator {sep!r}: {_excerpt(dn, pos)}")
        if sep in (",", ";"):
            rdns.append([])
    return rdns


def _why_not_a_pair(dn: str, pos: int) -> str:
    head = _AVA_WITHOUT_SEP.match(dn, pos)
    if head is None or head.end() >= len(dn):
        return f"cannot read an attribute=value pair at position {pos + 1} of {_excerpt(dn, pos)}"
    stop = head.end()  # the value ended, but not at a separator: this character must be escaped
    return f"unexpected {dn[stop]!r} at position {stop + 1} (escape it with a backslash): {_excerpt(dn, stop)}"


def rdn_value(dn: str) -> str:
    """The unescaped value of the first attribute of the first RDN ("John Smith" for a user)."""
    return parse_dn(dn)[0][0][1]


def _unescape_value(raw: str) -> str:
    if raw.startswith("#"):
        return raw
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        raw = raw[1:-1]
    else:
        # Trailing spaces are insignificant unless escaped (one pass: no copy per space).
        kept = raw.rstrip(" ")
        raw = kept + " " if kept.endswith("\\") and len(kept) < len(raw) else kept
    if "\\" not in raw:
        return raw
    return _ESCAPE.sub(_unescape_one, raw)


def _unescape_one(match: re.Match) -> str:
    if match[1]:
        # Consecutive hex escapes are the UTF-8 bytes of one or more characters (\C3\BC = ü).
        return bytes.fromhex(match[1].replace("\\", "")).decode("utf-8", "replace")
    return match[2]


def _excerpt(text: str, pos: int = 0, width: int = 40) -> str:
    """A short quoted piece of `text` around `pos`: errors and logs never carry a whole value."""
    start = max(0, min(pos - width // 2, len(text) - width))
    piece = text[start : start + width]
    return ("..." if start else "") + repr(piece) + ("..." if start + width < len(text) else "")


def _checked_dn(dn: str, line: int, limits: Limits = DEFAULT_LIMITS) -> str:
    if len(dn) > limits.dn:
        raise ExportFormatError(f"DN is longer than {limits.dn} characters: {_excerpt(dn)}", line)
    try:
        parse_dn(dn)
    except ValueError as exc:
        raise ExportFormatError(f"DN is not valid: {exc}", line) from None
    return dn


# --------------------------------------------------------------------------- opening and decoding


@contextlib.contextmanager
def _opened(path_or_file):
    if isinstance(path_or_file, str | os.PathLike):
        with open(path_or_file, "rb") as handle:
            yield handle
    else:
        yield path_or_file  # the caller opened it and closes it


def _name_of(path_or_file) -> str:
    if isinstance(path_or_file, str | os.PathLike):
        return os.fspath(path_or_file)
    return str(getattr(path_or_file, "name", "") or "")


def _text_lines(handle, encoding: str | None, limits: Limits = DEFAULT_LIMITS) -> Iterator[tuple[int, str]]:
    """Yield (line number, line with its ending) from a binary or text file object."""
    if isinstance(handle, io.TextIOBase):
        yield from _numbered_text(handle, limits)
        return
    head = handle.read(4)
    stream = io.BufferedReader(_Prepend(head, handle), 64 * 1024)
    encoding = encoding or _detect_encoding(head)
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        # Multi-byte code units: '\n' is not a byte boundary, let the codec split lines.
        yield from _numbered_text(io.TextIOWrapper(stream, encoding=encoding, newline="\n"), limits)
    else:
        yield from _numbered_bytes(stream, encoding, limits)


def _detect_encoding(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # the codec reads and drops the BOM
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0]:
        return "utf-16-le"  # "d\0n\0": Unicode export without a BOM
    if len(head) >= 4 and head[0] == 0 and head[2] == 0 and head[1]:
        return "utf-16-be"
    return "utf-8"


def _numbered_bytes(stream, encoding: str, limits: Limits) -> Iterator[tuple[int, str]]:
    size = 0
    for number, raw in enumerate(iter(partial(stream.readline, limits.line + 1), b""), 1):
        if len(raw) > limits.line:
            raise ExportFormatError(f"line is longer than {limits.line} bytes", number)
        size += len(raw)
        if size > limits.file:
            raise ExportFormatError(f"file is larger than {limits.file} bytes", number)
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            message = (
                f"text is not valid {encoding} (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                "export as Unicode (ldifde/csvde -u) or UTF-8, or name the file's encoding"
            )
            raise ExportFormatError(message, number) from None
        _refuse_nul(text, number)
        yield number, text.removeprefix("\ufeff") if number == 1 else text


def _numbered_text(handle, limits: Limits) -> Iterator[tuple[int, str]]:
    """Lines of a text stream (UTF-16 files decode through one), under the same bounds as bytes."""
    number, size = 0, 0
    read = partial(handle.readline, limits.line + 1)
    while True:
        try:
            text = read()
        except UnicodeDecodeError as exc:
            raise ExportFormatError(f"text cannot be decoded: {exc.reason}", number + 1) from None
        if not text:
            return
        number += 1
        if len(text) > limits.line:
            raise ExportFormatError(f"line is longer than {limits.line} characters", number)
        size += len(text)
        if size > limits.file:
            raise ExportFormatError(f"file is larger than {limits.file} characters", number)
        _refuse_nul(text, number)
        yield number, text.removeprefix("\ufeff") if number == 1 else text


def _refuse_nul(text: str, number: int) -> None:
    # No LDIF or CSV export holds a NUL, and PostgreSQL refuses one in text: say so here, by line.
    column = text.find("\0")
    if column >= 0:
        raise ExportFormatError(
            f"NUL character at column {column + 1}: not a text export (a UTF-16 file without its byte order mark?)",
            number,
        )


class _Prepend(io.RawIOBase):
    """A raw stream that serves `head` again, then the rest of `handle` (any object with read)."""

    def __init__(self, head: bytes, handle):
        self._head = head
        self._handle = handle

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            data, self._head = self._head[: len(buffer)], self._head[len(buffer) :]
        else:
            data = self._handle.read(len(buffer)) or b""
        buffer[: len(data)] = data
        return len(data)


def _sniff(lines: Iterator[tuple[int, str]], name: str) -> tuple[str, Iterator[tuple[int, str]]]:
    """Look at the first meaningful line; fall back to the file name's extension."""
    seen: list[tuple[int, str]] = []
    kind = ""
    for item in lines:
        seen.append(item)
        text = item[1].strip()
        if text and not text.startswith("#"):
            kind = _kind_of_first_line(text)
            break
        if len(seen) >= _SNIFF_LINES:
            break
    if not kind:
        kind = {".ldf": "ldif", ".ldif": "ldif", ".csv": "csv"}.get(os.path.splitext(name)[1].lower(), "")
    if not kind and any(text.strip() for _, text in seen):
        raise ExportFormatError("not an LDIF (dn: ...) or CSV (header with a DN column) export", 1)
    return kind or "ldif", itertools.chain(seen, lines)


def _kind_of_first_line(text: str) -> str:
    if re.match(r"(?i)(dn|version)\s*:", text):
        return "ldif"
    fields = [field.strip().strip('"').lower() for field in text.split(",")]
    return "csv" if "dn" in fields else ""


# --------------------------------------------------------------------------- LDIF

_ATTR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.;-]*")
_KEYS: dict[str, tuple[str, bool]] = {}  # attribute name as written -> (key, binary); a cache


def _parse_ldif(
    lines: Iterator[tuple[int, str]], source: str, stats: Counter | None = None, limits: Limits = DEFAULT_LIMITS
) -> Iterator[Entry]:
    first = True
    strict = stats is None  # nobody would hear about an incomplete search: refuse it
    stats = Counter() if stats is None else stats
    for record in _ldif_records(lines, limits):
        if first and record[0][1][:8].lower() == "version:":
            _check_version(*record[0])
            record = record[1:]
        first = False
        if record and not _skipped_record(record, stats, strict):
            yield _ldif_entry(record, source, limits)


def _skipped_record(record: list[tuple[int, str]], stats: Counter, strict: bool = False) -> bool:
    """Count and skip what ldapsearch prints besides entries: search references and result trailers.

    `ref: ldap://...` records are continuation references (AD's application partitions) and
    `search: N` / `result: 0 Success` records end each (paged) search. A result other than 0
    (e.g. "4 Size limit exceeded") means the server stopped early: counted as incomplete, so the
    caller can say so instead of presenting a partial export as whole; when the caller keeps no
    stats (a scan, which would resolve the findings of every object missing) it is an error.
    """
    name = record[0][1].partition(":")[0].strip().lower()
    if name == "ref":
        stats["referrals"] += sum(1 for _, line in record if line.partition(":")[0].strip().lower() == "ref")
        return True
    if name != "search":
        return False
    stats["search results"] += 1
    for number, line in record:
        key, _, value = line.partition(":")
        if key.strip().lower() == "result" and value.split()[:1] != ["0"]:
            if strict:
                raise ExportFormatError(
                    f"ldapsearch reported 'result: {value.strip()}': the export is incomplete (page the search: "
                    "ldapsearch -E pr=1000/noprompt)",
                    number,
                )
            stats[f"incomplete: result {value.strip()}"] += 1
    return True


def _ldif_records(lines: Iterator[tuple[int, str]], limits: Limits = DEFAULT_LIMITS) -> Iterator[list[tuple[int, str]]]:
    """Group lines into records of unfolded (line number, text), dropping comments.

    One function rather than a pipeline of generators: this loop runs once per physical line.
    It holds one record at a time, so it is where a value (folded lines and all) and a record
    are held to their bounds.
    """
    record: list[tuple[int, str]] = []
    record_size = 0
    start, parts, size = 0, None, 0  # the logical line being unfolded, and its length so far
    in_comment = False
    for number, raw in lines:
        line = raw.rstrip("\r\n")
        if line[:1] == " ":
            if in_comment:
                continue  # a folded comment is still a comment
            if parts is None:
                raise ExportFormatError("continuation line with no attribute before it", number)
            parts.append(line[1:])
            size += len(line) - 1
            if size > limits.value:
                raise ExportFormatError(
                    f"value (with its folded lines) is longer than {limits.value} characters", start
                )
            continue
        if parts is not None:
            record.append((start, parts[0] if len(parts) == 1 else "".join(parts)))
            parts = None
            record_size += size
            _check_record(record, record_size, limits)
        in_comment = line[:1] == "#"
        if in_comment:
            continue
        if line and not line.isspace():
            start, parts, size = number, [line], len(line)
            if size > limits.value:
                raise ExportFormatError(f"value is longer than {limits.value} characters", number)
        elif record:
            yield record
            record, record_size = [], 0
    if parts is not None:
        record.append((start, "".join(parts)))
        _check_record(record, record_size + size, limits)
    if record:
        yield record


def _check_record(record: list[tuple[int, str]], size: int, limits: Limits) -> None:
    if len(record) > limits.record_values:
        raise ExportFormatError(f"record has more than {limits.record_values} lines", record[0][0])
    if size > limits.record:
        raise ExportFormatError(f"record is longer than {limits.record} characters", record[0][0])


def _check_version(number: int, line: str) -> None:
    if line.split(":", 1)[1].strip() != "1":
        raise ExportFormatError(f"unsupported LDIF version {line.split(':', 1)[1].strip()!r}", number)


def _ldif_entry(record: list[tuple[int, str]], source: str, limits: Limits = DEFAULT_LIMITS) -> Entry:
    number, line = record[0]
    name, kind, value = _split_attr_line(number, line)
    if name.lower() != "dn":
        raise ExportFormatError(f"record does not start with dn: (found {name!r})", number)
    dn = _checked_dn(_dn_value(number, kind, value), number, limits)
    entry = Entry(dn=dn, source=source)
    for number, line in record[1:]:
        name, kind, value = _split_attr_line(number, line)
        key, binary = _attribute_key(name)
        if key == "changetype":
            _check_changetype(number, value.strip())
            continue
        if key == "control":
            continue  # request controls mean nothing for an inventory
        if key == "dn":
            raise ExportFormatError("dn: inside a record (a blank line missing before it?)", number)
        decoded = _ldif_value(number, key, binary, kind, value)
        if key == "objectguid" and decoded:
            decoded = _guid_bytes(number, decoded, text_hex=True)
        if decoded != "" and decoded != b"":
            entry.attributes.setdefault(key, []).append(decoded)
    return entry


def _split_attr_line(number: int, line: str) -> tuple[str, str, str]:
    """'name: v' -> (name, ':', v); 'name:: b64' -> (name, '::', b64); 'name:< url' -> ':<'."""
    name, colon, rest = line.partition(":")
    name = name.rstrip(" ")
    if not colon or (name not in _KEYS and not _ATTR_NAME.fullmatch(name)):
        shown = line if len(line) <= 40 else line[:40] + "..."
        raise ExportFormatError(f"expected 'attribute: value', got {shown!r}", number)
    if rest[:1] == ":":
        return name, "::", rest[1:]
    if rest[:1] == "<":
        return name, ":<", rest[1:]
    return name, ":", rest


def _attribute_key(name: str) -> tuple[str, bool]:
    known = _KEYS.get(name)
    if known is None:
        base, *options = name.lower().split(";")
        known = (base, base in BINARY_ATTRIBUTES or "binary" in options)
        if len(_KEYS) < 10_000:  # bounded: a hostile file could invent endless names
            _KEYS[name] = known
    return known


def _dn_value(number: int, kind: str, value: str) -> str:
    if kind == ":<":
        raise ExportFormatError("dn:< (a DN read from a URL) is not supported", number)
    if kind == ":":
        return value.strip(" ")
    raw = _b64(number, "dn", value)
    try:
        dn = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ExportFormatError("base64 DN is not valid UTF-8", number) from None
    if "\0" in dn:
        raise ExportFormatError("base64 DN holds a NUL character", number)
    return dn


def _check_changetype(number: int, changetype: str) -> None:
    if changetype.lower() != "add":
        raise ExportFormatError(
            f"changetype: {changetype} records are not supported: this is a change file (such as "
            "IdFix's LDF export), not a directory export (ldifde -f out.ldf -d <base>)",
            number,
        )


def _ldif_value(number: int, key: str, binary: bool, kind: str, value: str) -> str | bytes:
    if kind == ":":
        return value.lstrip(" ")
    if kind == ":<":
        raise ExportFormatError(
            f"{key}:< (a value read from a URL) is not supported; export values inline "
            "(ldifde writes binary values as base64 with '::')",
            number,
        )
    raw = _b64(number, key, value)
    if binary:
        return raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw  # not text after all: keep the bytes rather than guess an encoding
    return raw if "\0" in text else text  # NUL: not text either (and no text column takes it)


def _b64(number: int, key: str, value: str) -> bytes:
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ExportFormatError(f"base64 value for {key} is not valid", number) from None


def _guid_bytes(number: int, value: str | bytes, *, text_hex: bool = False) -> bytes:
    """objectGUID as AD's 16 bytes, also when a tool wrote it as text ({6f8a3d0e-2b4c-...})."""
    if isinstance(value, bytes):
        if len(value) == 16:
            return value
        value = value.decode("ascii", "replace")
    text = value.strip()
    if text_hex or not _HEX.fullmatch(text):  # 32 plain hex digits: csvde's bytes, else GUID text
        try:
            return uuid.UUID(text.strip("{}")).bytes_le
        except ValueError:
            pass
    shown = text if len(text) <= 40 else text[:40] + "..."
    raise ExportFormatError(
        f"objectGUID {shown!r} is not a GUID (16 bytes, or text like 6f8a3d0e-2b4c-4d1a-9e7f-0123456789ab)", number
    )


# --------------------------------------------------------------------------- CSV

_CSV_BINARY = re.compile(r"X'([0-9A-Fa-f]*)'")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")


def _parse_csv(lines: Iterator[tuple[int, str]], source: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[Entry]:
    budget = _RowBudget(lines, limits)
    reader = csv.reader(budget, strict=True)
    header = _csv_header(reader)
    while True:
        start = reader.line_num + 1
        budget.new_row(start)
        row = _next_row(reader)
        if row is None:
            return
        if row and any(field.strip() for field in row):
            yield _csv_entry(row, header, start, source, limits)


class _RowBudget:
    """The lines csv.reader reads, holding each row (a quoted field may span lines) to the
    record bound: csv has no such limit, and its field limit is per field, not per row."""

    def __init__(self, lines: Iterator[tuple[int, str]], limits: Limits):
        self._lines, self._limit = lines, limits.record
        self._start, self._size = 1, 0

    def new_row(self, start: int) -> None:
        self._start, self._size = start, 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        _, text = next(self._lines)
        self._size += len(text)
        if self._size > self._limit:
            raise ExportFormatError(f"row is longer than {self._limit} characters", self._start)
        return text


def _next_row(reader) -> list[str] | None:
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        raise ExportFormatError(f"CSV cannot be read: {exc} (an unclosed quote?)", reader.line_num) from None


def _csv_header(reader) -> list[str]:
    row = _next_row(reader)
    while row is not None and not any(field.strip() for field in row):
        row = _next_row(reader)
    if row is None:
        raise ExportFormatError("CSV file is empty: no header row", max(reader.line_num, 1))
    header = [field.strip().split(";")[0].lower() for field in row]
    header[0] = header[0].removeprefix("\ufeff")
    if "dn" not in header:
        raise ExportFormatError("CSV header has no DN column", reader.line_num)
    repeated = sorted({name for name in header if header.count(name) > 1 and name})
    if repeated:
        raise ExportFormatError(f"CSV header repeats {', '.join(repeated)}", reader.line_num)
    return header


def _csv_entry(row: list[str], header: list[str], number: int, source: str, limits: Limits = DEFAULT_LIMITS) -> Entry:
    if len(row) > len(header):
        raise ExportFormatError(f"row has {len(row)} fields, the header has {len(header)}", number)
    fields = dict(zip(header, row, strict=False))  # a short row (trailing fields cut) = absent
    dn = fields.pop("dn", "").strip()
    if not dn:
        raise ExportFormatError("row has an empty DN", number)
    entry = Entry(dn=_checked_dn(dn, number, limits), source=source)
    count = 0
    for key, field in fields.items():
        if not key or field == "":
            continue
        parts = field.split(";") if key in CSV_MULTI_VALUED else [field]
        count += len(parts)
        if count > limits.record_values:
            raise ExportFormatError(f"row has more than {limits.record_values} values", number)
        values = [_csv_value(number, key, part, limits) for part in parts if part != ""]
        if values:
            entry.attributes[key] = values
    return entry


def _csv_value(number: int, key: str, text: str, limits: Limits = DEFAULT_LIMITS) -> str | bytes:
    if len(text) > limits.value:
        raise ExportFormatError(f"value of {key} is longer than {limits.value} characters", number)
    match = _CSV_BINARY.fullmatch(text)
    if match:
        if len(match[1]) % 2:
            raise ExportFormatError(f"binary value for {key} has an odd number of hex digits: {_excerpt(text)}", number)
        return bytes.fromhex(match[1])
    if key == "objectguid" and not _HEX.fullmatch(text):  # plain hex stays csvde's raw bytes
        return _guid_bytes(number, text)
    if key in BINARY_ATTRIBUTES:
        if not _HEX.fullmatch(text):
            raise ExportFormatError(f"binary value for {key} is not hex (X'0a1b...')", number)
        return bytes.fromhex(text)
    return text
