"""Do the Architecture assessment's checks pass a correct answer and fail each plausible wrong one, in-process?

(The end-to-end version, through `course autograde`, is test_autograde_architecture.py.)
"""

from __future__ import annotations

import math

import pytest

from course_tools.grading.checks import AnswerError
from course_tools.grading.reference import architecture as ref
from course_tools.net import asgi
from course_tools.net.webtypes import WebResponse


class Processor:
    shared: dict = {}

    def __init__(self, shared=False):
        self.methods_ = Processor.shared if shared else {}

    def register(self, name, method):
        self.methods_[name] = method

    def methods(self):
        return sorted(self.methods_)

    def checkout(self, name, amount, currency):
        if type(amount) is not int or amount <= 0 or type(currency) is not str or len(currency) != 3 \
                or not (currency.isalpha() and currency.isupper()) or name not in self.methods_:
            raise ValueError(name)
        return self.methods_[name].pay(amount, currency)


class Card:
    def pay(self, a, c):
        return {"method": "card", "charged_cents": a, "fee_cents": 30 + a * 29 // 1000, "currency": c}


class Invoice:
    def pay(self, a, c):
        return {"method": "invoice", "charged_cents": 0, "due_cents": a, "due_days": 30, "currency": c}


def make(shared=False, cls=Processor):
    p = cls(shared)
    p.register("card", Card())
    p.register("invoice", Invoice())
    return p


class IfElif(Processor):
    def checkout(self, name, amount, currency):
        super().checkout("card", amount, currency)     # validation only
        if name == "card":
            return Card().pay(amount, currency)
        elif name == "invoice":
            return Invoice().pay(amount, currency)
        raise ValueError(name)


def test_payment_checks_pass_a_strategy_registry():
    """The reference answer's shape passes every payment check."""
    for check in (ref.check_builtin_methods, ref.check_new_method, ref.check_isolation, ref.check_validation):
        check(make, question=6)


def test_if_elif_chain_fails_only_the_new_method_check():
    """A chain over known names cannot use a method registered at grading time."""
    with pytest.raises(AnswerError, match="Question 6"):
        ref.check_new_method(lambda: make(cls=IfElif), question=6)
    ref.check_builtin_methods(lambda: make(cls=IfElif), question=6)


def test_class_level_registry_fails_isolation():
    """A registry shared between processors leaks registrations."""
    Processor.shared.clear()
    with pytest.raises(AnswerError):
        ref.check_isolation(lambda: make(shared=True), question=6)
    Processor.shared.clear()


def _pipeline(order):
    def build(clock, verify):
        made = {"rid": asgi.request_id(), "err": asgi.errors(), "tim": asgi.timing(clock),
                "auth": asgi.auth(verify)}
        return [made[n] for n in order]
    return build


@pytest.mark.network
@pytest.mark.parametrize("order, failing", [
    (["rid", "err", "tim", "auth"], set()),
    (["rid", "tim", "err", "auth"], set()),
    (["tim", "rid", "err", "auth"], set()),
    (["err", "rid", "tim", "auth"], {"check_request_id"}),
    (["rid", "err", "auth", "tim"], {"check_timing"}),
    (["rid", "tim", "auth", "err"], {"check_errors"}),
    (["auth", "tim", "rid", "err"], {"check_request_id", "check_errors", "check_timing"}),
])
def test_middleware_checks_observe_the_order_over_http(order, failing):
    """Each order fails exactly the requirements its layering breaks."""
    assert _failed_checks(_pipeline(order)) == failing


def _failed_checks(build) -> set:
    failed = set()
    for name in ("check_auth", "check_request_id", "check_errors", "check_timing"):
        try:
            getattr(ref, name)(build, question=7)
        except AnswerError:
            failed.add(name)
    return failed


@pytest.mark.network
@pytest.mark.slow
def test_every_order_the_prompt_allows_passes_and_no_other():
    """All 24 orders of the four layers: the task's prompt allows exactly those with request_id outside errors
    and auth, errors outside auth, timing outside auth; each other order fails exactly the checks of the
    requirements its layering breaks."""
    import itertools

    for order in itertools.permutations(["rid", "err", "tim", "auth"]):
        at = order.index
        expected = set()
        if not (at("rid") < at("auth") and at("rid") < at("err")):
            expected.add("check_request_id")     # a 401 or a JSON 500 made inside it carries no id
        if not at("err") < at("auth"):
            expected.add("check_errors")         # the token check's exception escapes the error layer
        if not at("tim") < at("auth"):
            expected.add("check_timing")         # no timing on a 401, or the token check not timed
        assert _failed_checks(_pipeline(order)) == expected, order


def _with_layer(name, replacement):
    def build(clock, verify):
        made = {"rid": asgi.request_id(), "err": asgi.errors(), "tim": asgi.timing(clock), "auth": asgi.auth(verify)}
        made[name] = replacement(clock, verify)
        return [made[n] for n in ("rid", "err", "tim", "auth")]
    return build


def _bare_challenge(clock, verify):
    def auth(req, call_next):
        scheme, _, token = (req.header("authorization") or "").partition(" ")
        user = verify(token) if req.path.startswith("/api/") and scheme == "Bearer" and token else None
        if req.path.startswith("/api/") and not user:
            return WebResponse.json(401, {"error": "unauthorized"}, (("www-authenticate", "Bearer"),))
        return call_next(req.with_header("x-user", user) if user else req)
    return auth


def _whole_milliseconds(clock, verify):
    def timing(req, call_next):
        start = clock()
        resp = call_next(req)
        return resp.with_header("server-timing", f"app;dur={int((clock() - start) * 1000)}")
    return timing


@pytest.mark.network
def test_a_challenge_without_parameters_fails_only_the_auth_check():
    """RFC 6750 §3: the Bearer scheme MUST be followed by at least one auth-param; a bare `Bearer` loses the auth cell."""
    assert _failed_checks(_with_layer("auth", _bare_challenge)) == {"check_auth"}


@pytest.mark.network
def test_a_duration_truncated_to_whole_milliseconds_is_accepted():
    """`dur` in whole milliseconds (13.999... truncated to 13) is a right answer the prompt allows."""
    assert _failed_checks(_with_layer("tim", _whole_milliseconds)) == set()


class Trial:
    def __init__(self, repo, clock, trial_days=14, floor=False):
        self.repo, self.clock, self.days, self.floor = repo, clock, trial_days, floor

    def start_trial(self, user):
        if self.repo.get(user) is not None:
            raise ValueError(user)
        now = self.clock()
        rec = {"user": user, "plan": "trial", "started_at": now, "ends_at": now + self.days * 86400}
        self.repo.put(user, rec)
        return rec

    def is_active(self, user):
        rec = self.repo.get(user)
        return rec is not None and self.clock() < rec["ends_at"]

    def days_left(self, user):
        rec = self.repo.get(user)
        if rec is None:
            return 0
        f = math.floor if self.floor else math.ceil
        return max(0, f((rec["ends_at"] - self.clock()) / 86400))


def test_trial_checks_pass_an_injected_service_and_fail_wrong_ones():
    """Correct: all pass. Reads time.time(): fails. Rounds down: fails the boundary check."""
    import time

    for check in (ref.check_trial_basics, ref.check_trial_injected, ref.check_trial_boundary):
        check(Trial, question=8)
    with pytest.raises(AnswerError):
        ref.check_trial_injected(lambda repo, clock, trial_days=14: Trial(repo, time.time, trial_days), question=8)
    with pytest.raises(AnswerError):
        ref.check_trial_boundary(lambda repo, clock, trial_days=14: Trial(repo, clock, trial_days, floor=True),
                                 question=8)
