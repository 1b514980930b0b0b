"""Do the HTTP assessment's checks (01_http, Parts C and D) catch the mistakes learners make?

Each probe accepts the reference and rejects one specific wrong answer: for Part C the old
over-strict reading (never retry POST/PATCH, even after a 429) and a naive client that retries
every method after every failure; for Part D an ETag made from the body's length.
"""

import hashlib
import time

import pytest

from course_tools.grading.checks import AnswerError
from course_tools.grading.reference.http import (
    IDEMPOTENT, check_etag_tracks_bytes, check_non_idempotent_policy, compare_conditional_handler,
    compare_retry_client, make_conditional_handler, request_with_retries, run_retry_client,
)
from course_tools.net.http import Response
from course_tools.net.wire import send

pytestmark = pytest.mark.network


def _client(retry_lost_non_idempotent: bool, retry_answers_non_idempotent: bool):
    def client(base_url, method, path, *, body=b"", max_attempts=4, base_delay=0.5, sleep=time.sleep):
        attempt = 1
        while True:
            try:
                resp = send(base_url, method, path, body=body)
            except ConnectionError:
                if (method not in IDEMPOTENT and not retry_lost_non_idempotent) or attempt >= max_attempts:
                    raise
                delay = base_delay * 2 ** (attempt - 1)
            else:
                may = method in IDEMPOTENT or retry_answers_non_idempotent
                if resp.status not in (429, 503) or not may or attempt >= max_attempts:
                    return resp
                after = (resp.header("Retry-After") or "").strip()
                delay = int(after) if after.isdigit() else base_delay * 2 ** (attempt - 1)
            sleep(delay)
            attempt += 1
    return client


over_strict = _client(retry_lost_non_idempotent=False, retry_answers_non_idempotent=False)
always_retry = _client(retry_lost_non_idempotent=True, retry_answers_non_idempotent=True)


def test_the_reference_passes_every_part_c_check():
    check_non_idempotent_policy(request_with_retries, question=17)
    compare_retry_client(request_with_retries, seed=2101, n=14, question=18)
    assert run_retry_client(request_with_retries, "POST", [(429, 2)]) == (201, [2.0], 2, 1)


def test_the_old_over_strict_reading_loses_the_points():
    """Never retrying POST/PATCH, even after a 429, is not the stated policy: visible, hidden and
    randomized checks all reject it."""
    assert run_retry_client(over_strict, "POST", [(429, 2)])[:3] == (429, [], 1)   # the visible test fails
    with pytest.raises(AnswerError, match="429"):
        check_non_idempotent_policy(over_strict, question=17)
    with pytest.raises(AnswerError, match="not retried after a 429 or 503"):
        compare_retry_client(over_strict, seed=2101, n=14, question=18)


def test_a_naive_always_retry_client_loses_the_points():
    """Retrying a POST whose response was lost creates a duplicate: hidden and randomized checks reject it."""
    assert run_retry_client(always_retry, "POST", [(429, 2)]) == (201, [2], 2, 1)   # it passes the visible test
    with pytest.raises(AnswerError, match="duplicate"):
        check_non_idempotent_policy(always_retry, question=17)
    with pytest.raises(AnswerError, match="sent again after its response was lost"):
        compare_retry_client(always_retry, seed=2101, n=14, question=18)


def length_etag_handler(documents):
    """The wrong answer of issue 17: an ETag made from the body's length."""
    def handler(request):
        if request.method not in ("GET", "HEAD"):
            return Response(405, {"Allow": "GET, HEAD"})
        body = documents.get(request.path)
        if body is None:
            return Response(404, {}, b"")
        etag = f'"{len(body)}"'
        inm = request.headers.get("If-None-Match")
        if inm is not None and any(t.strip().removeprefix("W/") in (etag, "*") for t in inm.split(",")):
            return Response(304, {"ETag": etag})
        return Response(200, {"ETag": etag}, body)
    return handler


def test_the_reference_handler_passes_the_part_d_checks():
    check_etag_tracks_bytes(make_conditional_handler, question=20)
    compare_conditional_handler(make_conditional_handler, seed=2103, n=5, question=22)


def test_an_etag_from_the_length_loses_the_hidden_and_randomized_points():
    """Regression: a length-based ETag passed every test. Does a same-length change now catch it,
    in the hidden check and in the randomized one?"""
    with pytest.raises(AnswerError, match="same length"):
        check_etag_tracks_bytes(length_etag_handler, question=20)
    with pytest.raises(AnswerError, match="same length"):
        compare_conditional_handler(length_etag_handler, seed=2103, n=5, question=22)


def test_a_content_hash_etag_of_any_spelling_passes():
    def md5_handler(documents):
        inner = make_conditional_handler(documents)

        def handler(request):
            resp = inner(request)
            body = documents.get(request.path)
            if body is not None and resp.status in (200, 304):
                tag = '"' + hashlib.md5(body).hexdigest() + '"'
                inm = request.headers.get("If-None-Match")
                match = inm is not None and any(t.strip().removeprefix("W/") in (tag, "*") for t in inm.split(","))
                return Response(304, {"ETag": tag}) if match else Response(200, {"ETag": tag}, body)
            return resp
        return handler
    check_etag_tracks_bytes(md5_handler, question=20)
    compare_conditional_handler(md5_handler, seed=2103, n=5, question=22)


def test_a_handler_that_copies_the_documents_once_loses_the_points():
    """The documents change between requests (through a test-owned mapping, so the check never
    reaches into the learner's objects): a handler that snapshots them at creation serves stale bytes."""
    def snapshot(documents):
        return make_conditional_handler(dict(documents))
    with pytest.raises(AnswerError, match="no longer match"):
        check_etag_tracks_bytes(snapshot, question=20)


def test_the_in_process_reference_answers_as_the_scripted_server_does():
    """Does the reference half of compare_retry_client, computed in-process with no socket, give what
    the reference client gets from the real scripted server and relay, in the comparison's own
    randomized scenarios (every method, drops, 429/503 with and without Retry-After)?"""
    import random

    from course_tools.grading.reference.http import _random_script, reference_retry_outcome

    rng = random.Random(5)
    for _ in range(60):
        method = rng.choice(["GET", "PUT", "DELETE", "HEAD", "POST", "PATCH"])
        script = _random_script(rng)
        kw = {"max_attempts": rng.choice([1, 2, 3, 4, 6]), "base_delay": rng.choice([0.1, 0.25, 0.5, 1.0])}
        assert reference_retry_outcome(method, script, **kw) == run_retry_client(request_with_retries, method,
                                                                                 script, **kw), (method, script, kw)
