"""Real components on loopback: HTTP servers, the embedded Redis, free ports.

Every server binds 127.0.0.1, picks a free port, is a context manager, and leaves no
process, thread, socket or file behind when its ``with`` block ends. Nothing here ever
connects to an address outside this machine.
"""

from course_tools.moved import moved_to
from course_tools.net.ports import free_port, LOOPBACK
from course_tools.net.server import BackgroundServer
from course_tools.net.http import HTTPServer, Request, Response
from course_tools.net.redis import RedisServer, redis_client
from course_tools.net.wire import NoResponse, RawClient, Relay, send
from course_tools.net.tls import LocalCA, TLSServer, tls_request

__all__ = [
    "LOOPBACK", "free_port", "BackgroundServer",
    "HTTPServer", "Request", "Response",
    "RedisServer", "redis_client",
    "RawClient", "Relay", "send", "NoResponse",
    "LocalCA", "TLSServer", "tls_request",
]

# conditional_get is loaded lazily, so that this package imports where its module is hidden
__getattr__ = moved_to("course_tools.net.conditional", {"conditional_get"}, __name__)
