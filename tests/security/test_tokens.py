"""Does the JWT toolkit validate like RFC 8725 asks, and does the naive validator really fall for the attacks?"""

import json

import jwt
import pytest

from course_tools.security import tokens

AUD, NOW = "orders-api", 1_800_000_000


@pytest.fixture(scope="module")
def signer():
    return tokens.make_signer("https://issuer.test")


def claims(signer, **over):
    c = {"iss": signer.issuer, "sub": "alice", "aud": AUD, "iat": NOW, "exp": NOW + 300}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def check(signer, token, now=NOW, leeway=0):
    return tokens.validate(token, signer.verification_keys, audience=AUD, issuer=signer.issuer, now=now, leeway=leeway)


def test_an_honest_token_round_trips_with_both_algorithms(signer):
    """Are RS256 and HS256 tokens from the issuer accepted with exactly their claims?"""
    for alg in ("RS256", "HS256"):
        assert check(signer, signer.sign(claims(signer), alg=alg)) == claims(signer)


def test_every_attack_fools_the_naive_validator_somewhere_and_never_the_correct_one(signer):
    """The lesson's table: the correct validator rejects every forgery, the naive one grants admin to three."""
    cases = tokens.attacks(signer, audience=AUD, now=NOW)
    rows = tokens.attack_table({"naive": tokens.naive_validate, "correct": tokens.validate}, cases,
                               signer.verification_keys, audience=AUD, issuer=signer.issuer, now=NOW)
    by_name = {r["token"]: r for r in rows}
    assert by_name["honest token"]["correct"].startswith("ACCEPTED")
    assert all(r["correct"].startswith("rejected") for r in rows if r["token"] != "honest token")
    admin = {r["token"] for r in rows if r["naive"] == "ACCEPTED (role=admin)"}
    assert admin == {"alg: none", "RS/HS confusion", "unknown kid + own key"}
    assert by_name["tampered payload"]["naive"].startswith("rejected")   # the signature is still checked
    for name in ("expired", "wrong aud", "wrong iss"):
        assert by_name[name]["naive"].startswith("ACCEPTED")


def test_pyjwt_itself_refuses_a_pem_key_as_hmac_secret(signer):
    """Why the naive validator hand-rolls HMAC: the library guards against RS/HS confusion."""
    forged = next(a for a in tokens.attacks(signer, audience=AUD, now=NOW) if a.name == "RS/HS confusion")
    with pytest.raises(jwt.InvalidKeyError):
        jwt.decode(forged.token, signer.public_pem, algorithms=["HS256", "RS256"])


@pytest.mark.parametrize("now,leeway,ok", [(NOW + 299, 0, True), (NOW + 300, 0, False), (NOW + 304, 5, True),
                                           (NOW + 305, 5, False)])
def test_exp_is_exclusive_and_leeway_extends_it(signer, now, ok, leeway):
    """RFC 7519 §4.1.4: not accepted on or after exp (+ leeway)."""
    token = signer.sign(claims(signer))
    if ok:
        check(signer, token, now, leeway)
    else:
        with pytest.raises(tokens.InvalidToken, match="expired"):
            check(signer, token, now, leeway)


def test_nbf_aud_list_and_crit(signer):
    """nbf is inclusive, an aud list must contain ours, and any crit header is refused."""
    check(signer, signer.sign(claims(signer, nbf=NOW)))
    with pytest.raises(tokens.InvalidToken):
        check(signer, signer.sign(claims(signer, nbf=NOW + 1)))
    check(signer, signer.sign(claims(signer, nbf=NOW + 3)), leeway=3)
    check(signer, signer.sign(claims(signer, aud=["x", AUD])))
    with pytest.raises(tokens.InvalidToken, match="audience"):
        check(signer, signer.sign(claims(signer, aud=["x", AUD + "-v2"])))
    with pytest.raises(tokens.InvalidToken, match="crit"):
        check(signer, signer.sign(claims(signer), headers={"crit": ["x-ext"], "x-ext": 1}))
    with pytest.raises(tokens.InvalidToken, match="exp"):
        check(signer, signer.sign(claims(signer, exp=None)))


@pytest.mark.parametrize("mangle", [lambda t: t + ".e30", lambda t: t.rsplit(".", 1)[0],
                                    lambda t: t + "==", lambda t: t.replace("-", "+").replace("_", "/") + "+/",
                                    lambda t: ""])
def test_malformed_compact_forms_are_rejected(signer, mangle):
    """Strict base64url and exactly three segments (RFC 7515 §2, §7.1)."""
    with pytest.raises(tokens.InvalidToken):
        check(signer, mangle(signer.sign(claims(signer))))


def test_split_token_reads_a_token_without_any_key(signer):
    """Signed is not encrypted: the payload is readable by anyone."""
    header, payload, sig = tokens.split_token(signer.sign(claims(signer, role="customer")))
    assert header["alg"] == "RS256" and payload["role"] == "customer" and len(sig) == 256


def test_jwks_publishes_only_the_public_key(signer):
    """The JWK Set carries n and e, never the private exponent d."""
    (key,) = signer.jwks()["keys"]
    assert key["kid"] == signer.rsa_kid and key["kty"] == "RSA" and "d" not in key
    json.dumps(key)


def test_redact_never_shows_the_whole_secret():
    s = "a" * 40
    assert s not in tokens.redact(s) and "40 chars" in tokens.redact(s)


@pytest.mark.parametrize("over,why", [
    ({"exp": float("inf")}, "finite"), ({"nbf": float("nan")}, "finite"), ({"iat": "yesterday"}, "finite"),
    ({"exp": True}, "finite"), ({"iat": NOW + 6}, "iat"),
])
def test_numeric_dates_must_be_finite_numbers_and_iat_not_in_the_future(signer, over, why):
    """A NumericDate is a number (RFC 7519 §2); Python's json reads NaN/Infinity, which would disable the
    exp or nbf comparison; an iat after now + leeway is refused (as PyJWT does)."""
    with pytest.raises(tokens.InvalidToken, match=why):
        check(signer, signer.sign(claims(signer, **over)), leeway=5)
    check(signer, signer.sign(claims(signer, iat=NOW + 5)), leeway=5)          # within the leeway


def test_a_trailing_newline_is_refused_by_the_alphabet_check():
    """Is "abc\\n" refused by the alphabet rule itself (a regex ending in "$" matches before a trailing
    newline, leaving only the padding arithmetic to refuse it)?"""
    with pytest.raises(tokens.InvalidToken, match="URL-safe alphabet"):
        tokens.b64url_decode("abc\n")
