"""OAuth 2.0 authorization code flow with PKCE, and OpenID Connect, on loopback.

Four parties, three of them real HTTP servers on 127.0.0.1:

- :class:`AuthorizationServer` — ``/authorize``, ``/token``, the OIDC discovery document at
  ``/.well-known/openid-configuration`` and the JWKS at ``/jwks`` (RFC 6749 §4.1, RFC 7636,
  OpenID Connect Core 1.0 §3.1, Discovery 1.0 §4). Keys are generated when it starts.
- :class:`ClientApp` — a web application ("photo printer") with ``/login`` and ``/callback``.
- :class:`ResourceServer` — an API (``/photos``) that accepts the access tokens.
- the *browser* is :meth:`Trace.browse`, which follows redirects between them.

Every message between the parties is recorded in a :class:`Trace` (``trace.messages``) so that
it can be printed and drawn with :func:`course_tools.viz.sequence.sequence_diagram`.

    with OAuthLab(clock=VirtualClock(1.8e9)) as lab:
        result = lab.run_flow()            # the whole dance; result["photos"] from the API
        sequence_diagram(None, lab.trace.messages)

Token lifetimes and code expiry follow the given (virtual) clock. ``state``, ``nonce`` and PKCE
verifiers come from the CSPRNG and are never printed in full.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from course_tools.net.http import HTTPServer, Request, Response
from course_tools.net.wire import RawResponse, send
from course_tools.security import tokens
from course_tools.security.sessions import cookie_header, new_id

__all__ = ["Message", "Trace", "AuthorizationServer", "ResourceServer", "ClientApp", "OAuthLab", "s256",
           "new_verifier", "redirect_uri_allowed", "id_token_checks"]


# ---- PKCE (RFC 7636 §4.1-4.2) -----------------------------------------------------------
def new_verifier() -> str:
    """43 characters of base64url from 32 CSPRNG octets (RFC 7636 §4.1)."""
    return tokens.b64url_encode(secrets.token_bytes(32))


def s256(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(code_verifier)))`` (RFC 7636 §4.2)."""
    return tokens.b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())


def redirect_uri_allowed(registered: list[str], given: str, mode: str = "exact") -> bool:
    """Exact string comparison (RFC 9700 §2.1) — or the prefix match it warns against."""
    if mode == "exact":
        return given in registered
    if mode == "prefix":
        return any(given.startswith(r) for r in registered)
    raise ValueError(mode)


# ---- the trace ----------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    frm: str
    to: str
    label: str
    response: bool = False


class Trace:
    """Messages in the order they were sent; also the 'browser' that follows redirects and keeps
    the cookies each server sets (one browser per trace)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self.names: dict[int, str] = {}          # port -> party name
        self.cookies: dict[str, dict[str, str]] = {}   # the browser's cookie jar: host:port -> name -> value

    def add(self, msg: Message) -> None:
        with self._lock:
            self.messages.append(msg)

    def party(self, url: str) -> str:
        return self.names.get(urlsplit(url).port or 80, urlsplit(url).netloc)

    def send(self, frm: str, method: str, url: str, *, label: str | None = None, headers: dict | None = None,
             form: dict | None = None) -> RawResponse:
        """One traced request from party ``frm``; ``form`` is sent as x-www-form-urlencoded."""
        parts = urlsplit(url)
        base, path = f"{parts.scheme}://{parts.netloc}", parts.path + (f"?{parts.query}" if parts.query else "")
        to = self.party(url)
        body = b""
        hdrs = dict(headers or {})
        if form is not None:
            body = urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        self.add(Message(frm, to, label or f"{method} {parts.path}"))
        resp = send(base, method, path, headers=hdrs, body=body)
        loc = resp.header("Location")
        where = f" → {urlsplit(loc).path}" if loc else ""
        try:
            doc = json.loads(resp.body) if resp.body else None
        except ValueError:
            doc = None
        if isinstance(doc, dict) and resp.status >= 400:
            where = f" {doc.get('error', '')}"
        elif isinstance(doc, dict) and "access_token" in doc:
            where = " " + " + ".join(k for k in ("access_token", "id_token", "refresh_token") if k in doc)
        self.add(Message(to, frm, f"{resp.status}{where}", response=True))
        return resp

    def browse(self, url: str, *, on_redirect: Callable[[str], None] | None = None, max_hops: int = 10) -> RawResponse:
        """A user agent: GET ``url`` and follow redirects (calling ``on_redirect(location)`` first)."""
        for _ in range(max_hops):
            netloc = urlsplit(url).netloc
            jar = self.cookies.setdefault(netloc, {})
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else None
            resp = self.send("browser", "GET", url, label=f"GET {_short(url)}", headers=headers)
            for name, morsel in SimpleCookie(resp.header("Set-Cookie") or "").items():
                if morsel["max-age"] == "0":
                    jar.pop(name, None)
                else:
                    jar[name] = morsel.value
            loc = resp.header("Location")
            if resp.status not in (302, 303) or not loc:
                return resp
            if on_redirect is not None:
                on_redirect(loc)
            url = loc
        raise RuntimeError("too many redirects")


def _short(url: str) -> str:
    p = urlsplit(url)
    keys = list(parse_qs(p.query))
    return p.path + (("?" + "&".join(keys[:4]) + ("&…" if len(keys) > 4 else "")) if keys else "")


def _query(req: Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(req.path).query).items()}


def _form(req: Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(req.body.decode()).items()}


# ---- authorization server -------------------------------------------------------------
class AuthorizationServer(HTTPServer):
    """Issues codes to a logged-in user (consent is assumed) and tokens at ``/token``.

    ``require_pkce`` refuses authorization requests without an S256 ``code_challenge``
    (RFC 9700 §2.1.1 makes PKCE a MUST for public clients); ``redirect_match`` is "exact"
    (RFC 9700) or "prefix" (the legacy bug).
    """

    name = "auth-server"

    def __init__(self, *, clock: Callable[[], float], user: str = "alice", require_pkce: bool = True,
                 redirect_match: str = "exact", code_ttl: int = 60, access_ttl: int = 600) -> None:
        super().__init__(self._route)
        self.clock, self.user, self.require_pkce, self.redirect_match = clock, user, require_pkce, redirect_match
        self.code_ttl, self.access_ttl = code_ttl, access_ttl
        self.clients: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.signer: tokens.Signer | None = None

    def start(self):
        super().start()
        if self.signer is None:
            self.signer = tokens.make_signer(self.url)
        return self

    @property
    def issuer(self) -> str:
        return self.url

    def register(self, client_id: str, redirect_uris: list[str]) -> None:
        self.clients[client_id] = {"redirect_uris": list(redirect_uris)}

    def discovery(self) -> dict:
        return {"issuer": self.issuer, "authorization_endpoint": self.url + "/authorize",
                "token_endpoint": self.url + "/token", "jwks_uri": self.url + "/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code", "refresh_token"]}

    def _route(self, req: Request) -> Response:
        path = urlsplit(req.path).path
        if path == "/.well-known/openid-configuration":
            return Response.json(200, self.discovery())
        if path == "/jwks":
            return Response.json(200, self.signer.jwks(), content_type="application/jwk-set+json")
        if path == "/authorize" and req.method == "GET":
            return self._authorize(_query(req))
        if path == "/token" and req.method == "POST":
            return self._token(_form(req))
        return Response.json(404, {"error": "not found"})

    def _authorize(self, q: dict) -> Response:
        client = self.clients.get(q.get("client_id", ""))
        redirect = q.get("redirect_uri", "")
        if client is None or not redirect_uri_allowed(client["redirect_uris"], redirect, self.redirect_match):
            # never redirect to an unverified URI (RFC 6749 §4.1.2.1): show an error instead
            return Response.json(400, {"error": "invalid_request", "error_description": "unknown client or redirect_uri"})
        state = q.get("state", "")
        if q.get("response_type") != "code":
            return _redirect(redirect, {"error": "unsupported_response_type", "state": state})
        challenge, method = q.get("code_challenge"), q.get("code_challenge_method", "plain")
        if challenge and method != "S256" or (self.require_pkce and not challenge):
            return _redirect(redirect, {"error": "invalid_request", "error_description": "PKCE S256 required",
                                        "state": state})
        code = new_id(24)
        with self._lock:
            self.codes[code] = {"client_id": q["client_id"], "redirect_uri": redirect, "challenge": challenge,
                                "scope": q.get("scope", ""), "nonce": q.get("nonce"), "sub": self.user,
                                "expires": self.clock() + self.code_ttl, "used": False}
        return _redirect(redirect, {"code": code, "state": state})

    def _token(self, f: dict) -> Response:
        if f.get("grant_type") != "authorization_code":
            return Response.json(400, {"error": "unsupported_grant_type"})
        with self._lock:
            grant = self.codes.get(f.get("code", ""))
            if grant is None or grant["used"] or self.clock() >= grant["expires"]:
                return Response.json(400, {"error": "invalid_grant", "error_description": "unknown, used or expired code"})
            if f.get("client_id") != grant["client_id"] or f.get("redirect_uri") != grant["redirect_uri"]:
                return Response.json(400, {"error": "invalid_grant", "error_description": "client or redirect_uri mismatch"})
            if grant["challenge"] is not None:
                verifier = f.get("code_verifier", "")
                if not verifier or s256(verifier) != grant["challenge"]:
                    return Response.json(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
            elif "code_verifier" in f:   # PKCE downgrade: a verifier for a code issued without challenge (RFC 9700 §2.1.1)
                return Response.json(400, {"error": "invalid_grant", "error_description": "no code_challenge was sent"})
            grant["used"] = True
        now = int(self.clock())
        access = self.signer.sign({"iss": self.issuer, "sub": grant["sub"], "aud": "photos-api", "client_id":
                                   grant["client_id"], "scope": grant["scope"], "iat": now,
                                   "exp": now + self.access_ttl, "jti": new_id(12)})
        body = {"access_token": access, "token_type": "Bearer", "expires_in": self.access_ttl, "scope": grant["scope"]}
        if "openid" in grant["scope"].split():
            claims = {"iss": self.issuer, "sub": grant["sub"], "aud": grant["client_id"], "iat": now,
                      "exp": now + 300, "auth_time": now}
            if grant["nonce"]:
                claims["nonce"] = grant["nonce"]
            body["id_token"] = self.signer.sign(claims)
        return Response.json(200, body, Cache_Control="no-store")


def _redirect(uri: str, params: dict) -> Response:
    sep = "&" if "?" in uri else "?"
    return Response(302, {"Location": uri + sep + urlencode({k: v for k, v in params.items() if v})})


# ---- resource server --------------------------------------------------------------------
class ResourceServer(HTTPServer):
    """``GET /photos`` with ``Authorization: Bearer <access token>`` (RFC 6750)."""

    name = "resource-server"

    def __init__(self, auth_server: AuthorizationServer, *, clock: Callable[[], float]) -> None:
        super().__init__(self._route)
        self.auth_server, self.clock = auth_server, clock

    def _route(self, req: Request) -> Response:
        if urlsplit(req.path).path != "/photos":
            return Response.json(404, {"error": "not found"})
        auth = req.headers.get("Authorization", "")
        if auth[:7].lower() != "bearer ":  # the scheme name is case-insensitive (RFC 9110 §11.1)
            return Response.json(401, {"error": "no token"}, WWW_Authenticate='Bearer realm="photos"')
        # only the public key: a resource server cannot mint tokens
        keys = {k: v for k, v in self.auth_server.signer.verification_keys.items() if v["alg"] == "RS256"}
        try:
            claims = tokens.validate(auth[7:], keys, audience="photos-api", issuer=self.auth_server.issuer,
                                     now=self.clock())
        except tokens.InvalidToken:
            return Response.json(401, {"error": "invalid_token"},
                                 WWW_Authenticate='Bearer realm="photos", error="invalid_token"')
        if "photos.read" not in claims.get("scope", "").split():
            return Response.json(403, {"error": "insufficient_scope"},
                                 WWW_Authenticate='Bearer realm="photos", error="insufficient_scope"')
        return Response.json(200, {"owner": claims["sub"], "photos": ["beach.jpg", "cat.jpg"]})


# ---- ID token validation, step by step (OIDC Core §3.1.3.7) ------------------------------
def id_token_checks(id_token: str, *, discovery: dict, jwks: dict, client_id: str, nonce: str | None,
                    now: float, max_age: int = 600, trusted_audiences: tuple[str, ...] = ()) -> list[tuple[str, bool, str]]:
    """Each check an RP makes on an ID token, in order: ``(step, passed, detail)``.

    ``aud`` must list ``client_id`` and no audience the client does not trust (OIDC Core §3.1.3.7:
    "The ID Token MUST be rejected if [it] does not list the Client as a valid audience, or if it
    contains additional audiences not trusted by the Client").
    """
    import jwt

    steps: list[tuple[str, bool, str]] = []
    try:
        header, claims, _ = tokens.split_token(id_token)
    except tokens.InvalidToken as exc:
        return [("well-formed JWS", False, str(exc))]
    steps.append(("well-formed JWS", True, f"alg={header.get('alg')} kid={header.get('kid')}"))
    key = next((k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")), None)
    steps.append(("kid found in the JWKS from jwks_uri", key is not None, str(header.get("kid"))))
    if key is None:
        return steps
    ok_alg = header.get("alg") == "RS256" == key.get("alg")
    steps.append(("alg is the one registered (RS256)", ok_alg, str(header.get("alg"))))
    try:
        jwt.decode(id_token, jwt.PyJWK(key).key, algorithms=["RS256"], options={"verify_exp": False,
                   "verify_aud": False, "verify_iss": False, "verify_iat": False})
        sig_ok = ok_alg
    except jwt.InvalidTokenError:
        sig_ok = False
    steps.append(("signature verifies", sig_ok, "RSASSA-PKCS1-v1_5 SHA-256"))
    steps.append(("iss == discovery issuer", claims.get("iss") == discovery["issuer"], str(claims.get("iss"))))
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else list(aud) if isinstance(aud, list) else []
    trusted = {client_id, *trusted_audiences}
    steps.append(("aud lists our client_id, no untrusted party", client_id in auds and set(auds) <= trusted, str(aud)))
    steps.append(("exp is in the future", isinstance(claims.get("exp"), (int, float)) and now < claims["exp"],
                  f"exp - now = {claims.get('exp', 0) - now:+.0f} s"))
    steps.append(("iat is recent", isinstance(claims.get("iat"), (int, float)) and now - max_age <= claims["iat"] <= now + 5,
                  f"now - iat = {now - claims.get('iat', 0):.0f} s"))
    steps.append(("nonce equals the one we sent", nonce is not None and claims.get("nonce") == nonce,
                  "match" if nonce is not None and claims.get("nonce") == nonce else "MISMATCH"))
    steps.append(("sub present (the user's stable id at this issuer)", bool(claims.get("sub")), str(claims.get("sub"))))
    return steps


# ---- the client (relying party) ----------------------------------------------------------
class ClientApp(HTTPServer):
    """A confidential-looking but *public* web client: no secret, so PKCE is its protection."""

    name = "client"

    def __init__(self, auth_server: AuthorizationServer, resource_server: ResourceServer, trace: Trace, *,
                 clock: Callable[[], float], client_id: str = "photo-printer", use_pkce: bool = True,
                 scope: str = "openid photos.read") -> None:
        super().__init__(self._route)
        self.auth_server, self.resource_server, self.trace, self.clock = auth_server, resource_server, trace, clock
        self.client_id, self.use_pkce, self.scope = client_id, use_pkce, scope
        self.pending: dict[str, dict] = {}     # state -> {browser, verifier, nonce}
        self.results: list[dict] = []

    @property
    def redirect_uri(self) -> str:
        return self.url + "/callback"

    def _route(self, req: Request) -> Response:
        path = urlsplit(req.path).path
        if path == "/login":
            state, nonce, browser = new_id(16), new_id(16), new_id(16)
            params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                      "scope": self.scope, "state": state, "nonce": nonce}
            pending = {"nonce": nonce, "browser": browser}
            if self.use_pkce:
                pending["verifier"] = new_verifier()
                params |= {"code_challenge": s256(pending["verifier"]), "code_challenge_method": "S256"}
            self.pending[state] = pending
            # state is bound to this browser by a cookie (RFC 6749 §10.12): a callback carrying a state
            # that another browser started (login CSRF) is refused. SameSite=Lax still sends the cookie on
            # the top-level redirect back from the authorization server.
            return Response(302, {"Location": self.auth_server.url + "/authorize?" + urlencode(params),
                                  "Set-Cookie": cookie_header("login", browser, max_age=600)})
        if path == "/callback":
            return self._callback(_query(req), req.headers.get("Cookie", ""))
        return Response.json(404, {"error": "not found"})

    def _callback(self, q: dict, cookie_header_value: str = "") -> Response:
        state = q.get("state", "")
        pending = self.pending.get(state)
        if pending is None:                     # CSRF defence: the state must be one we issued...
            return Response.json(400, {"error": "unknown state"})
        cookie = SimpleCookie(cookie_header_value)
        browser = cookie["login"].value if "login" in cookie else ""
        if not hmac.compare_digest(browser, pending["browser"]):    # ...to this very browser
            return Response.json(400, {"error": "state was not issued to this browser"})
        del self.pending[state]
        if "code" not in q:                     # the authorization server refused (RFC 6749 §4.1.2.1)
            result = {"status": "authorization refused", "error": q.get("error", "no code")}
            self.results.append(result)
            return Response.json(400, result)
        form = {"grant_type": "authorization_code", "code": q["code"], "redirect_uri": self.redirect_uri,
                "client_id": self.client_id}
        if "verifier" in pending:
            form["code_verifier"] = pending["verifier"]
        resp = self.trace.send("client", "POST", self.auth_server.url + "/token", form=form,
                               label="POST /token (code" + (" + code_verifier)" if "verifier" in pending else ")"))
        if resp.status != 200:
            result = {"status": "token request refused", "error": json.loads(resp.body).get("error")}
            self.results.append(result)
            return Response.json(502, result)
        grant = json.loads(resp.body)
        disc = json.loads(self.trace.send("client", "GET", self.auth_server.url + "/.well-known/openid-configuration").body)
        jwks = json.loads(self.trace.send("client", "GET", disc["jwks_uri"]).body)
        checks = id_token_checks(grant["id_token"], discovery=disc, jwks=jwks, client_id=self.client_id,
                                 nonce=pending["nonce"], now=self.clock())
        if not all(ok for _, ok, _ in checks):
            result = {"status": "ID token rejected", "checks": checks}
            self.results.append(result)
            return Response.json(401, {"status": result["status"]})
        api = self.trace.send("client", "GET", self.resource_server.url + "/photos",
                              headers={"Authorization": "Bearer " + grant["access_token"]},
                              label="GET /photos (Bearer access token)")
        result = {"status": "logged in", "user": tokens.split_token(grant["id_token"])[1]["sub"],
                  "api_status": api.status, "photos": json.loads(api.body).get("photos"), "checks": checks,
                  "grant": grant}
        self.results.append(result)
        return Response.json(200, {"status": "logged in", "user": result["user"], "photos": result["photos"]})


class OAuthLab:
    """The three servers started together (and stopped together), sharing one trace."""

    def __init__(self, *, clock: Callable[[], float], use_pkce: bool = True, require_pkce: bool | None = None,
                 redirect_match: str = "exact") -> None:
        self.clock = clock
        self.trace = Trace()
        self.auth = AuthorizationServer(clock=clock, require_pkce=use_pkce if require_pkce is None else require_pkce,
                                        redirect_match=redirect_match)
        self.api = ResourceServer(self.auth, clock=clock)
        self.client = ClientApp(self.auth, self.api, self.trace, clock=clock, use_pkce=use_pkce)

    def __enter__(self) -> "OAuthLab":
        try:
            for server, name in ((self.auth, "auth server"), (self.api, "resource server"), (self.client, "client")):
                server.start()
                self.trace.names[server.port] = name
            self.auth.register(self.client.client_id, [self.client.redirect_uri])
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self.client, self.api, self.auth):
            server.stop()

    def run_flow(self, *, on_redirect: Callable[[str], None] | None = None) -> dict:
        """The user clicks "log in with…" at the client; returns the client's result."""
        before = len(self.client.results)
        resp = self.trace.browse(self.client.url + "/login", on_redirect=on_redirect)
        out = self.client.results[before] if len(self.client.results) > before else {}
        return {"browser_status": resp.status, **out}

    def redeem(self, code: str, *, code_verifier: str | None = None, frm: str = "attacker") -> tuple[int, dict]:
        """A token request with a (possibly stolen) code, as anyone who knows the public client_id can send."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.client.redirect_uri,
                "client_id": self.client.client_id}
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        resp = self.trace.send(frm, "POST", self.auth.url + "/token", form=form, label="POST /token (stolen code)")
        return resp.status, json.loads(resp.body)
