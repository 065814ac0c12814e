"""A private OpenLDAP slapd with a small AD-like schema, for volume and paging tests.

No AD semantics (no DirSync, USN, GUID/SID generation or SAM rules): use Samba for those. Usable
outside pytest (bench/):

    handle = start_slapd(Path("/tmp/sl"), "DC=corp,DC=example,DC=test", Path("users.ldif"))
    try: ... handle.connection() ...
    finally: handle.stop()
"""

from __future__ import annotations

import base64
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import ldap3
from ldap3.core.exceptions import LDAPException

SCHEMA = Path(__file__).with_name("ad-lab.schema")
SYSTEM_SCHEMAS = ("core", "cosine", "inetorgperson")
MODULE_PATH = "/usr/lib/ldap"
ADMIN_PASSWORD = "Passw0rd!Lab"

# Equality indexes only: substring indexes make loads ~10x slower (directory-lab.md §3.4).
EQ_INDEXES = ("objectClass", "cn", "sAMAccountName", "userPrincipalName", "mail", "proxyAddresses",
              "mailNickname", "targetAddress", "member", "memberOf")  # fmt: skip


@dataclass
class SlapdHandle:
    workdir: Path
    suffix: str
    host: str
    port: int
    bind_dn: str
    password: str
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"ldap://{self.host}:{self.port}/"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def connection(self, **kwargs) -> ldap3.Connection:
        server = ldap3.Server(self.host, port=self.port, get_info="NO_INFO", connect_timeout=5)
        return ldap3.Connection(server, self.bind_dn, self.password, auto_bind=True, raise_exceptions=True, **kwargs)

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.process = None


def tools_missing() -> str | None:
    for tool in ("slapd", "slapadd"):
        if not _which(tool):
            return f"{tool} is not installed (apt-get install slapd ldap-utils)"
    if not Path(MODULE_PATH, "back_mdb.so").exists():
        return f"{MODULE_PATH}/back_mdb.so missing"
    return None


def start_slapd(
    workdir: Path,
    suffix: str,
    ldif_path: Path | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    password: str = ADMIN_PASSWORD,
    timeout: float = 30.0,
) -> SlapdHandle:
    """Write a config, bulk-load the root entry and ldif_path with slapadd -q, start, wait for a bind.

    ldif_path may or may not contain the suffix entry itself; it is added when missing.
    """
    workdir = Path(workdir)
    (workdir / "db").mkdir(parents=True, exist_ok=True)
    handle = SlapdHandle(workdir, suffix, host, port or free_port(host), f"CN=admin,{suffix}", password)
    conf = write_config(handle)
    if ldif_path is None or not _ldif_has_entry(Path(ldif_path), suffix):
        root = workdir / "root.ldif"
        root.write_text(root_entry_ldif(suffix))
        _slapadd(conf, root)
    if ldif_path is not None:
        _slapadd(conf, Path(ldif_path))
    log = open(workdir / "slapd.log", "ab")  # noqa: SIM115 - owned by the child process
    # -d 0: stay in the foreground, so the Popen PID is the server and stop() can signal it.
    command = [_which("slapd") or "slapd", "-f", str(conf), "-h", handle.url, "-d", "0"]
    handle.process = subprocess.Popen(
        _die_with_parent(command),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    _wait_ready(handle, time.monotonic() + timeout)
    return handle


def _die_with_parent(command: list[str]) -> list[str]:
    """Unlike samba -i, slapd does not exit when its stdin closes: ask the kernel to SIGTERM it when
    we die (pytest killed -9), so no orphan keeps the port. setpriv execs slapd, so the PID is
    still slapd's. The "parent" is the forking thread, so only do this from the main thread.
    """
    setpriv = shutil.which("setpriv")
    if setpriv and threading.current_thread() is threading.main_thread():
        return [setpriv, "--pdeathsig", "TERM", *command]
    return command


def write_config(handle: SlapdHandle) -> Path:
    d = handle.workdir
    includes = [f"/etc/ldap/schema/{name}.schema" for name in SYSTEM_SCHEMAS] + [str(SCHEMA)]
    lines = [*(f"include {path}" for path in includes),
             f"pidfile {d}/slapd.pid", f"argsfile {d}/slapd.args",
             f"modulepath {MODULE_PATH}", "moduleload back_mdb", "moduleload memberof", "moduleload unique",
             "sizelimit unlimited", "database mdb", f'suffix "{handle.suffix}"',
             f'rootdn "{handle.bind_dn}"', f"rootpw {handle.password}", f"directory {d}/db",
             "maxsize 4294967296", "dbnosync",
             *(f"index {attr} eq" for attr in EQ_INDEXES),
             "overlay memberof", "memberof-group-oc group", "memberof-member-ad member",
             "memberof-memberof-ad memberOf", "memberof-refint true",
             # Separate URIs: one URI listing both attributes would make only the pair unique.
             "overlay unique",
             f'unique_uri "ldap:///{handle.suffix}?sAMAccountName?sub"',
             f'unique_uri "ldap:///{handle.suffix}?userPrincipalName?sub"']  # fmt: skip
    conf = d / "slapd.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def root_entry_ldif(suffix: str) -> str:
    attr, _, value = suffix.split(",")[0].partition("=")
    classes = {"dc": ("domain", "dc"), "ou": ("organizationalUnit", "ou"), "o": ("organization", "o")}
    object_class, naming = classes[attr.strip().lower()]
    return f"dn: {suffix}\nobjectClass: top\nobjectClass: {object_class}\n{naming}: {value}\n\n"


def users_ldif(suffix: str, count: int, ou: str = "Lab") -> str:
    """A deterministic LDIF with an OU and `count` users (with GUIDs, since slapd makes none)."""
    out = [f"dn: OU={ou},{suffix}\nobjectClass: top\nobjectClass: organizationalUnit\nou: {ou}\n"]
    for i in range(count):
        name = f"user{i:06d}"
        guid = uuid.uuid5(uuid.NAMESPACE_DNS, f"{suffix}/{name}").bytes
        out.append(
            f"dn: CN={name},OU={ou},{suffix}\nobjectClass: top\nobjectClass: user\ncn: {name}\n"
            f"sAMAccountName: {name}\nuserPrincipalName: {name}@corp.example.com\n"
            f"mail: {name}@corp.example.com\nmailNickname: {name}\ndisplayName: User {i}\n"
            f"proxyAddresses: SMTP:{name}@corp.example.com\nobjectGUID:: {_b64(guid)}\n"
        )
    return "\n".join(out) + "\n"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _slapadd(conf: Path, ldif: Path) -> None:
    # -q: skip consistency checks (fast bulk load); overlays do not run, so memberOf is not computed.
    proc = subprocess.run(
        [_which("slapadd") or "slapadd", "-q", "-f", str(conf), "-l", str(ldif)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"slapadd {ldif} failed rc={proc.returncode}: {proc.stderr[-2000:]}")


def _ldif_has_entry(ldif: Path, dn: str) -> bool:
    wanted = _norm_dn(dn)
    with ldif.open() as fh:
        return any(line.startswith("dn:") and _norm_dn(line[3:]) == wanted for line in fh)


def _norm_dn(dn: str) -> str:
    return ",".join(part.strip().lower() for part in dn.strip().split(","))


def _wait_ready(handle: SlapdHandle, deadline: float) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not handle.running:
            log = (handle.workdir / "slapd.log").read_text(errors="replace")[-2000:]
            handle.process = None
            raise RuntimeError(f"slapd exited early:\n{log}")
        try:
            handle.connection().unbind()
            return
        except LDAPException as exc:
            last = exc
            time.sleep(0.05)
    handle.stop()
    raise RuntimeError(f"slapd not ready in time: {last}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _which(tool: str) -> str | None:
    # slapd/slapadd live in /usr/sbin, often missing from a non-login PATH.
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")
