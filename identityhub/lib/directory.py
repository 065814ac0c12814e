"""LDAP access to Active Directory with ldap3: connect, test, and (later) stream and modify.

Plain Python: callers pass a DirectorySettings and get entries or clear DirectoryError subclasses.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import re
import signal
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import ldap3
from ldap3.core import exceptions as ldap_exc
from ldap3.utils.ciDict import CaseInsensitiveDict
from ldap3.utils.conv import to_unicode

from .entry import Entry

TLS_PORTS = {636, 3269}
DEFAULT_TIMEOUT = 10

# The "data NNN" code in an AD bind error says why the bind failed.
AD_BIND_REASONS = {
    "525": "the bind user does not exist",
    "52e": "the password is wrong",
    "530": "the bind user may not log on at this time",
    "531": "the bind user may not log on from this workstation",
    "532": "the bind user's password has expired",
    "533": "the bind user is disabled",
    "701": "the bind user's account has expired",
    "773": "the bind user must change its password",
    "775": "the bind user is locked out",
}


class DirectoryError(Exception):
    """Anything that stopped an LDAP operation; the message is meant for the admin."""


class UnreachableError(DirectoryError):
    pass


class TlsError(DirectoryError):
    pass


class BindError(DirectoryError):
    pass


class BaseDnNotFoundError(DirectoryError):
    pass


@dataclass(frozen=True)
class DirectorySettings:
    """How to reach and read one forest."""

    servers: list[str]
    bind_user: str
    bind_password: str
    base_dns: list[str] = field(default_factory=list)
    port: int = 636
    use_starttls: bool = False
    ca_certificate: str = ""
    timeout: int = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class ConnectionReport:
    server: str
    tls: str  # "LDAPS", "StartTLS" or "none"
    vendor: str
    naming_contexts: list[str]
    base_dns: list[str]


def _split_host(server: str, default_port: int) -> tuple[str, int]:
    match = re.fullmatch(r"\[?([^\]]+?)\]?(?::(\d+))?", server.strip())
    if not match:
        raise DirectoryError(f"{server!r} is not a host name")
    host, port = match.groups()
    # A bare IPv6 address has colons but no brackets: keep it whole.
    if port and ":" in host and not server.startswith("["):
        return server, default_port
    return host, int(port) if port else default_port


def _tls(settings: DirectorySettings) -> ldap3.Tls:
    if settings.ca_certificate.strip():
        return ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_data=settings.ca_certificate)
    return ldap3.Tls(validate=ssl.CERT_REQUIRED)


def _server(settings: DirectorySettings, server: str) -> ldap3.Server:
    host, port = _split_host(server, settings.port)
    use_ssl = port in TLS_PORTS
    tls = _tls(settings) if use_ssl or settings.use_starttls else None
    return ldap3.Server(
        host, port=port, use_ssl=use_ssl, tls=tls, get_info=ldap3.NONE, connect_timeout=settings.timeout
    )


def _describe_bind_failure(result: dict) -> str:
    message = result.get("message", "") or ""
    code = re.search(r"data ([0-9a-f]{3})", message)
    if code and code.group(1) in AD_BIND_REASONS:
        return f"Bind refused: {AD_BIND_REASONS[code.group(1)]}."
    if result.get("description") == "invalidCredentials":
        return "Bind refused: the user name or password is wrong."
    if result.get("description") == "strongerAuthRequired":
        return "Bind refused: the server requires TLS (use port 636 or StartTLS)."
    return f"Bind refused: {result.get('description')} {message}".strip()


def _is_tls_problem(exc: BaseException) -> bool:
    text = repr(exc).lower()
    return any(word in text for word in ("ssl", "certificate", "tls", "handshake"))


def _explain_socket_error(exc: BaseException, host: str, port: int) -> DirectoryError:
    if _is_tls_problem(exc):
        return TlsError(
            f"TLS with {host}:{port} failed: {_tls_reason(exc)}. Check the CA certificate and the host name."
        )
    return UnreachableError(f"Cannot reach {host}:{port}: {_socket_reason(exc)}.")


def _tls_reason(exc: BaseException) -> str:
    text = str(exc)
    match = re.search(r"certificate verify failed: ([^(\]'\"]+)", text)
    return match.group(1).strip() if match else "the server's certificate was not accepted"


def _socket_reason(exc: BaseException) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused (no LDAP server listens there)"
    if "timed out" in text or "timeout" in text:
        return "no answer before the time-out"
    # ldap3 words a DNS failure as "invalid server address" (it swallows the socket.gaierror).
    dns_failure = ("name or service not known", "getaddrinfo", "invalid server address", "nodename nor servname")
    if any(words in text for words in dns_failure) or isinstance(exc, socket.gaierror):
        return "the host name does not resolve (DNS)"
    return str(exc) or exc.__class__.__name__


def connect(settings: DirectorySettings, server: str | None = None) -> ldap3.Connection:
    """A bound connection to the first server that answers (or to `server`)."""
    servers = [server] if server else settings.servers
    if not servers:
        raise DirectoryError("No domain controller is configured.")
    last_error: DirectoryError | None = None
    for name in servers:
        try:
            return _bind(settings, name)
        except (UnreachableError, TlsError) as exc:
            # Try the next DC; a refused bind, by contrast, would be refused by every DC.
            last_error = exc
    raise last_error  # type: ignore[misc]


def _bind(settings: DirectorySettings, name: str) -> ldap3.Connection:
    server = _server(settings, name)
    conn = ldap3.Connection(
        server,
        user=settings.bind_user,
        password=settings.bind_password,
        receive_timeout=settings.timeout,
        raise_exceptions=False,
        read_only=False,
        auto_referrals=False,
    )
    try:
        conn.open()
        if settings.use_starttls and not server.ssl:
            conn.start_tls()
        bound = conn.bind()
    except ldap_exc.LDAPStartTLSError as exc:
        raise TlsError(f"StartTLS with {server.host}:{server.port} failed: {_tls_reason(exc)}.") from exc
    except (ldap_exc.LDAPSocketOpenError, ldap_exc.LDAPSocketReceiveError, ldap_exc.LDAPSocketSendError) as exc:
        raise _explain_socket_error(exc, server.host, server.port) from exc
    except ldap_exc.LDAPSessionTerminatedByServerError as exc:
        raise UnreachableError(f"{server.host}:{server.port} closed the connection: {exc}") from exc
    except ldap_exc.LDAPException as exc:
        raise UnreachableError(f"{server.host}:{server.port} did not complete the bind: {exc}") from exc
    if not bound:
        result = conn.result
        conn.unbind()
        raise BindError(_describe_bind_failure(result))
    return conn


def root_dse(conn: ldap3.Connection) -> dict:
    conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["*", "+"])
    if not conn.entries and not conn.response:
        return {}
    return conn.response[0].get("attributes", {}) if conn.response else {}


def test_connection(settings: DirectorySettings) -> ConnectionReport:
    """Bind for real and check every base DN; raises a DirectoryError saying what is wrong."""
    conn = connect(settings)
    try:
        dse = root_dse(conn)
        naming_contexts = [str(v) for v in dse.get("namingContexts", [])]
        vendor = _vendor(dse)
        for base in settings.base_dns:
            _check_base_dn(conn, base, naming_contexts)
        server = conn.server
        tls = "LDAPS" if server.ssl else ("StartTLS" if conn.tls_started else "none")
        return ConnectionReport(f"{server.host}:{server.port}", tls, vendor, naming_contexts, list(settings.base_dns))
    finally:
        conn.unbind()


def _vendor(dse: dict) -> str:
    if dse.get("forestFunctionality") is not None or dse.get("isGlobalCatalogReady") is not None:
        return "Active Directory"
    vendor = dse.get("vendorName") or dse.get("vendorVersion")
    if isinstance(vendor, list):
        vendor = vendor[0] if vendor else None
    return str(vendor) if vendor else "LDAP"


def _check_base_dn(conn: ldap3.Connection, base: str, naming_contexts: list[str]) -> None:
    try:
        conn.search(base, "(objectClass=*)", ldap3.BASE, attributes=["distinguishedName"])
    except ldap_exc.LDAPInvalidDnError as exc:
        raise BaseDnNotFoundError(f"Base DN {base!r} is not a valid DN: {exc}") from exc
    description = conn.result.get("description")
    if description == "noSuchObject" or (description == "success" and not conn.response):
        hint = f" The server holds: {'; '.join(naming_contexts)}." if naming_contexts else ""
        raise BaseDnNotFoundError(f"Base DN {base!r} does not exist on the server.{hint}")
    if description != "success":
        raise DirectoryError(f"Reading base DN {base!r} failed: {description} {conn.result.get('message', '')}")


# ---------------------------------------------------------------------------
# Reading: a paged, streaming search
# ---------------------------------------------------------------------------

PAGE_SIZE = 1000
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"

# Binary attributes stay bytes; every other value is decoded as UTF-8 (AD's string syntaxes).
BINARY_ATTRIBUTES = frozenset(
    {"objectguid", "objectsid", "usercertificate", "usersmimecertificate", "thumbnailphoto", "msexchmailboxguid"}
)

# Users (not computers, which AD derives from user), inetOrgPerson, contacts and groups: what
# Entra Connect's default rules consider. Security groups without mail are included on purpose.
SYNC_SCOPE_FILTER = "(|(&(objectClass=user)(!(objectClass=computer)))(objectClass=inetOrgPerson)(objectClass=contact)(objectClass=group))"  # noqa: E501

ALWAYS_READ = (
    "objectClass",
    "objectGUID",
    "uSNChanged",
    "whenChanged",
    "isCriticalSystemObject",
    "msExchRecipientTypeDetails",
    "groupType",
    "homeMDB",
    "userAccountControl",
)


class PagingRefusedError(DirectoryError):
    pass


class SizeLimitError(DirectoryError):
    pass


def scope_filter(extra_filter: str = "") -> str:
    return f"(&{SYNC_SCOPE_FILTER}{extra_filter})" if extra_filter else SYNC_SCOPE_FILTER


def _entry_from(item: dict, source: str) -> Entry:
    attributes = {}
    raw = item.get("raw_attributes", {})
    # ldap3's CaseInsensitiveDict looks every key up again through its case map when iterated:
    # its plain dict underneath holds the same names and values, read at dict speed.
    raw = raw._store if isinstance(raw, CaseInsensitiveDict) else raw
    for name, values in raw.items():
        key = name.split(";", 1)[0].lower()  # drop ";binary" / ";range=" options
        if not values:
            continue
        if key in BINARY_ATTRIBUTES:
            attributes[key] = list(values)
        else:
            attributes[key] = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]
    return Entry(dn=item["dn"], attributes=attributes, source=source)


def _is_under(dn: str, containers: list[str]) -> bool:
    lowered = dn.lower().replace(", ", ",")
    return any(lowered == c or lowered.endswith("," + c) for c in containers)


def iter_entries(
    conn: ldap3.Connection,
    bases: list[str],
    attributes: list[str],
    *,
    search_filter: str = SYNC_SCOPE_FILTER,
    exclude: list[str] = (),
    source: str = "",
    page_size: int | None = None,
    prepare: Callable[[Entry], Any] | None = None,
) -> Iterator:
    """Every entry under `bases`, one page in memory at a time; referrals are skipped.

    Entries under an `exclude` container are dropped here, since LDAP cannot filter by DN.
    With `prepare`, what it returns for each entry is yielded instead of the entry. It runs where
    the entries are read: in the reader process when reading ahead, so the caller's per-entry
    work shares the second core with the decoding. Its results must pickle.
    """
    excluded = [dn.lower().replace(", ", ",") for dn in exclude]
    wanted = sorted({*attributes, *ALWAYS_READ}, key=str.lower)

    def read(conn: ldap3.Connection) -> Iterator[Entry]:
        for base in bases:
            for item in _paged(conn, base, search_filter, wanted, page_size or PAGE_SIZE):
                if excluded and _is_under(item["dn"], excluded):
                    continue
                entry = _entry_from(item, source)
                yield prepare(entry) if prepare else entry

    if READ_AHEAD:
        yield from _read_ahead(conn, read)
    else:
        yield from read(conn)


# ldap3 decodes BER in pure Python: reading costs about as much CPU as checking and storing what
# was read (bench/scan_bench.py, issue 3). So a forked reader process pages and decodes on a
# second core while the caller works on what already arrived. It reads over a connection of its
# own, bound like the caller's (which stays idle and usable), and sends entries in pickled
# batches over a pipe; the pipe's back-pressure keeps memory at a few batches on each side.
# Entries, their order and the errors raised are the same as reading in-process.
READ_AHEAD = hasattr(os, "fork")
READ_AHEAD_BATCH = 250  # entries per pickled message
READ_AHEAD_QUEUE = 8  # messages the reader may hold ready: two pages of 1000


def _read_ahead(conn: ldap3.Connection, read) -> Iterator:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _reader(conn, read, write_fd)  # never returns
    os.close(write_fd)
    ended = False
    try:
        with os.fdopen(read_fd, "rb") as pipe:
            while True:
                try:
                    kind, payload = pickle.load(pipe)  # noqa: S301 - our own child, over a private pipe
                except EOFError:
                    raise DirectoryError("The directory reader process stopped unexpectedly.") from None
                if kind == "entries":
                    yield from payload
                elif kind == "error":
                    raise payload
                else:
                    ended = True
                    return
    finally:
        if not ended:  # the caller stopped early or the reader failed
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _reader(conn: ldap3.Connection, read, write_fd: int) -> None:
    """The forked reader: everything it inherited (database connections, the caller's LDAP
    socket, signal handlers, atexit hooks) is left untouched, and it ends with os._exit."""
    status = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
        # A pipe holds 64 kB, a few dozen entries: writing from a thread through a queue of
        # batches lets this process read a page or two ahead while the caller is busy, instead of
        # taking turns with it.
        outbox: queue.Queue = queue.Queue(maxsize=READ_AHEAD_QUEUE)
        writer = threading.Thread(target=_write_batches, args=(write_fd, outbox), daemon=True)
        writer.start()

        def send(message) -> None:
            outbox.put(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))

        try:
            twin = _lean_entries(_twin(conn))
            batch = []
            for item in read(twin):
                batch.append(item)
                if len(batch) >= READ_AHEAD_BATCH:
                    send(("entries", batch))
                    batch = []
            send(("entries", batch))
            send(("end", None))
            twin.unbind()
        except Exception as exc:  # noqa: BLE001 - every error is the caller's to raise
            send(("error", _picklable(exc)))
        outbox.put(None)
        writer.join()
        status = 0
    finally:
        os._exit(status)


def _write_batches(write_fd: int, outbox: queue.Queue) -> None:
    try:
        with os.fdopen(write_fd, "wb") as pipe:
            while (data := outbox.get()) is not None:
                pipe.write(data)
                pipe.flush()
    except BaseException:  # noqa: BLE001 - the caller is gone (broken pipe): so is the reader
        os._exit(1)


def _twin(conn: ldap3.Connection) -> ldap3.Connection:
    """A new connection to conn's server, with its TLS and credentials."""
    server = conn.server
    twin = ldap3.Connection(
        server,
        user=conn.user,
        password=conn.password,
        authentication=conn.authentication,
        receive_timeout=conn.receive_timeout,
        raise_exceptions=conn.raise_exceptions,
        read_only=conn.read_only,
        auto_referrals=conn.auto_referrals,
    )
    try:
        twin.open()
        if conn.tls_started and not server.ssl:
            twin.start_tls()
        bound = twin.bind()
    except ldap_exc.LDAPException as exc:
        raise UnreachableError(f"Cannot open a second connection to {server.host}:{server.port}: {exc}") from exc
    if not bound:
        raise BindError(_describe_bind_failure(twin.result))
    return twin


def _lean_entries(conn: ldap3.Connection) -> ldap3.Connection:
    """Make conn decode search entries into what _entry_from reads, and nothing more.

    For every entry ldap3 builds two case-insensitive dicts: the raw values, and the same values
    formatted by the schema (a lookup, a conversion and several config reads per value), then
    pads both with the attributes the entry lacks. _entry_from reads only the raw values: the
    rest was two thirds of the reader's CPU (bench/scan_bench.py, issue 3). The BER is still
    decoded by ldap3; only its dict-building for searchResEntry messages is replaced, on this
    connection alone. "attributes" stays a dict of its own so ldap3's range retrieval works.
    """
    decode = conn.strategy.decode_response_fast

    def decode_lean(message: dict) -> dict:
        if message["protocolOp"] != SEARCH_RESULT_ENTRY:
            return decode(message)
        dn, attribute_list = message["payload"][0][3], message["payload"][1][3]
        raw = {}
        for attribute in attribute_list:
            name, values = attribute[3][0][3], attribute[3][1][3]
            raw[_text(name)] = [bytes(value[3]) for value in values] if values else None
        return {"type": "searchResEntry", "raw_dn": dn, "dn": _text(dn), "raw_attributes": raw, "attributes": dict(raw)}

    conn.strategy.decode_response_fast = decode_lean
    conn.empty_attributes = False  # no empty lists for absent attributes: _entry_from skips them anyway
    return conn


SEARCH_RESULT_ENTRY = 4  # protocolOp of searchResEntry (RFC 4511)


def _text(value: bytes) -> str:
    """UTF-8 as LDAP requires; ldap3's own fallbacks (AD may hold DNs in other encodings) otherwise."""
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return to_unicode(value, from_server=True)


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - a round trip of our own object
        return exc
    except Exception:  # noqa: BLE001 - e.g. an exception class with a custom __init__
        if isinstance(exc, DirectoryError):
            return DirectoryError(str(exc))
        return RuntimeError(f"{exc.__class__.__name__}: {exc}")


def _paged(
    conn: ldap3.Connection, base: str, search_filter: str, attributes: list[str], page_size: int, deleted: bool = False
):
    """Entries of a paged subtree search; with `deleted`, tombstones too (the Show Deleted control)."""
    # Only with tombstones wanted: a search without controls stays exactly the plain paged search.
    extra = {"controls": [(SHOW_DELETED_OID, True, None)]} if deleted else {}
    cookie = None
    while True:
        try:
            conn.search(
                base,
                search_filter,
                ldap3.SUBTREE,
                attributes=attributes,
                paged_size=page_size,
                paged_criticality=True,
                paged_cookie=cookie,
                **extra,
            )
        except (ldap_exc.LDAPSocketReceiveError, ldap_exc.LDAPSocketSendError, ldap_exc.LDAPSocketOpenError) as exc:
            host = conn.server.host
            raise UnreachableError(f"Lost the connection to {host} while reading {base}: {exc}") from exc
        except ldap_exc.LDAPSessionTerminatedByServerError as exc:
            raise UnreachableError(f"{conn.server.host} ended the session while reading {base}.") from exc
        _raise_for_search_result(conn.result, base)
        for item in conn.response or ():
            if item.get("type") == "searchResEntry":
                yield item
        controls = conn.result.get("controls", {}) or {}
        cookie = controls.get(PAGED_RESULTS_OID, {}).get("value", {}).get("cookie")
        if not cookie:
            return


def _raise_for_search_result(result: dict, base: str) -> None:
    description = result.get("description")
    if description in ("success", None):
        return
    message = result.get("message", "")
    if description == "noSuchObject":
        raise BaseDnNotFoundError(f"Base DN {base!r} does not exist on the server.")
    if description == "unavailableCriticalExtension":
        raise PagingRefusedError(f"The server refused paged results for {base}; it cannot be read in pages.")
    if description in ("sizeLimitExceeded", "adminLimitExceeded"):
        raise SizeLimitError(
            f"The server stopped at its size limit while reading {base} ({description}); "
            "raise MaxPageSize/size limit for the scan account or narrow the scope."
        )
    if description == "insufficientAccessRights":
        raise DirectoryError(f"The bind user may not read {base}: {message}")
    raise DirectoryError(f"Search of {base} failed: {description} {message}".strip())


# ---------------------------------------------------------------------------
# Writing: one guarded modify per change
# ---------------------------------------------------------------------------

# The global catalog is read-only; a write goes to the same DC's domain port.
WRITE_PORTS = {3268: 389, 3269: 636}

REFUSAL_REASONS = {
    "constraintViolation": "AD refused the value (constraint violation)",
    "invalidAttributeSyntax": "AD refused the value: it is too long or not valid for this attribute",
    "insufficientAccessRights": "the forest's bind account may not write this attribute",
    "unwillingToPerform": "AD is unwilling to make this change",
    "objectClassViolation": "the object's class does not allow this attribute",
    "notAllowedOnRDN": "this attribute names the object and cannot be changed here",
}


class ConflictError(DirectoryError):
    """The value changed since the scan: nothing was written. `current` is what AD holds now."""

    def __init__(self, message: str, current: list[str] | None):
        super().__init__(message)
        self.current = current


class WriteRefusedError(DirectoryError):
    pass


def domain_of(dn: str) -> str:
    """The DNS name of the domain holding `dn` (its DC= components), e.g. emea.corp.example.com."""
    from ldap3.utils.dn import parse_dn

    return ".".join(value for attr, value, _ in parse_dn(dn) if attr.lower() == "dc").lower()


def for_writing(settings: DirectorySettings, dn: str = "") -> DirectorySettings:
    """DCs of the object's domain on their domain port: never a write through the global catalog.

    The configured DCs serve the domains of the configured base DNs. An object of another domain
    of the forest (read through the global catalog) is written on a DC of its own domain, found
    the way Windows finds one: the domain's DNS name resolves to its DCs.
    """
    from dataclasses import replace

    port = WRITE_PORTS.get(settings.port, settings.port)
    domain = domain_of(dn) if dn else ""
    served = {domain_of(base) for base in settings.base_dns}
    servers = settings.servers if not domain or domain in served else [domain, *settings.servers]
    return replace(settings, port=port, servers=list(servers))


def _result_of(operation) -> dict:
    """Run an LDAP operation and return its result, whether the connection raises or not."""
    try:
        operation()
    except ldap_exc.LDAPOperationResult as exc:
        return {"description": exc.description, "message": exc.message}
    return {}


def read_values(conn: ldap3.Connection, dn: str, attributes: list[str]) -> Entry | None:
    """The object as AD holds it now, or None when it no longer exists."""
    wanted = sorted({*attributes, *ALWAYS_READ})
    result = _result_of(lambda: conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=wanted)) or conn.result
    if result.get("description") == "noSuchObject":
        return None
    _raise_for_search_result(result, dn)
    items = [i for i in conn.response or () if i.get("type") == "searchResEntry"]
    return _entry_from(items[0], "") if items else None


class OutcomeUnknownError(DirectoryError):
    """The request was sent but no answer came (connection lost, time-out): AD may have applied it.

    Only a read-back can tell; the caller records the outcome as unknown until one does.
    """


class LostBeforeSendingError(UnreachableError):
    """The connection broke before the write was sent: nothing reached AD."""


def check_dn(dn: str) -> None:
    """Refuse a DN ldap3 cannot send (e.g. unescaped special characters from an uploaded LDIF)."""
    from ldap3.utils.dn import parse_dn

    try:
        parse_dn(dn)
    except ldap_exc.LDAPException as exc:
        raise WriteRefusedError(
            f"{dn!r} is not a valid DN ({exc}); scan the forest over LDAP to get the object's real DN."
        ) from exc


def exact_values(conn: ldap3.Connection, dn: str, attribute: str) -> list[str] | None:
    """The attribute's values exactly as AD holds them (case included), or None: the object is gone."""
    entry = read_values(conn, dn, [attribute])
    return None if entry is None else [str(v) for v in entry.values(attribute)]


def _folded(values) -> set[str]:
    return {v.casefold() for v in values}


def primary_smtp(values) -> list[str]:
    return [v for v in values if v.startswith("SMTP:")]


@dataclass(frozen=True)
class WriteResult:
    """A modify AD answered with success: what it held before, what we meant, what a read-back found."""

    before: list[str]
    intended: list[str]
    after: list[str] | None  # None: the read-back after the modify failed

    @property
    def verified(self) -> bool:
        return self.after is not None and sorted(self.after) == sorted(self.intended)


# Attributes of one value in AD's schema among those IdentityHub writes: adding to one that already
# holds a value is not an addition but a change someone else made.
SINGLE_VALUED = frozenset(
    {"userprincipalname", "mail", "mailnickname", "displayname", "targetaddress", "samaccountname", "givenname", "sn",
     "cn", "c"}
)  # fmt: skip


def planned_values(dn: str, attribute: str, before: list[str], old: list[str], new: list[str]) -> list[str]:
    """The values the attribute will hold once `old` is replaced by `new`, or why not (raises).

    Byte for byte, case included: AD matches proxyAddresses, UPN and mail without regard to case,
    so its own delete of `smtp:x` would also remove `SMTP:x`, a primary someone promoted by hand.
    """
    if not old and before and attribute.lower() in SINGLE_VALUED:
        # The change starts from no value (the scan saw none); someone has set one since.
        raise ConflictError(
            f"{attribute} of {dn} changed since the scan: AD now holds {before}, not no value. Nothing was written.",
            before,
        )
    missing = [v for v in old if v not in before]
    if missing:
        if new and all(v in before for v in new):
            raise ConflictError(
                f"{attribute} of {dn} already holds {new}: nothing to write (someone made this change already).",
                before,
            )
        raise ConflictError(
            f"{attribute} of {dn} changed since the scan: AD now holds {before or 'no value'}, "
            f"not {missing}. Nothing was written.",
            before,
        )
    kept = [v for v in before if v not in old]
    clash = [v for v in new if v.casefold() in _folded(kept)]
    if clash:
        raise ConflictError(f"{attribute} of {dn} already holds {clash} (AD ignores case): nothing to write.", before)
    intended = kept + [v for v in new if v not in kept]
    if attribute.lower() == "proxyaddresses" and primary_smtp(before) and not primary_smtp(intended):
        raise WriteRefusedError(
            f"This would leave {dn} without its primary SMTP: address ({primary_smtp(before)[0]}); "
            "make another address primary in the same change."
        )
    return intended


def guarded_modify(conn: ldap3.Connection, dn: str, attribute: str, old: list[str], new: list[str]) -> WriteResult:
    """Replace exactly `old` by `new` in one LDAP modify, guarded byte for byte.

    On the same connection, right before the modify, the attribute is read and compared with `old`
    case included (planned_values): any difference is a conflict and nothing is sent. The modify
    itself deletes the exact old values and adds the new ones, so AD refuses it if a value went away
    in between; AD applies a modify whole or not at all. What remains open is a case-only edit by
    someone else in the milliseconds between that read and the modify (AD's delete ignores case):
    it is not prevented but detected, since the read-back after the modify is compared with the
    exact intended set and a difference is returned (WriteResult.verified) for the log to show.
    Closing it fully would need a lock AD does not offer; a replace of the whole set would instead
    overwrite a concurrent addition silently, which is worse.

    Raises ConflictError / WriteRefusedError (nothing written), LostBeforeSendingError (nothing
    sent) or OutcomeUnknownError (sent, no answer: may be applied).
    """
    check_dn(dn)
    try:
        before = exact_values(conn, dn, attribute)
    except ldap_exc.LDAPException as exc:
        raise LostBeforeSendingError(
            f"Lost the connection to {conn.server.host} before the change was sent ({exc}); nothing was written."
        ) from exc
    if before is None:
        raise ConflictError(f"{attribute} of {dn} cannot be changed: the object no longer exists.", None)
    intended = planned_values(dn, attribute, before, old, new)
    operations = []
    if old:
        operations.append((ldap3.MODIFY_DELETE, list(old)))
    if new:
        operations.append((ldap3.MODIFY_ADD, list(new)))
    if not operations:
        return WriteResult(before, intended, before)
    try:
        result = _result_of(lambda: conn.modify(dn, {attribute: operations})) or conn.result
    except ldap_exc.LDAPException as exc:
        raise OutcomeUnknownError(
            f"The connection to {conn.server.host} was lost after the change was sent "
            f"({exc.__class__.__name__}); AD may have applied it."
        ) from exc
    description = result.get("description")
    if description == "success":
        try:
            after = exact_values(conn, dn, attribute)
        except (ldap_exc.LDAPException, DirectoryError):
            after = None
        return WriteResult(before, intended, after)
    if description in ("noSuchAttribute", "attributeOrValueExists", "noSuchObject"):
        now = _reread_quietly(conn, dn, attribute)
        where = "the object no longer exists" if now is None else f"AD now holds {now or 'no value'}"
        raise ConflictError(f"{attribute} of {dn} changed since the scan: {where}. Nothing was written.", now)
    reason = REFUSAL_REASONS.get(description, f"AD refused the change ({description})")
    detail = (result.get("message") or "").strip()
    raise WriteRefusedError(f"{reason}: {detail}" if detail else reason)


def close(conn: ldap3.Connection) -> None:
    """Unbind, whatever state a failed operation left the connection in (it may be half-closed)."""
    with contextlib.suppress(ldap_exc.LDAPException, OSError):  # the connection is gone either way
        conn.unbind()


def _reread_quietly(conn: ldap3.Connection, dn: str, attribute: str) -> list[str] | None:
    try:
        return exact_values(conn, dn, attribute)
    except (ldap_exc.LDAPException, DirectoryError):
        return None


# ---------------------------------------------------------------------------
# Creating and deleting an object: the rollout's test group
# ---------------------------------------------------------------------------

# A global security group: what "create a new test group in AD DS" makes by default.
GLOBAL_SECURITY_GROUP = -2147483646


def child_dn(name: str, container: str) -> str:
    """The DN of a CN=`name` child of `container`: the name escaped, the container checked as a DN."""
    from ldap3.utils.dn import escape_rdn, parse_dn

    try:
        parse_dn(container)
    except ldap_exc.LDAPInvalidDnError as exc:
        raise WriteRefusedError(f"{container!r} is not a valid DN: {exc}") from exc
    return f"CN={escape_rdn(name)},{container}"


def create_group(conn: ldap3.Connection, container: str, name: str, sam_account_name: str, description: str = ""):
    """Add a global security group CN=`name` under `container`; returns (dn, objectSid as S-1-5-...)."""
    dn = child_dn(name, container)
    attributes = {"sAMAccountName": sam_account_name, "groupType": GLOBAL_SECURITY_GROUP}
    if description:
        attributes["description"] = description
    try:
        result = _result_of(lambda: conn.add(dn, ["top", "group"], attributes)) or conn.result
    except ldap_exc.LDAPException as exc:
        host = conn.server.host
        raise OutcomeUnknownError(f"Lost the connection to {host}; the group may or may not exist.") from exc
    description_ = result.get("description")
    if description_ == "entryAlreadyExists":
        raise WriteRefusedError(f"{dn} already exists.")
    if description_ == "noSuchObject":
        raise WriteRefusedError(f"The container {container} does not exist.")
    if description_ != "success":
        reason = REFUSAL_REASONS.get(description_, f"AD refused to create the group ({description_})")
        detail = (result.get("message") or "").strip()
        raise WriteRefusedError(f"{reason}: {detail}" if detail else reason)
    try:
        created = read_values(conn, dn, ["objectSid"])
    except ldap_exc.LDAPException as exc:
        raise OutcomeUnknownError(f"{dn} was created but could not be read back: {exc}") from exc
    return dn, sid_of(created)


def sid_of(entry) -> str:
    """An entry's objectSid as S-1-5-..., "" when it has none (or there is no entry)."""
    from ldap3.protocol.formatters.formatters import format_sid

    raw_sid = entry.first("objectSid") if entry else None
    return format_sid(raw_sid) if raw_sid else ""


def delete_object(conn: ldap3.Connection, dn: str) -> bool:
    """Delete the leaf object `dn`; False when it was already gone (so a retry is harmless)."""
    try:
        result = _result_of(lambda: conn.delete(dn)) or conn.result
    except ldap_exc.LDAPInvalidDnError as exc:
        raise WriteRefusedError(f"{dn!r} is not a valid DN: {exc}") from exc
    except ldap_exc.LDAPException as exc:
        raise OutcomeUnknownError(f"Lost the connection to {conn.server.host}; {dn} may still exist.") from exc
    description = result.get("description")
    if description == "noSuchObject":
        return False
    if description != "success":
        reason = REFUSAL_REASONS.get(description, f"AD refused to delete the object ({description})")
        raise WriteRefusedError(f"{reason}: {(result.get('message') or '').strip()}".rstrip(": "))
    return True


# ---------------------------------------------------------------------------
# Delta reads: what changed since a watermark, by uSNChanged on one DC
# ---------------------------------------------------------------------------
#
# Why uSNChanged and not DirSync. Both are Microsoft's documented ways to poll AD for changes
# ("Polling for Changes Using the DirSync Control" and "Polling for Changes Using uSNChanged",
# https://learn.microsoft.com/windows/win32/ad/polling-for-changes-using-the-dirsync-control and
# https://learn.microsoft.com/windows/win32/ad/polling-for-changes-using-usnchanged). DirSync is
# what Entra Connect uses, but it:
#   * needs the "Replicating Directory Changes" right on the naming context (or the
#     LDAP_DIRSYNC_OBJECT_SECURITY flag, which then drops objects the account cannot read and
#     still never reports them deleted), a right a read-only scan account should not hold;
#   * may only be rooted at a naming context, and returns only the attributes that changed, so
#     each changed object would have to be read again for the rules anyway;
#   * hides its state in an opaque cookie.
# uSNChanged needs nothing beyond the read access a full scan already has (plus the Deleted
# Objects container for deletions, see below), returns whole objects, and its state is plain:
# the DC (dsServiceName), that DC's database identity (invocationId, which changes when the DC
# is restored from backup), and the DC's highestCommittedUSN when the read began. USNs are local
# to one DC, so a watermark is only good on the DC it came from, with the same invocationId;
# anything else is answered by a full scan, as Microsoft's page prescribes.
#
# Deletions are tombstones, read with the Show Deleted control ("Retrieving Deleted Objects",
# https://learn.microsoft.com/windows/win32/ad/retrieving-deleted-objects). By default only
# administrators may list CN=Deleted Objects; a scan account needs "List Contents" and "Read
# Property" on it (`dsacls "CN=Deleted Objects,DC=..." /takeownership`, then
# `dsacls "CN=Deleted Objects,DC=..." /G DOMAIN\account:LCRP`). Without them deletions would go
# unseen, so the delta refuses and a full scan runs instead, saying which right is missing.
# Tombstones are purged after the forest's tombstoneLifetime: a watermark older than that may
# have missed deletions and is not accepted.
#
# Renames and moves of a container change its descendants' DNs without touching their
# uSNChanged: every changed organizationalUnit/container has its subtree read again.

SHOW_DELETED_OID = "1.2.840.113556.1.4.417"
DELETED_OBJECTS_WKGUID = "18E2EA80684F11D2B9AA00C04F79F805"
DEFAULT_TOMBSTONE_LIFETIME_DAYS = 60  # AD's value when tombstoneLifetime is not set (pre-2003 SP1 forests)
CONTAINER_FILTER = "(|(objectClass=organizationalUnit)(objectClass=container))"


class FullScanNeeded(DirectoryError):
    """A delta cannot give a correct picture from this watermark: the message says why."""


@dataclass(frozen=True)
class Watermark:
    """Where a read stood on one DC: changes above `usn` on that DC are what came after it."""

    server: str  # dsServiceName: the DC's NTDS Settings object
    invocation_id: str  # that DC's database identity; a restore from backup changes it
    usn: int  # highestCommittedUSN before the read began
    host: str = ""  # the host name it was read through, tried first by the next delta
    taken: float = 0.0  # Unix time

    def as_dict(self) -> dict:
        return {
            "server": self.server,
            "invocation_id": self.invocation_id,
            "usn": self.usn,
            "host": self.host,
            "taken": self.taken,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Watermark:
        return cls(
            server=str(data["server"]),
            invocation_id=str(data["invocation_id"]),
            usn=int(data["usn"]),
            host=str(data.get("host", "")),
            taken=float(data.get("taken", 0.0)),
        )


def _first(value):
    if isinstance(value, list):
        return value[0] if value else None
    return value


def watermark(conn: ldap3.Connection) -> Watermark:
    """The DC's identity and its highestCommittedUSN now: read before a full or delta read starts."""
    conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["dsServiceName", "highestCommittedUSN"])
    items = [i for i in conn.response or () if i.get("type") == "searchResEntry"]
    raw = items[0].get("raw_attributes", {}) if items else {}
    service, usn = _first(raw.get("dsServiceName")), _first(raw.get("highestCommittedUSN"))
    if not service or usn is None:
        raise FullScanNeeded("The server does not publish dsServiceName and highestCommittedUSN (not an AD DC).")
    service = _text(service)
    conn.search(service, "(objectClass=*)", ldap3.BASE, attributes=["invocationId"])
    items = [i for i in conn.response or () if i.get("type") == "searchResEntry"]
    invocation = _first(items[0].get("raw_attributes", {}).get("invocationId")) if items else None
    if not invocation:
        raise FullScanNeeded(f"The invocationId of {service} cannot be read.")
    return Watermark(
        server=service,
        invocation_id=str(uuid.UUID(bytes_le=bytes(invocation))),
        usn=int(_text(usn)),
        host=conn.server.host,
        taken=time.time(),
    )


def check_watermark(conn: ldap3.Connection, mark: Watermark, now: Watermark | None = None) -> Watermark:
    """The DC's watermark now, or FullScanNeeded saying why `mark` cannot be continued here."""
    now = now or watermark(conn)
    if now.server.lower() != mark.server.lower():
        raise FullScanNeeded(
            f"The watermark came from {_dc_name(mark.server)}, this scan reached {_dc_name(now.server)}: "
            "update sequence numbers are local to one domain controller."
        )
    if now.invocation_id != mark.invocation_id:
        raise FullScanNeeded(
            f"The invocationId of {_dc_name(now.server)} changed ({mark.invocation_id} -> {now.invocation_id}): "
            "the DC was restored from a backup."
        )
    if now.usn < mark.usn:
        raise FullScanNeeded(
            f"{_dc_name(now.server)} is at USN {now.usn}, behind the watermark's {mark.usn}: it was rolled back."
        )
    lifetime = tombstone_lifetime_days(conn)
    if mark.taken and time.time() - mark.taken > lifetime * 86400:
        raise FullScanNeeded(
            f"The watermark is older than the forest's tombstone lifetime ({lifetime} days): "
            "deletions since then may no longer be visible."
        )
    return now


def _dc_name(service: str) -> str:
    """'DC1' from CN=NTDS Settings,CN=DC1,CN=Servers,...: the server's name, for messages."""
    parts = _FIRST_COMMA_SPLIT.split(service)
    return parts[1].split("=", 1)[-1] if len(parts) > 1 else service


_FIRST_COMMA_SPLIT = re.compile(r"(?<!\\),")


def tombstone_lifetime_days(conn: ldap3.Connection) -> int:
    conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["configurationNamingContext"])
    items = [i for i in conn.response or () if i.get("type") == "searchResEntry"]
    config = _first(items[0].get("raw_attributes", {}).get("configurationNamingContext")) if items else None
    if config:
        dn = f"CN=Directory Service,CN=Windows NT,CN=Services,{_text(config)}"
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["tombstoneLifetime"])
        items = [i for i in conn.response or () if i.get("type") == "searchResEntry"]
        value = _first(items[0].get("raw_attributes", {}).get("tombstoneLifetime")) if items else None
        if value and _text(value).isdigit():
            return int(_text(value))
    return DEFAULT_TOMBSTONE_LIFETIME_DAYS


def naming_context_of(dn: str, naming_contexts: list[str]) -> str:
    """The naming context holding `dn` (the longest one it ends with)."""
    holders = [nc for nc in naming_contexts if _is_under(dn, [nc.lower().replace(", ", ",")])]
    if not holders:
        # E.g. another domain's partition read through the global catalog: the DC does not list it.
        raise FullScanNeeded(f"{dn} is in none of the naming contexts this DC lists, so its changes cannot be read.")
    return max(holders, key=len)


def _check_deleted_objects_readable(conn: ldap3.Connection, nc: str) -> None:
    show_deleted = [(SHOW_DELETED_OID, True, None)]
    container = f"<WKGUID={DELETED_OBJECTS_WKGUID},{nc}>"
    result = (
        _result_of(
            lambda: conn.search(
                container, "(objectClass=*)", ldap3.BASE, attributes=["objectGUID"], controls=show_deleted
            )
        )
        or conn.result
    )
    # Without Read Property an entry may still come back, with no attributes: objectGUID is the proof.
    entries = [i for i in conn.response or () if i.get("type") == "searchResEntry"]
    if result.get("description") == "success" and any(i.get("raw_attributes", {}).get("objectGUID") for i in entries):
        return
    raise FullScanNeeded(
        f"The bind account may not read the Deleted Objects container of {nc}, so deletions would go unseen: "
        'grant it List Contents and Read Property there (dsacls "CN=Deleted Objects,'
        f'{nc}" /takeownership, then /G <account>:LCRP), or keep to full scans.'
    )


@dataclass(frozen=True)
class Gone:
    """An object that left the scanned scope: deleted (a tombstone), or moved or filtered out."""

    guid: str
    deleted: bool


def iter_changes(
    conn: ldap3.Connection,
    mark: Watermark,
    bases: list[str],
    attributes: list[str],
    *,
    search_filter: str = SYNC_SCOPE_FILTER,
    exclude: list[str] = (),
    source: str = "",
    prepare: Callable[[Entry], Any] | None = None,
    page_size: int | None = None,
) -> tuple[Watermark, Iterator]:
    """(new watermark, the changes since `mark`): FullScanNeeded when no delta is safe.

    The changes are, each object once: an Entry (or prepare(entry)) for every object in scope
    that was added, modified, renamed, moved in or restored; a Gone for every changed object now
    outside the scope (deleted, moved out, excluded or no longer matching the filter) that the
    caller may hold. The checks run before anything is yielded; the new watermark is taken
    before the reads, so a change made during them is read again by the next delta.
    """
    new_mark = check_watermark(conn, mark)
    dse = root_dse(conn)
    naming_contexts = [str(v) for v in dse.get("namingContexts", [])]
    roots = sorted({naming_context_of(base, naming_contexts) for base in bases})
    for root in roots:
        _check_deleted_objects_readable(conn, root)
    return new_mark, _changes(conn, mark, bases, roots, attributes, search_filter, exclude, source, prepare, page_size)


def _changes(conn, mark, bases, roots, attributes, search_filter, exclude, source, prepare, page_size) -> Iterator:
    excluded = [dn.lower().replace(", ", ",") for dn in exclude]
    wanted = sorted({*attributes, *ALWAYS_READ}, key=str.lower)
    size = page_size or PAGE_SIZE
    changed = f"(uSNChanged>={mark.usn + 1})"
    seen: set[bytes] = set()

    def in_scope(base: str, extra: str = "") -> Iterator:
        for item in _paged(conn, base, f"(&{extra}{search_filter})", wanted, size):
            guid = _first(item["raw_attributes"].get("objectGUID"))
            if guid in seen or (excluded and _is_under(item["dn"], excluded)):
                continue
            seen.add(guid)
            entry = _entry_from(item, source)
            yield prepare(entry) if prepare else entry

    def left_scope(base: str, extra: str = "") -> Iterator[Gone]:
        # Every object of the sync classes, tombstones included: those not yielded in scope left it.
        for item in _paged(
            conn, base, f"(&{extra}{SYNC_SCOPE_FILTER})", ["objectGUID", "isDeleted"], size, deleted=True
        ):
            guid = _first(item["raw_attributes"].get("objectGUID"))
            if guid is None or guid in seen:
                continue
            seen.add(guid)
            deleted = (_first(item["raw_attributes"].get("isDeleted")) or b"").upper() == b"TRUE"
            yield Gone(str(uuid.UUID(bytes_le=bytes(guid))), deleted)

    for base in bases:
        yield from in_scope(base, changed)
    containers = []
    for root in roots:
        for item in _paged(conn, root, f"(&{changed}{CONTAINER_FILTER})", ["objectGUID"], size):
            containers.append(item["dn"])
    # A renamed or moved container: its descendants moved with it, their uSNChanged untouched.
    for container in _outermost(containers):
        lowered = container.lower().replace(", ", ",")
        for base in bases:
            low_base = base.lower().replace(", ", ",")
            if _is_under(lowered, [low_base]):
                yield from in_scope(container)
            elif _is_under(low_base, [lowered]):
                yield from in_scope(base)
    for root in roots:
        yield from left_scope(root, changed)
        for container in _outermost(containers):
            yield from left_scope(container)


def _outermost(dns: list[str]) -> list[str]:
    """The DNs not under another one of the list: a subtree is read once."""
    lowered = sorted({dn.lower().replace(", ", ",") for dn in dns}, key=len)
    kept: list[str] = []
    for dn in lowered:
        if not _is_under(dn, kept):
            kept.append(dn)
    return kept
