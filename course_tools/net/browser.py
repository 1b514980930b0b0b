"""What a browser decides from response headers: cookie attributes and CORS.

No browser runs here; these functions write down, in a few lines each, the rules a browser
applies, so that a lesson can feed them the headers a real loopback server sent.

- :func:`cookie_report` reads a ``Set-Cookie`` value and says what each attribute does,
  following RFC 6265 and the cookie draft *6265bis* (draft-ietf-httpbis-rfc6265bis-22,
  **not** an RFC as of late 2026) for ``SameSite`` and the ``__Host-``/``__Secure-`` prefixes.
- :func:`cors_decision` applies the Fetch standard's CORS check to a preflight answer:
  would the browser let the page send the actual request, and read its response?
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["cookie_report", "CookieReport", "cors_decision", "CorsDecision"]


@dataclass
class CookieReport:
    name: str
    value: str
    attributes: dict[str, str]
    notes: list[str] = field(default_factory=list)
    accepted: bool = True

    def __str__(self) -> str:
        head = f"{self.name}={self.value}  ({'accepted' if self.accepted else 'REJECTED'} by the browser)"
        return "\n".join([head] + [f"  - {n}" for n in self.notes])


def cookie_report(set_cookie: str, *, secure_origin: bool = True) -> CookieReport:
    """Explain a ``Set-Cookie`` value; ``secure_origin`` says whether it came over HTTPS."""
    pair, *attrs = [p.strip() for p in set_cookie.split(";")]
    name, _, value = pair.partition("=")
    attributes: dict[str, str] = {}
    for a in attrs:
        k, _, v = a.partition("=")
        attributes[k.strip().lower()] = v.strip()
    rep = CookieReport(name, value, attributes)
    n = rep.notes
    if "secure" in attributes:
        n.append("Secure: sent only over secure channels (HTTPS), never in clear text.")
    else:
        n.append("no Secure: the browser would also send it over plain HTTP, readable on the wire.")
    if "httponly" in attributes:
        n.append("HttpOnly: hidden from document.cookie, so injected script cannot read it.")
    else:
        n.append("no HttpOnly: page scripts (and any injected script) can read it.")
    same_site = attributes.get("samesite", "").lower()
    if same_site == "strict":
        n.append("SameSite=Strict: sent on same-site requests only.")
    elif same_site == "lax":
        n.append("SameSite=Lax: same-site requests, plus cross-site top-level navigations (following a link).")
    elif same_site == "none":
        n.append("SameSite=None: sent on cross-site requests too (the cookie draft requires Secure with it).")
        if "secure" not in attributes:
            rep.accepted = False
            n.append("SameSite=None without Secure: rejected (cookie draft 6265bis).")
    else:
        n.append("no SameSite: the cookie draft treats a missing or unknown value as Lax (browsers differ).")
    if "max-age" in attributes:
        n.append(f"Max-Age={attributes['max-age']}: expires that many seconds from now (a persistent cookie).")
    elif "expires" not in attributes:
        n.append("no Max-Age/Expires: a session cookie, gone when the browser session ends.")
    if name.startswith("__Host-"):
        ok = "secure" in attributes and attributes.get("path") == "/" and "domain" not in attributes and secure_origin
        n.append("__Host- prefix: needs Secure, Path=/ and no Domain, set from a secure origin; "
                 + ("all met, so the cookie is locked to this exact host." if ok else "NOT met: the browser rejects it."))
        rep.accepted = rep.accepted and ok
    elif name.startswith("__Secure-"):
        ok = "secure" in attributes and secure_origin
        n.append("__Secure- prefix: needs Secure from a secure origin; " + ("met." if ok else "NOT met: rejected."))
        rep.accepted = rep.accepted and ok
    if "secure" in attributes and not secure_origin:
        rep.accepted = False
        n.append("Secure set over plain HTTP: the browser ignores it (the cookie draft forbids it).")
    return rep


@dataclass
class CorsDecision:
    allowed: bool
    reasons: list[str]

    def __str__(self) -> str:
        return ("ALLOWED: " if self.allowed else "BLOCKED: ") + "; ".join(self.reasons)


def _tokens(value: str | None) -> set[str]:
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


def cors_decision(preflight_headers: Mapping[str, str], *, origin: str, method: str,
                  request_headers: tuple[str, ...] = (), credentials: bool = False,
                  status: int = 204) -> CorsDecision:
    """Would a browser, after this preflight answer, send ``method`` from ``origin``?

    Follows the Fetch standard's CORS-preflight check (simplified): an ok status, an
    ``Access-Control-Allow-Origin`` equal to the origin (or ``*`` without credentials),
    ``Access-Control-Allow-Credentials: true`` for credentialed requests, and the method
    and non-safelisted headers listed (``*`` counts only without credentials).
    """
    h = {k.lower(): v for k, v in preflight_headers.items()}
    reasons, ok = [], True
    if not 200 <= status < 300:
        return CorsDecision(False, [f"preflight status {status} is not ok (2xx)"])
    acao = h.get("access-control-allow-origin")
    if acao is None:
        return CorsDecision(False, ["no Access-Control-Allow-Origin: the server did not opt in for this origin"])
    if acao == "*" and credentials:
        ok = False
        reasons.append("Allow-Origin '*' is not allowed for a credentialed request")
    elif acao not in ("*", origin):
        ok = False
        reasons.append(f"Allow-Origin is {acao!r}, not {origin!r}")
    else:
        reasons.append(f"origin {origin} allowed")
    if credentials:
        if h.get("access-control-allow-credentials") != "true":
            ok = False
            reasons.append("credentials need Access-Control-Allow-Credentials: true")
        else:
            reasons.append("credentials allowed")
    methods = _tokens(h.get("access-control-allow-methods"))
    simple = method.upper() in ("GET", "HEAD", "POST")
    if not (simple or method.lower() in methods or ("*" in methods and not credentials)):
        ok = False
        reasons.append(f"method {method} not in Allow-Methods")
    else:
        reasons.append(f"method {method} allowed")
    allowed_headers = _tokens(h.get("access-control-allow-headers"))
    for name in request_headers:
        if name.lower() not in allowed_headers and not ("*" in allowed_headers and not credentials):
            ok = False
            reasons.append(f"header {name} not in Allow-Headers")
    if request_headers and ok:
        reasons.append("headers " + ", ".join(request_headers) + " allowed")
    return CorsDecision(ok, reasons)
