"""The fault-injecting LDAP relay itself: framing, and each mode against the real Samba DC."""

import time
import uuid

import ldap3
import pytest
from ldap3.core import exceptions as ldap_exc

from . import ldap_proxy
from .ldap_proxy import LdapProxy, split_message


def test_framing_splits_whole_messages_short_and_long_form():
    short = bytes([0x30, 0x05, 0x02, 0x01, 0x07, 0x4A, 0x00])
    body = bytes([0x02, 0x01, 0x02, 0x66]) + bytes([0x81, 0x80]) + b"\x00" * 0x80
    long_form = bytes([0x30, 0x81, len(body)]) + body
    message, rest = split_message(short + long_form[:10])
    assert message == short and ldap_proxy.operation_of(message) == ldap_proxy.DELETE_REQUEST
    assert ldap_proxy.message_id(message) == 7
    assert split_message(rest) is None  # incomplete: wait for more bytes
    message, rest = split_message(long_form + b"\x30")
    assert ldap_proxy.operation_of(message) == ldap_proxy.MODIFY_REQUEST and rest == b"\x30"
    with pytest.raises(ldap_proxy.FramingError):
        split_message(b"\x04\x00")


def test_the_relay_stops_by_itself():
    proxy = LdapProxy(("127.0.0.1", 9), lifetime=0.5)
    time.sleep(1.0)
    assert not proxy._thread.is_alive()


@pytest.fixture
def proxy(corp_forest):
    with LdapProxy((corp_forest.host, 389), delay=3.0) as relay:
        yield relay


def _conn(corp_forest, proxy, timeout=2):
    server = ldap3.Server(proxy.host, port=proxy.port, get_info=ldap3.NONE, connect_timeout=2)
    conn = ldap3.Connection(server, user=corp_forest.bind_user, password=corp_forest.password, receive_timeout=timeout)
    assert conn.bind()
    return conn


@pytest.fixture
def target(corp_forest):
    direct = corp_forest.connection()
    dn = f"CN=Proxy {uuid.uuid4().hex[:8]},{corp_forest.lab_ou}"
    assert direct.add(dn, ["top", "user"], {"sAMAccountName": "px" + uuid.uuid4().hex[:10], "description": "old"})
    yield direct, dn
    direct.delete(dn)
    direct.unbind()


def _description(direct, dn):
    direct.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["description"])
    return [str(v) for v in direct.response[0]["attributes"]["description"]]


def _modify(conn, dn, value):
    return conn.modify(dn, {"description": [(ldap3.MODIFY_REPLACE, [value])]})


@pytest.mark.samba
def test_pass_relays_reads_and_writes(corp_forest, proxy, target):
    direct, dn = target
    conn = _conn(corp_forest, proxy)
    assert _modify(conn, dn, "passed")
    assert _description(direct, dn) == ["passed"] and proxy.writes_seen == 1
    conn.unbind()


@pytest.mark.samba
@pytest.mark.parametrize("mode", [ldap_proxy.DROP_BEFORE_REPLY, ldap_proxy.DROP_AFTER_REPLY])
def test_dropping_the_connection_around_the_reply(corp_forest, proxy, target, mode):
    direct, dn = target
    conn = _conn(corp_forest, proxy)
    proxy.fault(mode)
    if mode == ldap_proxy.DROP_BEFORE_REPLY:
        with pytest.raises(ldap_exc.LDAPException):
            _modify(conn, dn, "dropped")
    else:
        assert _modify(conn, dn, "dropped")  # the reply arrived; the next request finds the connection gone
        with pytest.raises(ldap_exc.LDAPException):
            conn.search(dn, "(objectClass=*)", ldap3.BASE)
    assert _description(direct, dn) == ["dropped"]  # AD applied it either way
    assert proxy.faults_fired == 1
    _conn(corp_forest, proxy).unbind()  # one fault, then the relay passes again


@pytest.mark.samba
def test_a_reply_delayed_past_the_client_timeout(corp_forest, proxy, target):
    direct, dn = target
    conn = _conn(corp_forest, proxy, timeout=1)
    proxy.fault(ldap_proxy.DELAY_REPLY)
    with pytest.raises(ldap_exc.LDAPException):
        _modify(conn, dn, "late")
    assert _description(direct, dn) == ["late"]


@pytest.mark.samba
def test_refuse_resets_new_connections(corp_forest, proxy):
    proxy.fault(ldap_proxy.REFUSE)
    with pytest.raises(ldap_exc.LDAPException):
        _conn(corp_forest, proxy)
    _conn(corp_forest, proxy).unbind()


@pytest.mark.samba
def test_a_hook_runs_as_the_write_goes_through(corp_forest, proxy, target):
    direct, dn = target
    conn = _conn(corp_forest, proxy)
    seen = []
    proxy.fault(ldap_proxy.DROP_BEFORE_REPLY, on_write=seen.append)
    with pytest.raises(ldap_exc.LDAPException):
        _modify(conn, dn, "hooked")
    assert len(seen) == 1 and ldap_proxy.operation_of(seen[0]) == ldap_proxy.MODIFY_REQUEST
