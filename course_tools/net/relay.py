"""A loopback TCP relay that can stop forwarding without closing anything: a silent partition.

    with Relay(LOOPBACK, server_port) as relay:     # clients connect to relay.port instead
        ...
        with relay.paused():                        # bytes stop flowing both ways; every
            ...                                     # connection stays open, nobody is told
        ...                                         # held-back bytes flow again, in order

A real network partition rarely closes connections: packets just stop arriving, and each
side only finds out through its own timeouts. Pointing a Redis replica at the relay instead
of its primary lets a lesson show exactly that (redis.conf, ``min-replicas-max-lag`` and
``repl-timeout``), where closing the socket would tell both sides at once.

One thread accepts and pumps with ``selectors``; while paused it simply stops reading, so
bytes wait in the kernel's socket buffers. Leaving the ``with`` block closes every socket and
joins the thread. Loopback only.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from typing import Iterator

from course_tools.net.ports import LOOPBACK, require_loopback

__all__ = ["Relay"]


class Relay:
    """Forward every connection made to ``(host, port)`` of the relay to ``(target_host, target_port)``."""

    def __init__(self, target_host: str, target_port: int, *, host: str = LOOPBACK) -> None:
        self.target = (require_loopback(target_host), target_port)
        self.host = require_loopback(host)
        self.port = 0
        self.forwarded_bytes = 0
        self._flowing = threading.Event()
        self._flowing.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._peer: dict[socket.socket, socket.socket] = {}

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> "Relay":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen()
        listener.setblocking(False)
        self._listener, self.port = listener, listener.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name=f"relay:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._wake()
        self._thread.join(timeout=10)
        self._thread = None
        for sock in [*self._peer, self._listener, self._wake_r, self._wake_w]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self._peer.clear()

    def __enter__(self) -> "Relay":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the switch ---------------------------------------------------------------------------
    def pause(self) -> None:
        """Stop forwarding in both directions; connections stay open and nobody is notified."""
        self._flowing.clear()
        self._wake()

    def resume(self) -> None:
        """Forward again, starting with whatever was held back."""
        self._flowing.set()
        self._wake()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.pause()
        try:
            yield
        finally:
            self.resume()

    @property
    def is_paused(self) -> bool:
        return not self._flowing.is_set()

    @property
    def connections(self) -> int:
        """Connections being relayed (each counted once)."""
        return len(self._peer) // 2

    # -- the pump -----------------------------------------------------------------------------
    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ, "accept")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        reading = False
        try:
            while not self._stop.is_set():
                want = self._flowing.is_set()
                if want != reading:  # start or stop reading the relayed sockets
                    for sock in self._peer:
                        if want:
                            sel.register(sock, selectors.EVENT_READ, "data")
                        else:
                            sel.unregister(sock)
                    reading = want
                for key, _ in sel.select(timeout=0.5):
                    if key.data == "wake":
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    elif key.data == "accept":
                        self._accept(sel, reading)
                    elif self._flowing.is_set():
                        self._pump(sel, key.fileobj)
        finally:
            sel.close()

    def _accept(self, sel: selectors.BaseSelector, reading: bool) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        upstream = socket.create_connection(self.target, timeout=5)
        for sock in (client, upstream):
            sock.setblocking(True)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._peer[client], self._peer[upstream] = upstream, client
        if reading:
            sel.register(client, selectors.EVENT_READ, "data")
            sel.register(upstream, selectors.EVENT_READ, "data")

    def _pump(self, sel: selectors.BaseSelector, sock: socket.socket) -> None:
        peer = self._peer.get(sock)
        try:
            data = sock.recv(65536)
            if data:
                peer.sendall(data)
                self.forwarded_bytes += len(data)
                return
        except OSError:
            pass
        for s in (sock, peer):  # one side closed: close the pair, as a real connection would end
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(s)
            self._peer.pop(s, None)
            with contextlib.suppress(OSError):
                s.close()
