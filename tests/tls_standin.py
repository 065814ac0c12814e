"""What the HTTPS stand-ins (Microsoft Graph, the identity platform) share: a throwaway CA,
a threaded TLS server on 127.0.0.1, start/stop that join every thread, and the request handler
that hands each GET/POST to the stand-in."""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme


class TLSStandIn:
    """Base of a stand-in: subclasses set ``name`` and ``handler`` and implement ``handle``."""

    name = "tls-standin"  # also names the CA file and the server thread
    handler: type[StandInHandler]

    def __init__(self, directory: Path):
        self.ca = trustme.CA()
        self.ca_path = str(Path(directory) / f"{self.name}-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_path)
        self._lock = threading.Lock()
        self._server: TLSServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        assert self._server is not None, "start() first"
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    def start(self):
        leaf = self.ca.issue_cert("127.0.0.1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        self._server = TLSServer(("127.0.0.1", 0), self.handler, context, self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()  # ends serve_forever
        self._server.close_connections()  # idle keep-alive connections would block the joins
        self._server.server_close()  # joins the handler threads
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def handle(self, request: StandInHandler, method: str) -> None:
        raise NotImplementedError


class StandInHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    max_body: int | None = None  # bytes read from a request body at most (None: all it announces)
    keep_alive = True  # False: every response says Connection: close and the connection ends
    server: TLSServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.standin.handle(self, "GET")

    def do_POST(self) -> None:  # noqa: N802
        self.server.standin.handle(self, "POST")

    def log_message(self, format: str, *args) -> None:  # quiet: pytest shows failures anyway
        pass

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if self.max_body is not None:
            length = min(length, self.max_body)
        return self.rfile.read(length) if length else b""

    def extra_headers(self) -> dict[str, str]:
        """Headers every response carries."""
        return {}

    def send_bytes(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if not self.keep_alive:
            self.send_header("Connection", "close")
        for name, value in (self.extra_headers() | (headers or {})).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        if not self.keep_alive:
            self.close_connection = True

    def send_json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), "application/json", headers)


class TLSServer(ThreadingHTTPServer):
    """Threaded HTTPS server; the TLS handshake runs in the handler thread, not the accept loop,
    so a client that rejects our certificate cannot stall other connections."""

    daemon_threads = False  # so server_close() joins every handler thread
    block_on_close = True

    def __init__(self, address, handler, context: ssl.SSLContext, standin: TLSStandIn):
        super().__init__(address, handler)
        self.context = context
        self.standin = standin
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def finish_request(self, request, client_address) -> None:
        request.settimeout(self.RequestHandlerClass.timeout)
        tls = self.context.wrap_socket(request, server_side=True)
        with self._connections_lock:
            self._connections.add(tls)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with self._connections_lock:
                self._connections.discard(tls)
            tls.close()

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:
        # A client refusing our certificate, or hanging up, is part of the tests, not a failure;
        # anything else is a bug in the stand-in and should be seen.
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)
