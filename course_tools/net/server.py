"""Run a ``socketserver`` server on a background thread, as a context manager.

:class:`BackgroundServer` is the one piece every loopback server in the course shares
(HTTP, TLS, relays): it binds 127.0.0.1 on a free port, serves on a named thread, and on
exit stops accepting, closes every open connection and joins every thread it started.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from typing import Any

from course_tools.net.ports import LOOPBACK, require_loopback


class TrackingThreadingMixIn(socketserver.ThreadingMixIn):
    """Threads per connection, all joined on close; open connections are shut down first."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):  # type: ignore[override]
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class BackgroundServer:
    """Base for loopback servers: ``with Server(...) as srv: ... srv.port``.

    Subclasses implement :meth:`make_server` returning a bound ``socketserver`` server.
    """

    name = "server"

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        self.host = require_loopback(host)
        self._requested_port = port
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None

    def make_server(self, address: tuple[str, int]) -> socketserver.BaseServer:
        raise NotImplementedError

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not running (use it in a `with` block or call start())")
        return self._server.server_address[1]

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> "BackgroundServer":
        if self._server is not None:
            return self
        self._server = self.make_server((self.host, self._requested_port))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"course-{self.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()  # stops serve_forever
        if isinstance(server, TrackingThreadingMixIn):
            server.close_open_connections()
        server.server_close()  # joins per-connection threads
        if thread is not None:
            thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # a forgotten server must not keep its port
        try:
            self.stop()
        except Exception:
            pass
