"""Checks for the Auth assessment (03_auth): a hostile-token corpus, an authorisation matrix, PKCE.

Everything a student function receives is plain data (``str``, ``bytes``, ``int``, ``dict`` of
those), and only plain results are used, with exact type checks, so the checks work when the
student's functions are proxies living in another process.

- JWT validator ``validate_jwt(token, keys, audience, issuer, now, leeway)``: returns the claims
  (a ``dict``) or raises. ``keys`` maps a ``kid`` to ``{"alg": "RS256", "key": <PEM bytes>}`` or
  ``{"alg": "HS256", "key": <secret bytes>}``. :func:`check_validator` runs one *part* of the
  corpus (``"signature"``, ``"claims"``, ``"format"``); each part also contains honest tokens, so
  a validator that rejects everything scores nothing.
- ``authorize(user, action, resource) -> int`` (200, 401 or 403): :func:`check_authorize` on a
  seeded random matrix, by part (``"authn"``, ``"roles"``, ``"ownership"``).
- PKCE (RFC 7636): :func:`check_pkce_vector`, :func:`check_pkce_random`, :func:`check_pkce_verify`.

Failure messages name the *kind* of token or case that went wrong, never the hidden data.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import random
import re
from functools import lru_cache
from typing import Callable

from jwt.algorithms import RSAAlgorithm

from course_tools.grading.checks import AnswerError, time_limit

__all__ = ["reference_validate", "reference_authorize", "reference_challenge", "reference_verify",
           "check_validator", "check_authorize", "check_pkce_vector", "check_pkce_random", "check_pkce_verify",
           "RFC7636_OCTETS", "RFC7636_VERIFIER", "RFC7636_CHALLENGE", "AUDIENCE", "ISSUER"]

AUDIENCE = "orders-api"
ISSUER = "https://login.shop.example"

# RFC 7636 Appendix B
RFC7636_OCTETS = bytes([116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77,
                        105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121])
RFC7636_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC7636_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def _fail(question: object, message: str, hint: str | None = None) -> None:
    raise AnswerError(f"Question {question}: {message}" + (f" Hint: {hint}" if hint else ""))


def _limited(seconds: float):
    """Run a check under ``time_limit``: a student function that never returns costs its question only."""
    def wrap(check):
        @functools.wraps(check)
        def limited(*args, question: object = "?", **kwargs):
            with time_limit(seconds, question=question):
                return check(*args, question=question, **kwargs)
        return limited
    return wrap


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_b64(obj: object) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


# ---- references ------------------------------------------------------------------------
def reference_validate(token, keys, audience, issuer, now, leeway=0):
    """The lesson's validator with the task's signature (used by the unit tests; grading never calls it, so
    ``course_tools.security`` can be hidden from the grading sandbox)."""
    from course_tools.security.tokens import validate

    return validate(token, keys, audience=audience, issuer=issuer, now=now, leeway=leeway)


def reference_authorize(user, action, resource):
    if user is None:
        return 401
    roles = set(user.get("roles", []))
    if "admin" in roles:
        return 200
    if action == "read" and "support" in roles:
        return 200
    if action in ("read", "update") and "customer" in roles and resource.get("owner") == user.get("id"):
        return 200
    return 403


def reference_challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]{43,128}")     # fullmatch: "$" matches before a final "\n"


def reference_verify(verifier, challenge):
    return bool(_UNRESERVED.fullmatch(verifier)) and hmac.compare_digest(reference_challenge(verifier), challenge)


# ---- the hostile-token corpus ----------------------------------------------------------
@lru_cache(maxsize=1)
def _keys():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = issuer_key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    secret = random.Random(7).randbytes(32)        # test-only secret, shared with the student function
    return issuer_key, attacker_key, pem, secret


def _rs256(private_key, signing_input: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def _token(header: dict | str, payload: dict | str, *, key=None, secret: bytes | None = None) -> str:
    h = header if isinstance(header, str) else _json_b64(header)
    p = payload if isinstance(payload, str) else _json_b64(payload)
    signing_input = f"{h}.{p}".encode()
    if secret is not None:
        sig = hmac.new(secret, signing_input, hashlib.sha256).digest()
    elif key is not None:
        sig = _rs256(key, signing_input)
    else:
        sig = b""
    return f"{h}.{p}.{_b64(sig)}"


def _corpus(part: str, seed: int) -> tuple[dict, list[tuple[str, str, int, int, dict | None]]]:
    """``(keys, [(kind, token, now, leeway, expected claims or None to reject)])``."""
    rng = random.Random(seed)
    issuer_key, attacker_key, pem, secret = _keys()
    keys = {"rsa-7": {"alg": "RS256", "key": pem}, "hmac-7": {"alg": "HS256", "key": secret}}
    now = 1_700_000_000 + rng.randrange(10_000)     # in the past: the machine's clock must not be used
    rs = {"alg": "RS256", "typ": "JWT", "kid": "rsa-7"}
    hs = {"alg": "HS256", "typ": "JWT", "kid": "hmac-7"}

    def claims(**over):
        c = {"iss": ISSUER, "sub": f"user-{rng.randrange(10**6)}", "aud": AUDIENCE, "iat": now - 10,
             "exp": now + rng.randrange(60, 3600), "jti": _b64(rng.randbytes(9)), "roles": ["customer"]}
        c.update(over)
        return {k: v for k, v in c.items() if v is not ...}

    cases: list[tuple[str, str, int, int, dict | None]] = []

    def good(kind, header, c, *, leeway=0, at=None, signer=None):
        tok = _token(header, c, **(signer or ({"secret": secret} if header.get("alg") == "HS256" else {"key": issuer_key})))
        cases.append((kind, tok, now if at is None else at, leeway, c))

    def bad(kind, tok, *, leeway=0, at=None):
        cases.append((kind, tok, now if at is None else at, leeway, None))

    good("an honest RS256 token", rs, claims())
    good("an honest HS256 token", hs, claims())
    if part == "visible":
        bad("alg none", _token({"alg": "none", "typ": "JWT", "kid": "rsa-7"}, claims(roles=["admin"])))
        bad("an expired token", _token(rs, claims(exp=now - 60), key=issuer_key))
        bad("a wrong aud", _token(hs, claims(aud="another-api"), secret=secret))
    elif part == "signature":
        admin = claims(roles=["admin"])
        for alg in ("none", "None", "NONE"):
            bad(f"alg '{alg}' without a signature", _token({"alg": alg, "typ": "JWT", "kid": "rsa-7"}, admin))
        bad("alg none without a kid", _token({"alg": "none", "typ": "JWT"}, admin))
        bad("alg HS256 with the RSA public key as HMAC secret (RS/HS confusion)",
            _token({**rs, "alg": "HS256"}, admin, secret=pem))
        bad("alg RS256 on the HMAC key's kid", _token({**hs, "alg": "RS256"}, admin, key=issuer_key))
        honest = _token(rs, claims(), key=issuer_key)
        h, p, s = honest.split(".")
        bad("a tampered payload with the original signature", f"{h}.{_json_b64({**json.loads(base64.urlsafe_b64decode(p + '==')), 'roles': ['admin']})}.{s}")
        bad("a signature removed", f"{h}.{p}.")
        bad("a token signed with another key", _token(rs, admin, key=attacker_key))
        jwk = {**RSAAlgorithm.to_jwk(attacker_key.public_key(), as_dict=True), "kid": "mallory"}
        bad("an unknown kid with the attacker's key in the header",
            _token({"alg": "RS256", "typ": "JWT", "kid": "mallory", "jwk": jwk}, admin, key=attacker_key))
        bad("no kid at all", _token({"alg": "RS256", "typ": "JWT"}, admin, key=issuer_key))
        bad("an HS256 token signed with a guessable secret", _token(hs, admin, secret=b"secret"))
    elif part == "claims":
        c = claims()
        good("a token within the leeway after exp", rs, claims(exp=now - 3), leeway=5)
        good("an aud list that contains our audience", rs, claims(aud=["billing-api", AUDIENCE]))
        good("an nbf in the past", rs, claims(nbf=now - 30))
        good("an nbf exactly now", rs, claims(nbf=now))
        good("an nbf within the leeway", hs, claims(nbf=now + 4), leeway=5)
        good("a token one second before exp", rs, claims(exp=now + 1))
        bad("an expired token", _token(rs, claims(exp=now - 60), key=issuer_key))
        exact = claims(exp=now)
        bad("a token at exactly its exp", _token(rs, exact, key=issuer_key))
        bad("a token at exactly exp + leeway", _token(hs, claims(exp=now - 5), secret=secret), leeway=5)
        bad("a token with no exp", _token(rs, claims(exp=...), key=issuer_key))
        bad("an exp that is not a number", _token(rs, claims(exp=str(now + 600)), key=issuer_key))
        bad("an nbf in the future", _token(rs, claims(nbf=now + 120), key=issuer_key))
        bad("an nbf beyond the leeway", _token(rs, claims(nbf=now + 6), key=issuer_key), leeway=5)
        bad("a wrong aud", _token(rs, claims(aud="another-api"), key=issuer_key))
        bad("an aud list without our audience", _token(rs, claims(aud=["billing-api", "another-api"]), key=issuer_key))
        bad("no aud", _token(rs, claims(aud=...), key=issuer_key))
        bad("a wrong iss", _token(rs, claims(iss="https://evil.example"), key=issuer_key))
        bad("no iss", _token(hs, claims(iss=...), secret=secret))
        bad("an aud that merely contains ours as a substring", _token(rs, claims(aud=AUDIENCE + "-v2"), key=issuer_key))
        del c
    elif part == "format":
        honest = _token(rs, claims(), key=issuer_key)
        h, p, s = honest.split(".")
        # a signature with '-' or '_' (each RSA signature has one with high probability; retry if not)
        for _ in range(50):
            t2 = _token(rs, claims(), key=issuer_key)
            if "-" in t2.split(".")[2] or "_" in t2.split(".")[2]:
                break
        h2, p2, s2 = t2.split(".")
        bad("a signature in standard base64 ('+' '/') instead of base64url",
            f"{h2}.{p2}.{s2.replace('-', '+').replace('_', '/')}")
        bad("a signature with '=' padding", f"{h}.{p}.{s}{'=' * (-len(s) % 4) or '===='}")
        bad("a fourth segment appended", f"{honest}.{_b64(b'extra')}")
        bad("only two segments", f"{h}.{p}")
        bad("an empty string", "")
        bad("whitespace inside a segment", f"{h}.{p[:10]} {p[10:]}.{s}")
        bad("a header that is not JSON", _token(_b64(b"{not json"), claims(), key=issuer_key))
        bad("a header that is a JSON array", _token(_json_b64(["RS256"]), claims(), key=issuer_key))
        bad("a payload that is not a JSON object", _token(rs, _json_b64([1, 2, 3]), key=issuer_key))
        bad("a crit header naming an unknown extension",
            _token({**rs, "crit": ["https://ext.example/x"], "https://ext.example/x": True}, claims(), key=issuer_key))
        bad("an impossible base64 length", f"{h}.{p}.{s}A" if len(s) % 4 == 0 else f"{h}.{p}.{s[:-1] if len(s) % 4 == 2 else s + 'A'}")
    else:
        raise ValueError(part)
    rng.shuffle(cases)
    return keys, cases


@_limited(120)
def check_validator(fn: Callable, part: str, *, seeds=(1,), question: object = "?") -> None:
    """Every honest token accepted with exactly its claims; every hostile token rejected."""
    for seed in seeds:
        keys, cases = _corpus(part, seed)
        keys = {kid: dict(k) for kid, k in keys.items()}     # a fresh copy: nothing the student mutates persists
        for kind, token, now, leeway, expected in cases:
            try:
                result = fn(token, keys, AUDIENCE, ISSUER, now, leeway)
            except AnswerError:
                raise
            except Exception:  # noqa: BLE001 - any exception is a rejection
                if expected is not None:
                    _fail(question, f"{kind} was rejected, but it is valid.",
                          "Check the one rule that made you reject it against the list in the task.")
                continue
            if expected is None:
                _fail(question, f"{kind} was accepted.", "Which rule of the task should have caught it?")
            if type(result) is not dict:
                _fail(question, f"for {kind} return the claims as a dict, got {type(result).__name__}.")
            if result != expected:
                _fail(question, f"for {kind} the returned claims differ from the token's payload.")


# ---- authorisation matrix --------------------------------------------------------------
_ROLES = ["customer", "support", "admin", "auditor"]
_ACTIONS = ["read", "update", "delete", "export"]


def _matrix(part: str, seed: int, n: int = 300):
    rng = random.Random(seed)
    ids = [f"u{i}" for i in range(6)]
    cases = []
    for _ in range(n):
        uid = rng.choice(ids)
        if part == "authn":
            user = None if rng.random() < 0.4 else {"id": uid, "roles": rng.sample(_ROLES, rng.randint(0, 2))}
            owner = uid if user is not None else rng.choice(ids)
        elif part == "roles":
            user = {"id": uid, "roles": rng.sample(_ROLES, rng.randint(0, 3))}
            owner = uid                   # own resources: the roles decide
        else:  # ownership: customers (sometimes with an inert extra role) on anybody's resources
            user = {"id": uid, "roles": ["customer"] + (["auditor"] if rng.random() < 0.3 else [])}
            owner = rng.choice(ids)
        action = rng.choice(_ACTIONS if part != "ownership" else ["read", "update", "read", "delete"])
        resource = {"id": f"order-{rng.randrange(1000)}", "owner": owner}
        cases.append((user, action, resource))
    return cases


@_limited(60)
def check_authorize(fn: Callable, part: str, *, seeds=(1,), question: object = "?") -> None:
    hints = {"authn": "Who is the caller? No caller at all is a different answer from a caller who may not.",
             "roles": "Go through each role's permissions; anything not granted is refused.",
             "ownership": "A customer's permissions are about their own orders only."}
    for seed in seeds:
        for user, action, resource in _matrix(part, seed):
            got = fn(None if user is None else {"id": user["id"], "roles": list(user["roles"])}, action, dict(resource))
            if type(got) is not int:
                _fail(question, f"authorize must return an int status code, got {type(got).__name__}.")
            want = reference_authorize(user, action, resource)
            if got != want:
                who = "an anonymous caller" if user is None else (
                    f"a user with roles {sorted(user['roles']) or 'none'}"
                    f"{' on their own order' if resource['owner'] == user['id'] else ' on somebody else' + chr(39) + 's order'}")
                _fail(question, f"{who} asking to {action!r} got {got}.", hints[part])


# ---- PKCE ------------------------------------------------------------------------------
@_limited(30)
def check_pkce_vector(make_verifier: Callable, make_challenge: Callable, question: object = "?") -> None:
    v = make_verifier(RFC7636_OCTETS)
    if type(v) is not str:
        _fail(question, f"make_verifier must return a str, got {type(v).__name__}.")
    if v != RFC7636_VERIFIER:
        _fail(question, "make_verifier does not reproduce RFC 7636 Appendix B.",
              "base64url, without '=' padding.")
    c = make_challenge(RFC7636_VERIFIER)
    if type(c) is not str or c != RFC7636_CHALLENGE:
        _fail(question, "make_challenge does not reproduce RFC 7636 Appendix B.",
              "SHA-256 of the verifier's ASCII bytes, then base64url without padding (not hex).")


@_limited(60)
def check_pkce_random(make_verifier: Callable, make_challenge: Callable, *, seed: int = 1, n: int = 200,
                      question: object = "?") -> None:
    rng = random.Random(seed)
    for _ in range(n):
        octets = rng.randbytes(rng.choice([32, 48, 64, 96]))
        v = make_verifier(octets)
        if type(v) is not str or v != _b64(octets):
            _fail(question, f"make_verifier is wrong for a random {len(octets)}-octet input.", "Padding? Alphabet?")
        verifier = "".join(rng.choice("ABCXYZabcxyz0189-._~") for _ in range(rng.randint(43, 128)))
        c = make_challenge(verifier)
        if type(c) is not str or c != reference_challenge(verifier):
            _fail(question, "make_challenge is wrong for a random verifier.")


@_limited(60)
def check_pkce_verify(verify: Callable, *, seed: int = 1, question: object = "?") -> None:
    rng = random.Random(seed)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    cases = []
    for _ in range(60):
        v = "".join(rng.choice(alphabet) for _ in range(rng.randint(43, 128)))
        cases += [("a matching verifier", v, reference_challenge(v)),
                  ("a different verifier", v, reference_challenge(v[::-1] + "x"))]
    for n in (42, 10, 129, 200):
        v = "".join(rng.choice(alphabet) for _ in range(n))
        cases.append((f"a verifier of {n} characters (with its own challenge)", v, reference_challenge(v)))
    for ch in ("+", "/", "=", " ", "é", "\n"):
        v = "".join(rng.choice(alphabet) for _ in range(50)) + ch
        cases.append((f"a verifier containing {ch!r} (with its own challenge)", v,
                      _b64(hashlib.sha256(v.encode("utf-8")).digest())))
    v = "".join(rng.choice(alphabet) for _ in range(60))
    cases.append(("the plain method: challenge == verifier", v, v))
    rng.shuffle(cases)
    for kind, verifier, challenge in cases:
        try:
            got = verify(verifier, challenge)
        except AnswerError:
            raise
        except Exception:  # noqa: BLE001 - an exception is a refusal
            got = False
        if type(got) is not bool:
            _fail(question, f"verify_pkce must return a bool, got {type(got).__name__}.")
        if got != reference_verify(verifier, challenge):
            _fail(question, f"{kind}: verify_pkce answered {got}.", "RFC 7636 §4.1 says which verifiers are valid.")
