"""Do the Architecture assessment's checks pass a correct answer and fail each plausible wrong one, in-process?

(The end-to-end version, through `course autograde`, is test_autograde_architecture.py.)
"""

from __future__ import annotations

import math

import pytest

from course_tools.grading.checks import AnswerError
from course_tools.grading.reference import architecture as ref
from course_tools.net import asgi


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
    (["err", "rid", "tim", "auth"], {"check_request_id"}),
    (["rid", "err", "auth", "tim"], {"check_timing"}),
    (["auth", "tim", "rid", "err"], {"check_request_id", "check_errors", "check_timing"}),
])
def test_middleware_checks_observe_the_order_over_http(order, failing):
    """Each order fails exactly the requirements its layering breaks."""
    failed = set()
    for name in ("check_auth", "check_request_id", "check_errors", "check_timing"):
        try:
            getattr(ref, name)(_pipeline(order), question=7)
        except AnswerError:
            failed.add(name)
    assert failed == failing


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
