"""An anti-pattern on purpose: an app wrapper that answers ``400 Bad Request`` to every client error.

Many real APIs do this: whatever went wrong on the client's side (unknown item, missing
role, stale precondition), the answer is ``400`` with a message. The client can then no
longer tell *what* to do next — fix the body, use other credentials, re-read the resource —
without parsing prose. The section assessment shows real exchanges with such a server and
asks which code RFC 9110 §15.5 would have given each one.

    with HTTPServer(flatten_errors(ShopAPI())) as srv:
        ...   # every 4xx of the shop arrives as 400, with the shop's own detail text

Only the status line and the body change: the detail text is kept (it is what the learner
reads); ``title``/``type``/``status`` members that would name the real code are dropped, and
so are headers that belong to a specific code (``WWW-Authenticate``, ``Retry-After``,
``Allow``), as such a server would not send them either.
"""

from __future__ import annotations

import json
from typing import Callable

from course_tools.net.http import Request, Response

__all__ = ["flatten_errors", "DROPPED_HEADERS"]

DROPPED_HEADERS = ("WWW-Authenticate", "Retry-After", "Allow", "Accept")


def flatten_errors(app: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """``app`` with every 4xx answer turned into a ``400`` whose JSON body holds only ``error``."""

    def flat(request: Request) -> Response:
        resp = app(request)
        if not 400 <= resp.status < 500:
            return resp
        try:
            detail = json.loads(resp.body or b"{}").get("detail", "")
        except (ValueError, AttributeError):
            detail = (resp.body or b"").decode("utf-8", "replace")
        headers = {k: v for k, v in resp.headers.items()
                   if k.lower() not in {h.lower() for h in DROPPED_HEADERS} and k.lower() != "content-type"}
        return Response.json(400, {"error": detail}, **{k.replace("-", "_"): v for k, v in headers.items()})

    return flat
