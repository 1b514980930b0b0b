"""Checks for the Messaging assessment (06_messaging), run by the deterministic simulators.

The learner's functions are called only with test-owned fakes (a queue, a store, an outbox,
a broker, a handler) whose methods take and return plain data, and a crash is the course
exception :class:`~course_tools.sim.broker_errors.ConsumerCrash` raised by a fake just before the
chosen call. Every check explores *every* crash point (and, for the consumer, every position
where a redelivered message can re-enter the queue, and every extra delivery an at-least-once
queue may make), so a grade never depends on luck or timing. Each run starts from a fresh
world with the same message ids, so a consumer that remembers ids in its own memory instead
of in the store is caught.

Visible checks (``show=True``) print the failing run; hidden checks name the kind of
problem only, never their messages or data. Each ``check_*`` returns ``None`` (a number as the
last value of a test cell would be read by nbgrader as partial credit).

The reference solutions at the bottom are what the instructor's source notebook uses.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Mapping, Sequence

from course_tools.grading.checks import fail as _fail, time_limit as _time_limit
from course_tools.sim.delivery import (
    DONE, STEP_LIMIT, UNACKED, ConsumerCrash, ProcessingError, SimQueue, Store, explore_crashes, run_consumer, run_with_dlq,
    with_dead_letters,
)
from course_tools.sim.outbox import Crashes, ListOutbox, LogBroker, PublishError, check_log

__all__ = ["time_limit", "payment_messages", "check_consumer", "check_relay", "check_dead_letter",
           "hidden_failures", "reference_consume_one", "reference_relay", "reference_consume_with_dlq"]


def time_limit(seconds: float, question: object = "?"):
    return _time_limit(seconds, question, advice="does your function loop forever, or wait for something?")


def _callable(fn: object, name: str, question: object) -> None:
    if fn is None or fn is ... or not callable(fn):
        _fail(question, f"define the function `{name}` first.")


# --------------------------------------------------------------------------------------
# Task: an idempotent consumer
# --------------------------------------------------------------------------------------
def payment_messages(amounts: Sequence[tuple[str, int]], prefix: str = "m") -> list[dict]:
    """``[{"id": "m1", "account": "alice", "amount": 10}, ...]``"""
    return [{"id": f"{prefix}{i + 1}", "account": acct, "amount": amount} for i, (acct, amount) in enumerate(amounts)]


def _expected_balances(messages: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    want: Counter[str] = Counter()
    for m in messages:
        want["balance:" + m["account"]] += m["amount"]
    return dict(want)


def check_consumer(consume_one: Any, messages: Sequence[Mapping[str, Any]], *, crashes: bool = True,
                   duplicates: bool = True, question: object = "?", show: bool = False, seconds: float = 30.0) -> None:
    """Under every crash point × redelivery position (and every extra delivery), the final
    balances must be exactly the sum of the amounts, and every message acknowledged."""
    _callable(consume_one, "consume_one", question)
    want = _expected_balances(messages)

    def guarded(queue: SimQueue, store: Store) -> Any:
        try:
            result = consume_one(queue, store)
        except ConsumerCrash:
            raise
        except Exception as exc:   # noqa: BLE001 - a learner's bug costs this question only
            _fail(question, f"`consume_one` raised {type(exc).__name__}: {exc}" if show else
                  f"`consume_one` raised {type(exc).__name__} in one of the hidden runs.")
        if type(result) is not bool:
            _fail(question, f"`consume_one` must return True (it handled a message) or False (the queue was empty), "
                            f"not {type(result).__name__}.")
        return result

    with time_limit(seconds, question):
        if crashes:
            report = explore_crashes(guarded, messages, positions=True, duplicates=duplicates, name="consume_one")
            outcomes = report.outcomes
        else:
            outcomes = [run_consumer(guarded, messages)] + (
                [run_consumer(guarded, messages, duplicate=(m["id"], len(messages))) for m in messages]
                if duplicates else [])
    for o in outcomes:
        balances = {k: v for k, v in o.store.items() if k.startswith("balance:")}
        problem = None
        if o.status == STEP_LIMIT:
            problem = "the consumer kept running without draining the queue (return False when receive() gives None)"
        elif o.status == UNACKED:
            problem = "a message was never acknowledged, so the queue delivered it again and again"
        elif balances != want:
            low = [k for k in want if balances.get(k, 0) < want[k]]
            problem = ("an effect was LOST: a balance ended lower than the sum of its payments" if low else
                       "an effect was applied TWICE: a balance ended higher than the sum of its payments")
        if problem:
            if show:
                problem += (f". Run: {o.text()}. Balances {balances}, expected {want}. "
                            f"Calls: {list(o.calls)}")
            else:
                problem += " (in one of the crash points or redelivery orders the hidden test explores)"
            _fail(question, problem + ".", hint="ack only after the effect is durable, and make the effect and "
                                                "the record that the message was handled one atomic write")


# --------------------------------------------------------------------------------------
# Task: an outbox relay
# --------------------------------------------------------------------------------------
def _relay_run(relay: Any, events: Sequence[tuple[Any, Any]], crashes: Crashes, question: object,
               show: bool) -> tuple[ListOutbox, LogBroker, str | None]:
    outbox, broker = ListOutbox(events, crashes), LogBroker(crashes)
    problem = None
    for _ in range(3 * len(events) + 6):
        try:
            relay(outbox, broker)
            if crashes.dead:              # it caught its own crash and returned: a crash all the same
                raise ConsumerCrash("caught, but the process is dead all the same")
        except (ConsumerCrash, PublishError):
            crashes.restart()             # the relay process restarts / the next round retries
        except Exception as exc:  # noqa: BLE001
            _fail(question, f"`relay` raised {type(exc).__name__}: {exc}" if show else
                  f"`relay` raised {type(exc).__name__} in one of the hidden runs.")
        if not outbox.unsent():
            break
    else:
        problem = "events stayed in the outbox unsent after many relay rounds (mark each one sent after publishing it)"
    return outbox, broker, problem


def check_relay(relay: Any, events: Sequence[tuple[Any, Any]], *, crashes: bool = True, failures: bool = True,
                question: object = "?", show: bool = False, seconds: float = 30.0) -> None:
    """Every crash point of one relay pass, and a refused publish at every publish, must end
    with every event on the broker, first publications in outbox order, payloads intact."""
    _callable(relay, "relay", question)
    expected = [eid for eid, _ in events]
    payloads = dict(events)
    with time_limit(seconds, question):
        clean = Crashes()
        _relay_run(relay, events, clean, question, show)
        n_points = len(clean.calls)
        n_publish = clean.publishes
        setups = [Crashes()]
        if crashes:
            setups += [Crashes(crash_before=k) for k in range(n_points)]
        if failures:
            setups += [Crashes(fail_publish={j}) for j in range(max(n_publish, len(events)))]
            setups += [Crashes(fail_publish={j, j + 1}) for j in range(max(n_publish, len(events)) - 1)]
        for setup in setups:
            _, broker, problem = _relay_run(relay, events, setup, question, show)
            verdict = check_log(broker.log, expected)
            if problem is None and verdict["lost"]:
                problem = "an event was LOST: it was marked sent but never reached the broker"
            elif problem is None and verdict["reordered"]:
                problem = "events were REORDERED: one reached the broker before an older event"
            elif problem is None and any(payloads.get(eid) != p for eid, p in broker.log):
                problem = "an event was published with the wrong payload or an unknown id"
            if problem:
                what = ("a crash" if setup.crash_before is not None else
                        "a refused publish" if setup.fail_publish else "a run without crashes")
                if show:
                    problem += f" (after {what}; broker log {broker.log}; calls {setup.calls})"
                else:
                    problem += f" (after {what} in one of the runs the hidden test explores)"
                _fail(question, problem + ".", hint="publish first, mark sent after; stop at the first failure")


# --------------------------------------------------------------------------------------
# Task: a dead-letter rule
# --------------------------------------------------------------------------------------
def hidden_failures(seed: int, n: int = 8, max_deliveries: int = 3) -> dict[str, int | None]:
    """A seeded stream: failure counts around the boundary (0, N-1, N, N+1) and poison ones."""
    rng = random.Random(seed)
    choices = [0, 1, max_deliveries - 1, max_deliveries, max_deliveries + 1, None]
    out = {f"msg-{seed}-{i}": rng.choice(choices) for i in range(n)}
    out[f"msg-{seed}-edge"] = max_deliveries - 1          # must succeed on its last allowed delivery
    out[f"msg-{seed}-poison"] = None
    return out


def check_dead_letter(consume_with_dlq: Any, failures: Mapping[str, int | None], max_deliveries: int, *,
                      question: object = "?", show: bool = False, seconds: float = 20.0) -> None:
    """Each message must end acked (if it succeeds within ``max_deliveries`` deliveries) or
    dead-lettered after exactly ``max_deliveries`` deliveries."""
    _callable(consume_with_dlq, "consume_with_dlq", question)

    def guarded(queue, handler, n):
        try:
            result = consume_with_dlq(queue, handler, n)
        except ProcessingError:
            _fail(question, "a ProcessingError escaped `consume_with_dlq`: catch it and decide retry or dead-letter.")
        except Exception as exc:  # noqa: BLE001
            _fail(question, f"`consume_with_dlq` raised {type(exc).__name__}" + (f": {exc}" if show else ""))
        if type(result) is not bool:
            _fail(question, "`consume_with_dlq` must return True or False (False when the queue was empty).")
        return result

    with time_limit(seconds, question):
        outcome = run_with_dlq(guarded, failures, max_deliveries)
    want = outcome.expected(failures, max_deliveries)
    got = outcome.actual()
    if outcome.status != DONE or got != want:
        bad = [m for m in failures if got.get(m) != want[m]]
        kinds = set()
        for m in bad:
            (wf, wn), (gf, gn) = want[m], got.get(m, ("never delivered", 0))
            if gf == "neither":
                kinds.add("a failing message was neither acknowledged nor dead-lettered (retried without end?)")
            elif wf == "acked" and gf == "dead-letter":
                kinds.add("a message that would have succeeded on a later delivery was dead-lettered too early")
            elif wf == "dead-letter" and gf == "acked":
                kinds.add("a message that had already failed max_deliveries times was delivered again instead of "
                          "being dead-lettered")
            elif gn != wn:
                kinds.add(f"a message was delivered {'more' if gn > wn else 'fewer'} times than the rule allows")
        detail = "; ".join(sorted(kinds)) or "the messages did not end where the rule puts them"
        if show:
            detail += f". Expected (fate, deliveries) {want}, got {got}"
        _fail(question, detail + ".", hint="`msg['receive_count']` counts this delivery too; dead-letter on the "
                                           "max_deliveries-th failed delivery, requeue before it")


# --------------------------------------------------------------------------------------
# Reference solutions (the instructor's answers)
# --------------------------------------------------------------------------------------
def reference_consume_one(queue, store) -> bool:
    msg = queue.receive()
    if msg is None:
        return False
    done_key = "seen:" + msg["id"]
    if not store.get(done_key):
        key = "balance:" + msg["account"]
        store.put_many({key: (store.get(key) or 0) + msg["amount"], done_key: True})
    queue.ack(msg["receipt"])
    return True


def reference_relay(outbox, broker) -> None:
    for event_id, payload in outbox.pending():
        broker.publish(event_id, payload)
        outbox.mark_sent(event_id)


# The dead-letter rule: the simulator's own rule is the reference (course_tools.sim.delivery).
reference_consume_with_dlq = with_dead_letters
