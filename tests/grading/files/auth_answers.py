"""Answers to the Auth assessment (03_auth) used by the tests: the model solution and the plausible
wrong answers each hidden test must catch. Plain functions of plain data, like a student's."""

import base64
import hashlib
import hmac
import json
import re

import jwt

# ---- task: JWT validator ---------------------------------------------------------------
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _segment(seg):
    if not _B64URL.fullmatch(seg) or len(seg) % 4 == 1:
        raise ValueError("not base64url (RFC 7515 §2)")
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


def validate_jwt(token, keys, audience, issuer, now, leeway=0):
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("a compact JWS has exactly three segments")
    for seg in parts:
        _segment(seg)
    header = json.loads(_segment(parts[0]))
    if not isinstance(header, dict):
        raise ValueError("the header must be a JSON object")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise ValueError("unknown kid")
    alg = keys[kid]["alg"]
    if header.get("alg") != alg:
        raise ValueError("the header's alg is not the algorithm of this key")
    if "crit" in header:
        raise ValueError("crit names an extension we do not understand")
    try:
        claims = jwt.decode(token, keys[kid]["key"], algorithms=[alg],
                            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                     "verify_aud": False, "verify_iss": False})
    except jwt.InvalidTokenError as exc:
        raise ValueError(str(exc)) from None
    exp = claims.get("exp")
    if type(exp) not in (int, float) or now >= exp + leeway:
        raise ValueError("missing or expired exp")
    nbf = claims.get("nbf")
    if nbf is not None and (type(nbf) not in (int, float) or now < nbf - leeway):
        raise ValueError("not valid yet")
    if claims.get("iss") != issuer:
        raise ValueError("wrong issuer")
    aud = claims.get("aud")
    if audience not in ([aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []):
        raise ValueError("wrong audience")
    return claims


_correct_validate_jwt = validate_jwt      # the wrong answers below build on this, whatever `validate_jwt` is rebound to


def naive_validate_jwt(token, keys, audience, issuer, now, leeway=0):
    """Trusts the header: alg none accepted, HS256 keyed with whatever key the kid names; claims checked."""
    h, p, s = token.split(".")[:3]
    header = json.loads(base64.urlsafe_b64decode(h + "=="))
    claims = json.loads(base64.urlsafe_b64decode(p + "=="))
    if header.get("alg") != "none":
        key = keys[header.get("kid", next(iter(keys)))]["key"]
        if header["alg"] == "HS256":
            mac = hmac.new(key, f"{h}.{p}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(mac, base64.urlsafe_b64decode(s + "==")):
                raise ValueError("bad signature")
        else:
            jwt.decode(token, key, algorithms=[header["alg"]], options={"verify_signature": True, "verify_exp": False,
                       "verify_aud": False, "verify_iss": False, "verify_nbf": False})
    if now >= claims["exp"] + leeway or claims.get("iss") != issuer:
        raise ValueError("claims")
    aud = claims.get("aud")
    if audience not in ([aud] if isinstance(aud, str) else aud or []):
        raise ValueError("aud")
    if "nbf" in claims and now < claims["nbf"] - leeway:
        raise ValueError("nbf")
    return claims


def off_by_one_validate_jwt(token, keys, audience, issuer, now, leeway=0):
    """Correct, except that a token is still accepted at exactly exp (+ leeway)."""
    try:
        return _correct_validate_jwt(token, keys, audience, issuer, now, leeway)
    except ValueError as exc:
        if "expired" in str(exc):
            claims = _correct_validate_jwt(token, keys, audience, issuer, now - 1, leeway)
            if now == claims["exp"] + leeway:
                return claims
        raise


def substring_aud_validate_jwt(token, keys, audience, issuer, now, leeway=0):
    """Correct, except the audience test is Python's `in`, which on a string aud is a substring test."""
    try:
        return _correct_validate_jwt(token, keys, audience, issuer, now, leeway)
    except ValueError as exc:
        if str(exc) != "wrong audience":          # the last check: everything else passed
            raise
        claims = json.loads(_segment(token.split(".")[1]))
        if audience in claims.get("aud", ""):
            return claims
        raise


def library_defaults_validate_jwt(token, keys, audience, issuer, now, leeway=0):
    """PyJWT used well (algorithm fixed by the key, claims checked) but no strict format checks."""
    header = jwt.get_unverified_header(token)
    if header.get("kid") not in keys:
        raise ValueError("kid")
    alg = keys[header["kid"]]["alg"]
    claims = jwt.decode(token, keys[header["kid"]]["key"], algorithms=[alg], audience=audience, issuer=issuer,
                        leeway=leeway, options={"verify_exp": False, "verify_nbf": False, "require": ["exp"]})
    if now >= claims["exp"] + leeway or ("nbf" in claims and now < claims["nbf"] - leeway):
        raise ValueError("time")
    return claims


def reject_everything(token, keys, audience, issuer, now, leeway=0):
    raise ValueError("nothing is valid")


# ---- task: authorisation ---------------------------------------------------------------
def authorize(user, action, resource):
    if user is None:
        return 401
    roles = set(user["roles"])
    if "admin" in roles:
        return 200
    if action == "read" and "support" in roles:
        return 200
    if action in ("read", "update") and "customer" in roles and resource["owner"] == user["id"]:
        return 200
    return 403


_correct_authorize = authorize


def role_only_authorize(user, action, resource):
    """Checks the role, never the owner: broken object level authorization."""
    if user is None:
        return 401
    roles = set(user["roles"])
    if "admin" in roles or (action == "read" and "support" in roles):
        return 200
    return 200 if action in ("read", "update") and "customer" in roles else 403


def unauthenticated_for_everything_authorize(user, action, resource):
    """Answers 401 where 403 is due (a logged-in user who may not)."""
    status = _correct_authorize(user, action, resource)
    return 401 if status == 403 else status


# ---- task: PKCE ------------------------------------------------------------------------
def make_verifier(octets):
    return base64.urlsafe_b64encode(octets).rstrip(b"=").decode("ascii")


def make_challenge(verifier):
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def verify_pkce(verifier, challenge):
    if not re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", verifier):
        return False
    return hmac.compare_digest(make_challenge(verifier), challenge)


_correct_challenge = make_challenge


def hex_challenge(verifier):
    return hashlib.sha256(verifier.encode()).hexdigest()


def padded_verifier(octets):
    return base64.urlsafe_b64encode(octets).decode("ascii")


def lax_verify_pkce(verifier, challenge):
    """Compares the challenge but never checks the verifier's length and alphabet."""
    return _correct_challenge(verifier) == challenge if verifier.isascii() else False


def dollar_regex_verify_pkce(verifier, challenge):
    """Checks length and alphabet with re.match and "^...$": "$" also matches before a final newline."""
    if not re.match(r"^[A-Za-z0-9\-._~]{43,128}$", verifier):
        return False
    return hmac.compare_digest(_correct_challenge(verifier), challenge)


def lenient_parser_validate_jwt(token, keys, audience, issuer, now, leeway=0):
    """Right rules, hand-rolled with a forgiving parser: the first three segments, any base64."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    h, p, s = token.split(".")[:3]
    dec = lambda seg: base64.b64decode(seg.replace("-", "+").replace("_", "/") + "==")  # noqa: E731
    header, sig = json.loads(dec(h)), dec(s)
    kid = header.get("kid")
    if kid not in keys or header.get("alg") != keys[kid]["alg"]:
        raise ValueError("kid/alg")
    signing_input = f"{h}.{p}".encode()
    if keys[kid]["alg"] == "HS256":
        if not hmac.compare_digest(hmac.new(keys[kid]["key"], signing_input, hashlib.sha256).digest(), sig):
            raise ValueError("signature")
    else:
        serialization.load_pem_public_key(keys[kid]["key"]).verify(sig, signing_input, padding.PKCS1v15(),
                                                                   hashes.SHA256())
    claims = json.loads(dec(p))
    exp = claims.get("exp")
    if type(exp) not in (int, float) or now >= exp + leeway:
        raise ValueError("exp")
    if "nbf" in claims and now < claims["nbf"] - leeway:
        raise ValueError("nbf")
    aud = claims.get("aud")
    if claims.get("iss") != issuer or audience not in ([aud] if isinstance(aud, str) else aud or []):
        raise ValueError("iss/aud")
    return claims
