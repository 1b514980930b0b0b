"""Does the loopback OAuth 2 / OIDC lab run the code + PKCE flow for real, and fail the attacks it should?"""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from course_tools.clock import VirtualClock
from course_tools.net.oauth import OAuthLab, Trace, id_token_checks, new_verifier, redirect_uri_allowed, s256
from course_tools.net.wire import send

pytestmark = pytest.mark.network
T0 = 1_800_000_000


def test_s256_matches_rfc7636_appendix_b():
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    v = new_verifier()
    assert len(v) == 43 and v != new_verifier()


def test_the_flow_logs_in_and_calls_the_api_and_is_traced_in_order():
    with OAuthLab(clock=VirtualClock(T0)) as lab:
        result = lab.run_flow()
        assert result["status"] == "logged in" and result["user"] == "alice" and result["api_status"] == 200
        assert all(ok for _, ok, _ in result["checks"])
        labels = [(m.frm, m.to) for m in lab.trace.messages if not m.response]
        assert labels == [("browser", "client"), ("browser", "auth server"), ("browser", "client"),
                          ("client", "auth server"), ("client", "auth server"), ("client", "auth server"),
                          ("client", "resource server")]
        token_msg = next(m for m in lab.trace.messages if m.label.startswith("POST /token"))
        assert "code_verifier" in token_msg.label
        disc = json.loads(send(lab.auth.url, "GET", "/.well-known/openid-configuration").body)
        assert disc["issuer"] == lab.auth.url and disc["jwks_uri"] == lab.auth.url + "/jwks"


@pytest.mark.parametrize("use_pkce,attacker_status,client_status", [(False, 200, "token request refused"),
                                                                     (True, 400, "logged in")])
def test_a_stolen_code(use_pkce, attacker_status, client_status):
    """Without PKCE the thief redeems the code first; with PKCE the thief gets invalid_grant."""
    with OAuthLab(clock=VirtualClock(T0), use_pkce=use_pkce) as lab:
        seen = {}

        def steal(loc):
            code = parse_qs(urlsplit(loc).query).get("code")
            if code:
                seen["r"] = lab.redeem(code[0])
        result = lab.run_flow(on_redirect=steal)
        assert seen["r"][0] == attacker_status and result["status"] == client_status


def test_pkce_required_refuses_a_request_without_challenge():
    with OAuthLab(clock=VirtualClock(T0), use_pkce=False, require_pkce=True) as lab:
        result = lab.run_flow()
        assert result["browser_status"] == 400 and result["error"] == "invalid_request"


def test_codes_are_single_use_and_expire_on_the_clock():
    clock = VirtualClock(T0)
    with OAuthLab(clock=clock, use_pkce=False) as lab:
        codes = []
        lab.run_flow(on_redirect=lambda loc: codes.extend(parse_qs(urlsplit(loc).query).get("code", [])))
        assert lab.redeem(codes[0])[1]["error"] == "invalid_grant"           # the client already used it
        lab.auth.code_ttl = 60
        codes.clear()
        lab.trace.browse(lab.client.url + "/login",
                         on_redirect=lambda loc: (codes.extend(parse_qs(urlsplit(loc).query).get("code", [])),
                                                  clock.advance(60) if parse_qs(urlsplit(loc).query).get("code") else None))
        assert lab.client.results[-1]["error"] == "invalid_grant"             # 60 s later: expired


def test_redirect_uris_match_exactly_and_a_mismatch_is_not_redirected():
    reg = ["https://a.example/cb"]
    assert redirect_uri_allowed(reg, "https://a.example/cb")
    assert not redirect_uri_allowed(reg, "https://a.example/cb.evil")
    assert redirect_uri_allowed(reg, "https://a.example/cb.evil", "prefix")
    with OAuthLab(clock=VirtualClock(T0)) as lab:
        r = send(lab.auth.url, "GET", "/authorize?response_type=code&client_id=photo-printer&state=s&redirect_uri="
                 + lab.client.redirect_uri + ".evil")
        assert r.status == 400 and r.header("Location") is None


def test_id_token_checks_catch_aud_nonce_and_expiry():
    clock = VirtualClock(T0)
    with OAuthLab(clock=clock) as lab:
        lab.run_flow()
        disc = lab.auth.discovery()
        jwks = lab.auth.signer.jwks()
        good = {"iss": lab.auth.issuer, "sub": "alice", "aud": "photo-printer", "iat": T0, "exp": T0 + 300, "nonce": "n"}
        failed = lambda c, nonce="n": {s for s, ok, _ in id_token_checks(lab.auth.signer.sign(c), discovery=disc,  # noqa: E731
                                                                        jwks=jwks, client_id="photo-printer", nonce=nonce, now=clock())
                                       if not ok}
        assert failed(good) == set()
        aud_step = "aud lists our client_id, no untrusted party"
        assert failed({**good, "aud": "other"}) == {aud_step}
        assert failed({**good, "aud": ["photo-printer", "other"]}) == {aud_step}     # OIDC Core §3.1.3.7
        assert failed({**good, "aud": ["photo-printer"]}) == set()
        assert failed(good, nonce="m") == {"nonce equals the one we sent"}
        assert failed({**good, "exp": T0}) == {"exp is in the future"}
        hs = lab.auth.signer.sign(good, alg="HS256")
        assert not all(ok for _, ok, _ in id_token_checks(hs, discovery=disc, jwks=jwks, client_id="photo-printer",
                                                          nonce="n", now=clock()))


def test_resource_server_distinguishes_401_and_403():
    with OAuthLab(clock=VirtualClock(T0)) as lab:
        assert send(lab.api.url, "GET", "/photos").status == 401
        no_scope = lab.auth.signer.sign({"iss": lab.auth.issuer, "sub": "alice", "aud": "photos-api",
                                         "exp": T0 + 60, "scope": "openid"})
        r = send(lab.api.url, "GET", "/photos", headers={"Authorization": "Bearer " + no_scope})
        assert r.status == 403 and "insufficient_scope" in r.header("WWW-Authenticate")


def test_pkce_downgrade_is_refused():
    """RFC 9700 §2.1.1: a token request with a code_verifier is accepted only if the authorization request
    carried a code_challenge."""
    with OAuthLab(clock=VirtualClock(T0), use_pkce=False) as lab:
        codes = []

        def grab(loc):
            codes.extend(parse_qs(urlsplit(loc).query).get("code", []))
            if codes:
                status, body = lab.redeem(codes[0], code_verifier=new_verifier())
                assert (status, body["error"]) == (400, "invalid_grant")
        result = lab.run_flow(on_redirect=grab)
        assert codes and result["status"] == "logged in"     # the refused attempt did not burn the code


def test_a_callback_with_a_state_another_browser_started_is_refused():
    """Login CSRF (RFC 6749 §10.12): the attacker starts a login in their own browser, stops before the
    callback and makes the victim's browser open it. The state is genuine, but it was bound to the
    attacker's browser by a cookie, so the client refuses it and logs nobody in."""
    with OAuthLab(clock=VirtualClock(T0)) as lab:
        attacker = Trace()
        attacker.names = lab.trace.names
        caught = []
        with pytest.raises(RuntimeError, match="too many redirects"):
            attacker.browse(lab.client.url + "/login", max_hops=2,
                            on_redirect=lambda loc: caught.append(loc) if "code=" in loc else None)
        (callback,) = caught
        r = lab.trace.browse(callback)                                  # the victim's browser
        assert r.status == 400 and "this browser" in json.loads(r.body)["error"]
        assert lab.client.results == []
        assert attacker.browse(callback).status == 200                  # the browser that started it may finish it
