"""Conditional GET on the server side: ``200`` with an ETag, or ``304 Not Modified`` when the
request's ``If-None-Match`` matches (RFC 9110 §13.1.2, §15.4.5).

    with HTTPServer(lambda req: conditional_get(req, body)) as server: ...

It lives apart from :mod:`course_tools.net.http` so that the HTTP assessment, whose Part D is to
write exactly this, can hide it from the student's process (``metadata.course.hidden_modules``)
while the student still uses the server, :class:`~course_tools.net.http.Request` and
:class:`~course_tools.net.http.Response`. Lessons may import it from here or, as before, from
:mod:`course_tools.net` / :mod:`course_tools.net.http`.
"""

from __future__ import annotations

from typing import Mapping

from course_tools.net.http import Request, Response, strong_etag

__all__ = ["conditional_get"]


def _etag_matches_weakly(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2): ignore ``W/`` prefixes."""
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


def conditional_get(request: Request, body: bytes, *, content_type: str = "text/plain; charset=utf-8",
                    cache_control: str = "max-age=60", etag: str | None = None,
                    extra_headers: Mapping[str, str] | None = None) -> Response:
    """Answer a GET with ``200`` + ETag, or ``304 Not Modified`` when If-None-Match matches."""
    tag = etag or strong_etag(body)
    headers = {"ETag": tag, "Cache-Control": cache_control, **(extra_headers or {})}
    inm = request.headers.get("If-None-Match")
    if inm is not None and request.method in ("GET", "HEAD") and _etag_matches_weakly(inm, tag):
        return Response(304, headers)
    return Response(200, {"Content-Type": content_type, **headers}, body)
