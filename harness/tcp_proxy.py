"""A TCP forwarder that can be cut: stands between a client and a real server so a test can
make the server unreachable without stopping it."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator


class _Handler(socketserver.BaseRequestHandler):
    server: _Proxy

    def handle(self) -> None:
        try:
            upstream = socket.create_connection(self.server.upstream, timeout=10)
        except OSError:
            return
        with upstream:
            pump = threading.Thread(target=_copy, args=(upstream, self.request), daemon=True)
            pump.start()
            _copy(self.request, upstream)
            pump.join(timeout=10)


def _copy(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


class _Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream


@contextlib.contextmanager
def tcp_proxy(host: str, port: int) -> Iterator[tuple[str, _Proxy]]:
    """Yields (``http://127.0.0.1:PORT``, the proxy); ``proxy.shutdown(); proxy.server_close()``
    cuts it (new connections are refused)."""
    proxy = _Proxy((host, port))
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}", proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
