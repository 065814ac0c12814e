"""A fault-injecting TCP relay for LDAP, on a loopback address, in front of the lab's Samba DC.

The relay reads whole LDAP messages (RFC 4511: a BER SEQUENCE of messageID and protocolOp) in both
directions, so it knows when a write request (modify, add, delete) goes to the DC and when its
response comes back, and injects one fault there:

* PASS: relay everything.
* DROP_BEFORE_REPLY: the DC gets the write and answers; the answer is thrown away and both
  connections are closed. The client never learns whether its write was applied (it was).
* DROP_AFTER_REPLY: the answer reaches the client, then both connections are closed.
* DELAY_REPLY: the answer is held for `delay` seconds (longer than the client's time-out), then sent.
* REFUSE: new connections are accepted and reset at once (established ones keep working).

`on_write(message)` runs once, just before the next write is passed on (a test kills the DC there,
or changes the object behind the writer's back, in any mode including PASS). A fault
fires `times` times (default once), then the relay passes again, so a re-read on a new connection
reaches the DC. Every thread is a daemon, every socket wait has a time-out, and the relay closes by
itself after `lifetime` seconds even if nobody stops it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable

PASS = "pass"
DROP_BEFORE_REPLY = "drop-before-reply"
DROP_AFTER_REPLY = "drop-after-reply"
DELAY_REPLY = "delay-reply"
REFUSE = "refuse"
MODES = (PASS, DROP_BEFORE_REPLY, DROP_AFTER_REPLY, DELAY_REPLY, REFUSE)

# protocolOp tags ([APPLICATION n]) of the writes and their responses.
MODIFY_REQUEST, MODIFY_RESPONSE = 0x66, 0x67
ADD_REQUEST, ADD_RESPONSE = 0x68, 0x69
DELETE_REQUEST, DELETE_RESPONSE = 0x4A, 0x6B
WRITE_REQUESTS = {MODIFY_REQUEST, ADD_REQUEST, DELETE_REQUEST}
WRITE_RESPONSES = {MODIFY_RESPONSE, ADD_RESPONSE, DELETE_RESPONSE}
MAX_MESSAGE = 16 * 1024 * 1024


class FramingError(Exception):
    pass


def read_length(data: bytes, at: int) -> tuple[int, int] | None:
    """(length, offset of the content) of the BER length at data[at:], or None if incomplete."""
    if at >= len(data):
        return None
    first = data[at]
    if first < 0x80:
        return first, at + 1
    count = first & 0x7F
    if count == 0 or count > 4:
        raise FramingError(f"unsupported BER length form {first:#x}")
    if at + 1 + count > len(data):
        return None
    return int.from_bytes(data[at + 1 : at + 1 + count], "big"), at + 1 + count


def split_message(buffer: bytes) -> tuple[bytes, bytes] | None:
    """(one whole LDAPMessage, the rest) from the front of `buffer`, or None if it is not all there."""
    if not buffer:
        return None
    if buffer[0] != 0x30:
        raise FramingError(f"an LDAPMessage starts with a SEQUENCE, not {buffer[0]:#x}")
    header = read_length(buffer, 1)
    if header is None:
        return None
    length, start = header
    if length > MAX_MESSAGE:
        raise FramingError("message too large")
    end = start + length
    return (buffer[:end], buffer[end:]) if len(buffer) >= end else None


def operation_of(message: bytes) -> int:
    """The protocolOp tag of a whole LDAPMessage (after its messageID INTEGER)."""
    _, start = read_length(message, 1)
    if message[start] != 0x02:
        raise FramingError("messageID is not an INTEGER")
    id_length, id_start = read_length(message, start + 1)
    return message[id_start + id_length]


def message_id(message: bytes) -> int:
    _, start = read_length(message, 1)
    id_length, id_start = read_length(message, start + 1)
    return int.from_bytes(message[id_start : id_start + id_length], "big", signed=True)


class LdapProxy:
    """Listen on `listen_host` (a free port), relay to `upstream`; see the module doc for modes."""

    def __init__(
        self,
        upstream: tuple[str, int],
        listen_host: str = "127.0.0.1",
        *,
        delay: float = 4.0,
        lifetime: float = 600.0,
    ):
        self.upstream = upstream
        self.delay = delay
        self.mode = PASS
        self.times = 0
        self.on_write: Callable[[bytes], None] | None = None
        self.writes_seen = 0
        self.faults_fired = 0
        self._deadline = time.monotonic() + lifetime
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server((listen_host, 0))
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept_loop, name="ldap-proxy", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def fault(self, mode: str, times: int = 1, on_write: Callable[[bytes], None] | None = None) -> None:
        """Inject `mode` for the next `times` writes (REFUSE: the next `times` connections)."""
        if mode not in MODES:
            raise ValueError(mode)
        with self._lock:
            self.mode, self.times, self.on_write = mode, times, on_write

    def _take_fault(self, modes: tuple[str, ...]) -> str:
        with self._lock:
            if self.mode not in modes or self.times <= 0:
                return PASS
            self.times -= 1
            self.faults_fired += 1
            mode = self.mode
            if self.times == 0:
                self.mode = PASS
            return mode

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._close_all()

    def __enter__(self) -> LdapProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- plumbing ------------------------------------------------------------------------------

    def _running(self) -> bool:
        return not self._stopped.is_set() and time.monotonic() < self._deadline

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _close(self, *socks: socket.socket) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self._sockets.discard(sock)

    def _close_all(self) -> None:
        self._close(self._listener)
        with self._lock:
            socks = list(self._sockets)
        self._close(*socks)

    def _accept_loop(self) -> None:
        try:
            while self._running():
                try:
                    client, _ = self._listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                if self._take_fault((REFUSE,)) == REFUSE:
                    # Reset rather than close politely: what a client sees from a host that refuses.
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    client.close()
                    continue
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()
        finally:
            self._close_all()

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            return
        self._track(client)
        self._track(server)
        # The fault planned for the write now in flight on this connection (one at a time: ldap3's
        # synchronous strategy waits for each response).
        pending: dict[str, str] = {}
        up = threading.Thread(target=self._pump_up, args=(client, server, pending), daemon=True)
        up.start()
        self._pump_down(server, client, pending)
        up.join(timeout=1)

    def _messages(self, source: socket.socket):
        buffer = b""
        source.settimeout(0.2)
        while self._running():
            try:
                chunk = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while (split := split_message(buffer)) is not None:
                message, buffer = split
                yield message

    def _pump_up(self, client: socket.socket, server: socket.socket, pending: dict) -> None:
        """Client to DC: note each write and the fault planned for its response."""
        try:
            for message in self._messages(client):
                if operation_of(message) in WRITE_REQUESTS:
                    self.writes_seen += 1
                    pending["mode"] = self._take_fault((DROP_BEFORE_REPLY, DROP_AFTER_REPLY, DELAY_REPLY))
                    with self._lock:
                        hook, self.on_write = self.on_write, None
                    if hook:
                        hook(message)
                server.sendall(message)
        except (OSError, FramingError):
            pass
        finally:
            self._close(client, server)

    def _pump_down(self, server: socket.socket, client: socket.socket, pending: dict) -> None:
        """DC to client: a write's response meets its planned fault."""
        try:
            for message in self._messages(server):
                mode = pending.pop("mode", PASS) if operation_of(message) in WRITE_RESPONSES else PASS
                if mode == DROP_BEFORE_REPLY:
                    return
                if mode == DELAY_REPLY:
                    self._stopped.wait(self.delay)
                client.sendall(message)
                if mode == DROP_AFTER_REPLY:
                    return
        except (OSError, FramingError):
            pass
        finally:
            self._close(client, server)
