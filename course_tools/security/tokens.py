"""Signed JSON Web Tokens as the lesson uses them: keys made at run time, a token taken apart
by hand, a naive validator, a correct one, and the attacks that tell them apart.

Key material is *plain data* so the same shapes serve the lesson, the tests and the assessment:

    keys = {"rsa-1": {"alg": "RS256", "key": b"-----BEGIN PUBLIC KEY-----..."},
            "hmac-1": {"alg": "HS256", "key": b"<32 random bytes>"}}

The *key* decides the algorithm, never the token's header (RFC 8725 §3.1: the caller fixes the
allowed algorithms). :func:`validate` follows RFC 7519 §7.2 and RFC 8725; :func:`naive_validate`
makes the classic mistakes on purpose (it trusts the header's ``alg`` and an embedded ``jwk``,
and checks no claims) so that the lesson can show attacks succeed against it.

Nothing here prints a secret: :func:`redact` shows the first characters only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import secrets
from dataclasses import dataclass, field
from typing import Callable, Mapping

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwt.algorithms import RSAAlgorithm

__all__ = ["InvalidToken", "Signer", "make_signer", "b64url_encode", "b64url_decode", "split_token",
           "encode_unsigned", "redact", "validate", "naive_validate", "Attack", "attacks", "attack_table",
           "public_jwk"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")      # used with fullmatch: "$" would let a trailing "\n" through


class InvalidToken(ValueError):
    """The token must not be accepted (the message says why)."""


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Strict base64url: only the URL-safe alphabet, no padding, no impossible length."""
    if not isinstance(segment, str) or not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise InvalidToken("not base64url (RFC 7515 §2: URL-safe alphabet, no padding)")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - excluded by the checks above
        raise InvalidToken(f"not base64url: {exc}") from None


def split_token(token: str) -> tuple[dict, dict, bytes]:
    """Header, payload and signature of a compact JWS, decoded *without* verifying anything."""
    if not isinstance(token, str):
        raise InvalidToken("a token is a str")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken(f"a compact JWS has 3 segments, this one has {len(parts)}")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidToken("header or payload is not JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise InvalidToken("header and payload must be JSON objects")
    return header, payload, b64url_decode(parts[2])


def redact(secret: str | bytes, keep: int = 10) -> str:
    """The first ``keep`` characters and the length: enough to recognise, useless to copy."""
    text = secret.decode("ascii", "replace") if isinstance(secret, bytes) else secret
    return f"{text[:keep]}…({len(text)} chars)"


# ---- keys and signing ------------------------------------------------------------------
@dataclass
class Signer:
    """An issuer's keys, generated at run time: an RSA key pair and an HMAC secret.

    ``verification_keys`` is what a resource server is given (public key and, for HS256, the
    shared secret); the private key never leaves this object.
    """

    issuer: str
    rsa_private: rsa.RSAPrivateKey
    hmac_secret: bytes
    rsa_kid: str = "rsa-1"
    hmac_kid: str = "hmac-1"
    public_pem: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.public_pem = self.rsa_private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def verification_keys(self) -> dict[str, dict]:
        return {self.rsa_kid: {"alg": "RS256", "key": self.public_pem},
                self.hmac_kid: {"alg": "HS256", "key": self.hmac_secret}}

    def sign(self, claims: Mapping, alg: str = "RS256", *, headers: Mapping | None = None) -> str:
        kid = self.rsa_kid if alg == "RS256" else self.hmac_kid
        key = self.rsa_private if alg == "RS256" else self.hmac_secret
        return jwt.encode(dict(claims), key, algorithm=alg, headers={"kid": kid, **(headers or {})})

    def jwks(self) -> dict:
        """The public keys as a JWK Set (RFC 7517 §5), as served at a ``jwks_uri``."""
        return {"keys": [public_jwk(self.rsa_private.public_key(), self.rsa_kid)]}


def public_jwk(public_key: rsa.RSAPublicKey, kid: str) -> dict:
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


def make_signer(issuer: str = "https://issuer.example", *, key_size: int = 2048) -> Signer:
    """Fresh keys from the operating system's CSPRNG; nothing is read from or written to disk."""
    return Signer(issuer, rsa.generate_private_key(public_exponent=65537, key_size=key_size),
                  secrets.token_bytes(32))


def encode_unsigned(header: Mapping, payload: Mapping, signature: bytes = b"") -> str:
    """Assemble a compact JWS from parts by hand (how attackers build tokens)."""
    enc = lambda obj: b64url_encode(json.dumps(obj, separators=(",", ":")).encode())  # noqa: E731
    return f"{enc(header)}.{enc(payload)}.{b64url_encode(signature)}"


def _hs256(key: bytes, signing_input: bytes) -> bytes:
    return hmac.new(key, signing_input, hashlib.sha256).digest()


# ---- validators -----------------------------------------------------------------------
def validate(token: str, keys: Mapping[str, Mapping], *, audience: str, issuer: str, now: float,
             leeway: float = 0) -> dict:
    """Return the claims of a token that passes every check, else raise :class:`InvalidToken`.

    1. exactly three base64url segments, JSON objects (RFC 7515 §7.1, §2);
    2. ``kid`` names a known key and the header's ``alg`` is *that key's* algorithm (RFC 8725 §3.1);
    3. no ``crit`` extension we do not understand (RFC 7515 §4.1.11) — we understand none;
    4. the signature, verified by PyJWT with the one allowed algorithm;
    5. ``exp`` required, accepted only while ``now < exp + leeway``; ``nbf`` only once
       ``now >= nbf - leeway`` (RFC 7519 §4.1.4-4.1.5); ``iat``, if present, not after
       ``now + leeway`` (§4.1.6 only defines it; refusing a token "issued in the future" is what
       PyJWT does too); each a finite number (a NumericDate, §2); ``iss`` equal; ``aud`` (string
       or list) contains ours (§4.1.1, §4.1.3).
    """
    header, payload, _ = split_token(token)
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise InvalidToken("unknown kid")
    expected_alg = keys[kid]["alg"]
    if header.get("alg") != expected_alg:
        raise InvalidToken(f"alg {header.get('alg')!r} is not the algorithm of key {kid!r}")
    if "crit" in header:
        raise InvalidToken("crit names an extension this validator does not understand")
    try:
        claims = jwt.decode(token, keys[kid]["key"], algorithms=[expected_alg],
                            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                     "verify_aud": False, "verify_iss": False})
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"signature: {exc}") from None
    if "exp" not in claims:
        raise InvalidToken("exp is required")
    times = {}
    for name in ("exp", "nbf", "iat"):
        if name in claims:
            value = claims[name]
            # Python's json accepts NaN and Infinity (RFC 8259 does not): `now >= nan` is False
            if type(value) not in (int, float) or (type(value) is float and not math.isfinite(value)):
                raise InvalidToken(f"{name} must be a finite number (a NumericDate)")
            times[name] = value
    if now >= times["exp"] + leeway:
        raise InvalidToken("expired")
    if "nbf" in times and now < times["nbf"] - leeway:
        raise InvalidToken("not valid yet (nbf)")
    if "iat" in times and times["iat"] > now + leeway:
        raise InvalidToken("issued in the future (iat)")
    if claims.get("iss") != issuer:
        raise InvalidToken("wrong issuer")
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in auds:
        raise InvalidToken("wrong audience")
    return claims


def naive_validate(token: str, keys: Mapping[str, Mapping], *, audience: str = "", issuer: str = "",
                   now: float = 0, leeway: float = 0) -> dict:
    """DO NOT USE. Verifies the signature with whatever algorithm the header names (and the
    key the header embeds, if any) and checks no claim: the mistakes of RFC 8725 §2.1, and more."""
    head_b64, body_b64, sig_b64 = token.split(".")[:3]
    header = json.loads(b64url_decode(head_b64))
    payload = json.loads(b64url_decode(body_b64))
    signing_input = f"{head_b64}.{body_b64}".encode()
    sig = b64url_decode(sig_b64)
    alg = header.get("alg")
    if alg == "none":
        return payload
    if "jwk" in header:                            # "the token tells me which key to trust"
        key_bytes = RSAAlgorithm.from_jwk(header["jwk"]).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    else:
        key_bytes = next(iter(keys.values()))["key"] if header.get("kid") not in keys else keys[header["kid"]]["key"]
    if alg == "HS256":
        if not hmac.compare_digest(_hs256(key_bytes, signing_input), sig):
            raise InvalidToken("bad HMAC")
        return payload
    if alg == "RS256":
        pub = serialization.load_pem_public_key(key_bytes)
        try:
            pub.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, TypeError, AttributeError):
            raise InvalidToken("bad RSA signature") from None
        return payload
    raise InvalidToken(f"unsupported alg {alg!r}")


# ---- attacks --------------------------------------------------------------------------
@dataclass(frozen=True)
class Attack:
    name: str
    token: str
    how: str
    legit: bool = False     # True for the one honest token every validator must accept


def attacks(signer: Signer, *, audience: str, now: float, subject: str = "alice") -> list[Attack]:
    """The honest token and seven forgeries of it, each one mistake an attacker exploits."""
    claims = {"iss": signer.issuer, "sub": subject, "aud": audience, "iat": int(now), "exp": int(now) + 300,
              "role": "customer"}
    good = signer.sign(claims)
    head, _, sig = good.split(".")
    admin = {**claims, "role": "admin"}
    # RS/HS confusion: HMAC over the forged token, keyed with the *public* key everybody can fetch
    conf_head = {"alg": "HS256", "typ": "JWT", "kid": signer.rsa_kid}
    unsigned = encode_unsigned(conf_head, admin)
    conf_input = unsigned.rsplit(".", 1)[0].encode()
    confusion = unsigned + b64url_encode(_hs256(signer.public_pem, conf_input))   # unsigned ends with "."
    # an attacker's own key, announced in the header (unknown kid + embedded jwk)
    mallory = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    own = jwt.encode(admin, mallory, algorithm="RS256",
                     headers={"kid": "mallory-1", "jwk": public_jwk(mallory.public_key(), "mallory-1")})
    return [
        Attack("honest token", good, "signed by the issuer, every claim right", legit=True),
        Attack("alg: none", encode_unsigned({"alg": "none", "typ": "JWT", "kid": signer.rsa_kid}, admin),
               "header says alg none, no signature (RFC 7518 §3.6)"),
        Attack("RS/HS confusion", confusion,
               "alg HS256, HMAC keyed with the issuer's PUBLIC key (RFC 8725 §2.1)"),
        Attack("tampered payload", f"{head}.{b64url_encode(json.dumps(admin).encode())}.{sig}",
               "role changed to admin, original signature kept"),
        Attack("expired", signer.sign({**claims, "iat": int(now) - 3600, "exp": int(now) - 60}),
               "validly signed, exp one minute ago"),
        Attack("wrong aud", signer.sign({**claims, "aud": "another-api"}),
               "validly signed for a different API"),
        Attack("wrong iss", signer.sign({**claims, "iss": "https://evil.example"}),
               "validly signed, but claims another issuer"),
        Attack("unknown kid + own key", own, "signed with the attacker's key, shipped in the header's jwk"),
    ]


def attack_table(validators: Mapping[str, Callable[..., dict]], cases: list[Attack], keys: Mapping[str, Mapping],
                 *, audience: str, issuer: str, now: float) -> list[dict]:
    """One row per token: did each validator accept it (and with which role)?"""
    rows = []
    for case in cases:
        row = {"token": case.name, "how": case.how}
        for name, fn in validators.items():
            try:
                claims = fn(case.token, keys, audience=audience, issuer=issuer, now=now)
                row[name] = f"ACCEPTED (role={claims.get('role')})"
            except Exception as exc:  # noqa: BLE001 - a validator's rejection is any exception
                row[name] = f"rejected: {str(exc)[:60]}"
        rows.append(row)
    return rows
