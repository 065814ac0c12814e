"""How pages name a directory object: by its own name (the first RDN's value), its path below."""

import re


def object_name(dn: str) -> str:
    """ "CN=Ann Lee,OU=Sales,DC=corp" -> "Ann Lee"; "CN=Adams\\, Emily,..." -> "Adams, Emily"."""
    dn = dn or ""
    first = _split_first(dn)[0]
    return _unescape(first.split("=", 1)[-1]) or dn


def _unescape(value: str) -> str:
    # RFC 4514: a backslash before a special character, or two hex digits for one byte of UTF-8.
    out, last = bytearray(), 0
    for match in re.finditer(r"\\([0-9A-Fa-f]{2}|.)", value):
        out += value[last : match.start()].encode()
        text = match.group(1)
        out += bytes.fromhex(text) if len(text) == 2 else text.encode()
        last = match.end()
    out += value[last:].encode()
    return out.decode("utf-8", "replace")


def parent_path(dn: str) -> str:
    return _split_first(dn or "")[1]


def _split_first(dn: str) -> tuple[str, str]:
    escaped = False
    for i, char in enumerate(dn):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            return dn[:i], dn[i + 1 :]
    return dn, ""
