"""A loopback HTTP proxy that terminates CONNECT tunnels with minted certificates and serves fake hosts."""

from __future__ import annotations

import http.client
import ipaddress
import select
import socket
import socketserver
import ssl
import struct
import threading
from collections.abc import Callable
from typing import BinaryIO
from urllib.parse import urlsplit

from .ca import CertificateAuthority
from .http import REASONS, Request, Response

# Returns the reply, or None to drop the connection without one (a scripted reset).
Dispatch = Callable[[Request], Response | None]
# Says whether the emulator serves a host; unknown hosts are refused at CONNECT time.
Knows = Callable[[str], bool]

_MAX_LINE = 65536


class _Closed(Exception):
    """The client went away between requests."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_line(rfile: BinaryIO) -> bytes:
    line = rfile.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise ValueError("header line too long")
    return line


def _read_head(rfile: BinaryIO) -> tuple[str, str, str, dict[str, str]]:
    line = _read_line(rfile)
    while line in (b"\r\n", b"\n"):
        line = _read_line(rfile)
    if not line:
        raise _Closed
    method, target, version = line.decode("latin-1").strip().split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        line = _read_line(rfile)
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return method, target, version, headers


def _read_body(rfile: BinaryIO, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size = int(_read_line(rfile).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while _read_line(rfile) not in (b"\r\n", b"\n", b""):
                    pass  # trailers carry nothing the fakes need
                return b"".join(parts)
            parts.append(rfile.read(size))
            _read_line(rfile)
    length = int(headers.get("content-length", "0") or 0)
    return rfile.read(length) if length else b""


def _write_response(sock: socket.socket, response: Response, *, head_only: bool, keep_alive: bool) -> None:
    reason = REASONS.get(response.status, "Status")
    headers = dict(response.headers)
    lowered = {name.lower() for name in headers}
    if "content-length" not in lowered or not head_only:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        headers["Content-Length"] = str(len(response.body))
    headers["Connection"] = "keep-alive" if keep_alive else "close"
    head = f"HTTP/1.1 {response.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(head.encode("latin-1") + b"\r\n" + (b"" if head_only else response.body))


def _reset(sock: socket.socket) -> None:
    # SO_LINGER with a zero timeout makes close() send a TCP RST: the client sees a connection reset.
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _ProxyHandler(socketserver.BaseRequestHandler):
    server: ProxyServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(30)
        rfile = sock.makefile("rb")
        try:
            method, target, _version, headers = _read_head(rfile)
        except (_Closed, ValueError, OSError):
            return
        if method == "CONNECT":
            self._tunnel(sock, rfile, target)
            return
        self._serve(sock, rfile, "http", None, (method, target, headers))

    def _tunnel(self, sock: socket.socket, rfile: BinaryIO, target: str) -> None:
        host, _, port = target.rpartition(":")
        host = host.strip("[]").lower()
        if _is_loopback(host):
            self._relay(sock, host, int(port or 443))
            return
        if not self.server.knows(host):
            self.server.refuse(host, "CONNECT", target)
            sock.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        try:
            tls = self.server.ca.server_context(host).wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            return
        # The TLS socket takes over the descriptor, so socketserver's own close would miss it.
        with tls:
            self._serve(tls, tls.makefile("rb"), "https", host, None)

    def _relay(self, sock: socket.socket, host: str, port: int) -> None:
        # Loopback servers of other test fakes stay reachable through the proxy; nothing else is relayed.
        try:
            upstream = socket.create_connection((host, port), timeout=10)
        except OSError:
            sock.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        with upstream:
            pair = {sock: upstream, upstream: sock}
            while True:
                readable, _, _ = select.select(list(pair), [], [], 30)
                if not readable:
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    pair[source].sendall(data)

    def _serve(self, sock: socket.socket, rfile: BinaryIO, scheme: str, tunnel_host: str | None,
               first: tuple[str, str, dict[str, str]] | None) -> None:
        while True:
            try:
                if first is not None:
                    method, target, headers = first
                    first = None
                else:
                    method, target, _version, headers = _read_head(rfile)
                if headers.get("expect", "").lower() == "100-continue":
                    sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = _read_body(rfile, headers)
            except (_Closed, ValueError, OSError):
                return
            if tunnel_host is None:
                # A plain-http proxy request carries an absolute URI.
                parts = urlsplit(target)
                host = (parts.hostname or headers.get("host", "").split(":")[0]).lower()
                if parts.scheme:
                    target = parts.path + (f"?{parts.query}" if parts.query else "") or "/"
                if _is_loopback(host):
                    response: Response | None = self._forward(host, parts.port or 80, method, target, headers, body)
                elif not self.server.knows(host):
                    self.server.refuse(host, method, target)
                    response = Response(502, b"", {})
                else:
                    response = self.server.dispatch(Request(scheme, host, method, target, headers, body))
            else:
                response = self.server.dispatch(Request(scheme, tunnel_host, method, target, headers, body))
            if response is None:
                _reset(sock)
                return
            keep_alive = headers.get("connection", "").lower() != "close"
            try:
                _write_response(sock, response, head_only=method == "HEAD", keep_alive=keep_alive)
            except OSError:
                return
            if not keep_alive:
                return

    @staticmethod
    def _forward(host: str, port: int, method: str, target: str, headers: dict[str, str],
                 body: bytes) -> Response:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        try:
            skip = {"proxy-connection", "connection", "keep-alive", "transfer-encoding", "content-length"}
            connection.request(method, target, body=body or None,
                               headers={k: v for k, v in headers.items() if k not in skip})
            reply = connection.getresponse()
            data = reply.read()
            passed = {k: v for k, v in reply.getheaders() if k.lower() not in skip}
            return Response(reply.status, data, passed)
        except OSError:
            return Response(502, b"", {})
        finally:
            connection.close()


class ProxyServer(socketserver.ThreadingTCPServer):
    """Listens on 127.0.0.1 only, one thread per client connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, ca: CertificateAuthority, knows: Knows, dispatch: Dispatch,
                 refuse: Callable[[str, str, str], None]) -> None:
        self.ca = ca
        self.knows = knows
        self.dispatch = dispatch
        self.refuse = refuse
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="azure-emulator-proxy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
