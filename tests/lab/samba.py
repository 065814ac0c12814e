"""Samba 4 AD domain controllers on loopback, one per test forest.

Every path a DC writes (database, pid files, sockets, logs, TLS key) lives under its own work dir, so
several DCs run side by side and nothing outside the temp dir is touched. Each setting's reason is
commented beside it; Samba's own guide: https://wiki.samba.org/index.php/Setting_up_Samba_as_an_Active_Directory_Domain_Controller
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import ldap3
from ldap3.core.exceptions import LDAPException

from .seed import FOREST_DOMAINS, Seed, build_seed, seed_directory

LAB_PASSWORD = "Passw0rd!Lab"

# Only the LDAP server: 389, 636 and the GC ports 3268/3269, with DirSync, paging and TLS, which is all
# the scanner uses. Checked: "ldap" alone starts as fast as "ldap, cldap, kdc, rpc" and serves the same
# LDAP, but opens no Kerberos (88/464) or RPC (135, 49152+) ports that could clash on a busy host.
SERVER_SERVICES = "ldap"


@dataclass
class SambaForest:
    """One forest = one provisioned DC on its own loopback address."""

    name: str
    realm: str
    netbios: str
    host: str
    workdir: Path
    password: str = LAB_PASSWORD
    upn_suffix: str = ""
    process: subprocess.Popen | None = field(default=None, repr=False)
    seed: Seed | None = field(default=None, repr=False)

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={part}" for part in self.realm.lower().split("."))

    @property
    def bind_user(self) -> str:
        return f"Administrator@{self.realm}"

    @property
    def bind_dn(self) -> str:
        return f"CN=Administrator,CN=Users,{self.base_dn}"

    @property
    def lab_ou(self) -> str:
        return f"OU=Lab,{self.base_dn}"

    @property
    def conf(self) -> Path:
        return self.workdir / "etc" / "smb.conf"

    @property
    def ca_cert(self) -> Path:
        # Self-signed: the server certificate is its own CA.
        return self.workdir / "private" / "tls" / "cert.pem"

    @property
    def log_path(self) -> Path:
        return self.workdir / "log" / "samba.out"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def connection(self, tls: str = "none", port: int | None = None, **kwargs) -> ldap3.Connection:
        """A bound ldap3 Connection. tls: 'none' (plain 389), 'ldaps' (636) or 'starttls' (389)."""
        return open_connection(self, tls=tls, port=port, **kwargs)

    def start(self, timeout: float = 60.0) -> float:
        """Start samba and wait until a simple bind works; returns seconds taken."""
        return start_dc(self, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        stop_dc(self, timeout)


def forest_for(name: str, realm: str, host: str, workdir: Path, upn_suffix: str) -> SambaForest:
    return SambaForest(name=name, realm=realm, netbios=name, host=host, workdir=workdir, upn_suffix=upn_suffix)


# --- provisioning -------------------------------------------------------------------------------


def provision_command(forest: SambaForest) -> list[str]:
    return [
        _which("samba-tool") or "samba-tool", "domain", "provision",
        f"--targetdir={forest.workdir}",
        f"--realm={forest.realm}",
        f"--domain={forest.netbios}",
        "--host-name=DC1",
        "--server-role=dc",
        "--dns-backend=NONE",
        "--use-rfc2307",
        f"--adminpass={forest.password}",
        f"--host-ip={forest.host}",
        "--backend-store=mdb",
    ]  # fmt: skip


def provision_all(forests: list[SambaForest], timeout: float = 180.0) -> None:
    """Provision every forest concurrently (provision is CPU-bound and single-threaded, ~9 s each).

    With LAB_SAMBA_CACHE=<dir> set, pristine provisions are kept there as tar files and restored
    on later runs (~0.1 s instead of ~10 s). Off by default: then nothing is written outside the
    forests' work dirs.
    """
    cache = os.environ.get("LAB_SAMBA_CACHE")
    todo = [f for f in forests if not (cache and _restore(f, Path(cache)))]
    procs = []
    for forest in todo:
        forest.workdir.mkdir(parents=True, exist_ok=True)
        log = open(forest.workdir / "provision.log", "wb")  # noqa: SIM115 - closed below
        procs.append((forest, log, subprocess.Popen(provision_command(forest), stdout=log, stderr=log)))
    failures = []
    for forest, log, proc in procs:
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        log.close()
        if rc != 0:
            failures.append(f"{forest.name}: rc={rc}\n{_tail(forest.workdir / 'provision.log')}")
        elif cache:
            _store(forest, Path(cache))
    if failures:
        raise RuntimeError("samba-tool domain provision failed:\n" + "\n".join(failures))


def _cache_file(forest: SambaForest, cache: Path) -> Path:
    # Keyed by Samba version and the provision arguments (minus the work dir), so an upgrade or a
    # changed realm/password never restores a stale domain.
    version = subprocess.run(
        [_which("samba") or "samba", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    args = " ".join(provision_command(forest)[1:]).replace(str(forest.workdir), "@WORKDIR@")
    key = hashlib.sha256(f"{version}\n{args}".encode()).hexdigest()[:16]
    return cache / f"samba-{forest.name.lower()}-{key}.tar"


def _store(forest: SambaForest, cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    target = _cache_file(forest, cache)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    # -S keeps the sparse mdb files sparse; the old work dir is recorded so _restore can rewrite it.
    (forest.workdir / "cache-origin").write_text(str(forest.workdir))
    subprocess.run(["tar", "-cSf", str(partial), "-C", str(forest.workdir), "."], check=True)
    partial.replace(target)  # atomic: a concurrent session never reads half a tar


def _restore(forest: SambaForest, cache: Path) -> bool:
    source = _cache_file(forest, cache)
    if not source.exists():
        return False
    forest.workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-xSf", str(source), "-C", str(forest.workdir)], check=True)
    # Only etc/smb.conf holds absolute paths (directory-lab.md §2.2).
    origin = (forest.workdir / "cache-origin").read_text()
    forest.conf.write_text(forest.conf.read_text().replace(origin, str(forest.workdir)))
    return True


def make_cert(forest: SambaForest) -> None:
    """A pre-made EC cert: Samba would otherwise spend ~2.5 s generating an RSA key on first start.

    The SAN carries the IP so clients connecting to 127.0.0.x can validate the name too.
    """
    tls = forest.ca_cert.parent
    tls.mkdir(parents=True, exist_ok=True)
    fqdn = f"dc1.{forest.realm.lower()}"
    subprocess.run(
        [
            _which("openssl") or "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "30", "-subj", f"/CN={fqdn}",
            "-addext", f"subjectAltName=DNS:{fqdn},IP:{forest.host}",
            "-keyout", str(tls / "key.pem"), "-out", str(forest.ca_cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    # Samba refuses a TLS key readable by others.
    (tls / "key.pem").chmod(0o600)


def global_settings(forest: SambaForest) -> dict[str, str]:
    d = forest.workdir
    return {
        # A /8 mask is required for 127.0.0.x other than .1, otherwise "no network interfaces found".
        "interfaces": f"{forest.host}/8",
        "bind interfaces only": "yes",
        "server services": SERVER_SERVICES,
        # provision --option drops this one, so it is patched in here: simple bind on plain 389.
        "ldap server require strong auth": "no",
        "dsdb:schema update allowed": "true",
        "ldb:nosync": "true",
        # Without these Samba uses /run/samba, /var/lib/samba, /var/log/samba and two DCs collide.
        "log file": f"{d}/log/log.samba",
        "pid directory": f"{d}/run",
        "ncalrpc dir": f"{d}/run/ncalrpc",
        "winbindd socket directory": f"{d}/run/winbindd",
        "ntp signd socket directory": f"{d}/run/ntp_signd",
        "tls enabled": "yes",
        "tls keyfile": f"{d}/private/tls/key.pem",
        "tls certfile": f"{d}/private/tls/cert.pem",
        "tls cafile": f"{d}/private/tls/cert.pem",
    }


def patch_smb_conf(forest: SambaForest) -> None:
    """Replace/insert our [global] settings; every other line provision wrote is kept."""
    settings = global_settings(forest)
    out, section = [], None
    for line in forest.conf.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
            out.append(line)
            if section == "[global]":
                out.extend(f"\t{key} = {value}" for key, value in settings.items())
            continue
        key = stripped.split("=", 1)[0].strip().lower()
        if section == "[global]" and key in settings:
            continue
        out.append(line)
    forest.conf.write_text("\n".join(out) + "\n")
    for sub in ("log", "run"):
        (forest.workdir / sub).mkdir(exist_ok=True)


def configure(forest: SambaForest) -> None:
    make_cert(forest)
    patch_smb_conf(forest)


# --- process control ----------------------------------------------------------------------------


def start_dc(forest: SambaForest, timeout: float = 60.0) -> float:
    if forest.running:
        return 0.0
    began = time.monotonic()
    # A leftover DC (another session, or a crashed run) would answer our readiness probe and we would
    # silently test against the wrong data.
    if _listening(forest.host, 389):
        raise RuntimeError(f"{forest.host}:389 is already in use; is another lab session running?")
    log = open(forest.log_path, "ab")  # noqa: SIM115 - owned by the child; closed in stop_dc
    # -i: interactive, logs to stdout and exits when stdin closes, so samba dies with pytest even on
    # kill -9. start_new_session: a Ctrl-C in the terminal reaches pytest, which then stops us cleanly.
    forest.process = subprocess.Popen(
        [_which("samba") or "samba", "-s", str(forest.conf), "-i", "-M", "single"],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    wait_ready(forest, began + timeout)
    return time.monotonic() - began


def wait_ready(forest: SambaForest, deadline: float) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        if forest.process is not None and forest.process.poll() is not None:
            raise RuntimeError(
                f"samba for {forest.name} exited rc={forest.process.returncode}\n{_tail(forest.log_path)}"
            )
        try:
            open_connection(forest, connect_timeout=1).unbind()
            return
        except LDAPException as exc:
            last = exc
            time.sleep(0.1)
    stop_dc(forest)
    raise RuntimeError(f"samba for {forest.name} not ready in time: {last}\n{_tail(forest.log_path)}")


def stop_dc(forest: SambaForest, timeout: float = 10.0) -> None:
    proc = forest.process
    if proc is None:
        return
    if proc.poll() is None:
        # Samba exits 127 on SIGTERM; the return code is not interesting.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdin:
        proc.stdin.close()
    forest.process = None


# --- LDAP ---------------------------------------------------------------------------------------


def open_connection(
    forest: SambaForest,
    tls: str = "none",
    port: int | None = None,
    connect_timeout: float = 5,
    get_info: str = "NO_INFO",
    **kwargs,
) -> ldap3.Connection:
    """NO_INFO by default: with a loaded schema ldap3 rejects rootDSE names like highestCommittedUSN."""
    use_ssl = tls == "ldaps"
    tls_conf = None
    if tls in ("ldaps", "starttls"):
        tls_conf = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(forest.ca_cert))
    server = ldap3.Server(
        forest.host,
        port=port or (636 if use_ssl else 389),
        use_ssl=use_ssl,
        tls=tls_conf,
        get_info=get_info,
        connect_timeout=connect_timeout,
    )
    conn = ldap3.Connection(server, user=forest.bind_user, password=forest.password, raise_exceptions=True, **kwargs)
    conn.open()
    if tls == "starttls":
        conn.start_tls()
    conn.bind()
    return conn


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


def tools_missing() -> str | None:
    """Why Samba cannot run here, or None."""
    for tool in ("samba", "samba-tool", "openssl"):
        if not _which(tool):
            return f"{tool} is not installed (apt-get install samba-ad-dc samba-ad-provision openssl)"
    if os.geteuid() != 0:
        return "samba must run as root"
    return None


def _which(tool: str) -> str | None:
    # /usr/sbin is often missing from a non-login PATH.
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")


# --- schema -------------------------------------------------------------------------------------

# The Exchange attributes the scanner reads and Samba does not ship. mailNickname, targetAddress and
# homeMDB use Exchange's OIDs; the two msExch* ones use the RFC 5612 example arc (lab only) because
# clients address attributes by name. isMemberOfPartialAttributeSet puts them on the GC (3268) too.
EXCHANGE_ATTRIBUTES = [
    {
        "cn": "ms-Exch-Mail-Nickname",
        "lDAPDisplayName": "mailNickname",
        "attributeID": "1.2.840.113556.1.2.447",
        "attributeSyntax": "2.5.5.12",
        "oMSyntax": "64",
        "isSingleValued": "TRUE",
        "rangeLower": "1",
        "rangeUpper": "64",
        "searchFlags": "1",
    },
    {
        "cn": "ms-Exch-Target-Address",
        "lDAPDisplayName": "targetAddress",
        "attributeID": "1.2.840.113556.1.2.352",
        "attributeSyntax": "2.5.5.12",
        "oMSyntax": "64",
        "isSingleValued": "TRUE",
        "rangeLower": "1",
        "rangeUpper": "1123",
        "searchFlags": "1",
    },
    {
        "cn": "ms-Exch-Recipient-Type-Details",
        "lDAPDisplayName": "msExchRecipientTypeDetails",
        "attributeID": "1.3.6.1.4.1.32473.1.1.2",
        "attributeSyntax": "2.5.5.16",  # Large integer (Integer8), returned as decimal text
        "oMSyntax": "65",
        "isSingleValued": "TRUE",
        "searchFlags": "0",
    },
    {
        "cn": "ms-Exch-Hide-From-Address-Lists",
        "lDAPDisplayName": "msExchHideFromAddressLists",
        "attributeID": "1.3.6.1.4.1.32473.1.1.1",
        "attributeSyntax": "2.5.5.8",  # Boolean
        "oMSyntax": "1",
        "isSingleValued": "TRUE",
        "searchFlags": "0",
    },
    {
        # Unicode string rather than DN syntax: Samba, like AD, insists that a DN value names an
        # existing object, and the lab has no Exchange configuration container to point into.
        "cn": "Home-MDB",
        "lDAPDisplayName": "homeMDB",
        "attributeID": "1.2.840.113556.1.2.44",
        "attributeSyntax": "2.5.5.12",
        "oMSyntax": "64",
        "isSingleValued": "TRUE",
        "searchFlags": "0",
    },
]


def extend_schema(forest: SambaForest) -> float:
    """Add the Exchange attributes and let mailRecipient (aux of user, contact, group) carry them.

    No schemaUpdateNow: Samba 4.17 reloads its schema after every schema write (each add takes
    ~0.2 s for that reason), and an explicit schemaUpdateNow costs another ~1 s each.
    """
    began = time.monotonic()
    schema = f"CN=Schema,CN=Configuration,{forest.base_dn}"
    conn = forest.connection()
    try:
        for attr in EXCHANGE_ATTRIBUTES:
            values = dict(attr, objectClass=["top", "attributeSchema"], isMemberOfPartialAttributeSet="TRUE")
            conn.add(f"CN={attr['cn']},{schema}", attributes=values)
        names = [attr["lDAPDisplayName"] for attr in EXCHANGE_ATTRIBUTES]
        conn.modify(f"CN=Mail-Recipient,{schema}", {"mayContain": [(ldap3.MODIFY_ADD, names)]})
    finally:
        conn.unbind()
    return time.monotonic() - began


# --- whole lab ----------------------------------------------------------------------------------

# name, realm, loopback address. One address per DC: Samba's LDAP port cannot be changed.
FORESTS = [
    ("CORP", "CORP.EXAMPLE.TEST", "127.0.0.11"),
    ("FABRIKAM", "FABRIKAM.EXAMPLE.TEST", "127.0.0.12"),
]


# Held for the whole session: another lab session on this machine (a second developer, CI)
# takes the next free pair of addresses instead of colliding on the fixed LDAP ports.
_ADDRESS_LOCKS: list = []


def _claim_address_block() -> int:
    """The tens digit of a free 127.0.0.x1/x2 pair: 1 gives .11/.12 (the documented default)."""
    import fcntl

    for block in range(1, 10):
        handle = open(f"/tmp/identityhub-lab-127.0.0.{block}x.lock", "w")  # noqa: SIM115 - held open
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        if any(_port_open(f"127.0.0.{block}{n}", 389) for n in (1, 2)):
            handle.close()  # something else (not one of our sessions) listens there
            continue
        _ADDRESS_LOCKS.append(handle)
        return block
    raise RuntimeError("no free 127.0.0.x1/x2 address pair for the Samba lab")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def lab_forests(root: Path) -> list[SambaForest]:
    block = _claim_address_block()
    # upn_suffix: the routable UPN/mail domain the seed uses (the .test realm is not routable).
    return [
        forest_for(
            name, realm, host.replace("127.0.0.1", f"127.0.0.{block}", 1), root / name.lower(), FOREST_DOMAINS[name]
        )
        for name, realm, host in FORESTS
    ]


def bring_up(forests: list[SambaForest], seed: bool = True, workers: int = 2) -> dict[str, float]:
    """Provision in parallel, then configure/start/extend/seed each forest in its own thread.

    Returns wall-clock timings in seconds. On error the caller must still stop() every forest.
    """
    began = time.monotonic()
    provision_all(forests)
    timings = {"provision (parallel)": time.monotonic() - began}
    with ThreadPoolExecutor(len(forests)) as pool:
        per_forest = list(pool.map(lambda f: _ready(f, seed, workers), forests))
    for forest, steps in zip(forests, per_forest, strict=True):
        timings.update({f"{forest.name} {step}": secs for step, secs in steps.items()})
    timings["total"] = time.monotonic() - began
    return timings


def _ready(forest: SambaForest, seed: bool, workers: int) -> dict[str, float]:
    steps = {}
    began = time.monotonic()
    configure(forest)
    steps["configure"] = time.monotonic() - began
    steps["start"] = forest.start()
    steps["schema"] = extend_schema(forest)
    if seed:
        began = time.monotonic()
        forest.seed = build_seed(forest.name, forest.base_dn)
        seed_directory(forest.connection, forest.seed, workers)
        steps["seed"] = time.monotonic() - began
    return steps
