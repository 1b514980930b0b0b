"""Do the API design checks pass the solutions, fail each plausible wrong answer on the right
check, and keep learner SQL inside the one table it may read?"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from course_tools.grading.checks import AnswerError
from course_tools.grading.reference import api_design as R

_spec = importlib.util.spec_from_file_location("api_design_answers", Path(__file__).with_name("api_design_answers.py"))
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)


def _load(src: str, name: str):
    ns: dict = {}
    exec(src, ns)
    return ns[name]


PAGINATION = ["check_page_basics", "check_pagination_ties", "check_pagination_changes", "check_cursor_opaque"]
BUCKET = ["check_bucket_basics", "check_bucket_refill", "compare_bucket_with_reference", "check_bucket_validation"]
IDEM = ["check_idempotency_basics", "check_idempotency_mismatch", "check_idempotency_in_flight",
        "check_idempotency_expiry"]

# answer -> the checks it must FAIL (all others must pass)
CASES = [
    ("PAGE_SOLUTION", "fetch_page", PAGINATION, set()),
    ("PAGE_OFFSET", "fetch_page", PAGINATION, {"check_pagination_changes", "check_cursor_opaque"}),
    ("PAGE_OFFSET_B64", "fetch_page", PAGINATION, {"check_pagination_changes"}),
    ("PAGE_NO_TIEBREAK", "fetch_page", PAGINATION, {"check_page_basics", "check_pagination_ties",
                                                    "check_pagination_changes"}),
    ("BUCKET_SOLUTION", "TokenBucket", BUCKET, set()),
    ("BUCKET_FIXED_WINDOW", "TokenBucket", BUCKET, {"check_bucket_refill", "compare_bucket_with_reference"}),
    ("BUCKET_UNCAPPED", "TokenBucket", BUCKET, {"check_bucket_refill", "compare_bucket_with_reference"}),
    ("BUCKET_COUNTER", "TokenBucket", BUCKET, {"check_bucket_refill", "compare_bucket_with_reference"}),
    ("IDEM_SOLUTION", "handle_payment", IDEM, set()),
    ("IDEM_STORE_AFTER", "handle_payment", IDEM, {"check_idempotency_in_flight"}),
    ("IDEM_GET_THEN_SET", "handle_payment", IDEM, {"check_idempotency_in_flight"}),
    ("IDEM_NO_FINGERPRINT", "handle_payment", IDEM, {"check_idempotency_mismatch"}),
    ("IDEM_NAIVE", "handle_payment", IDEM, set(IDEM)),
]


@pytest.mark.parametrize("answer,name,checks,must_fail", CASES, ids=[c[0] for c in CASES])
def test_each_answer_fails_exactly_the_checks_it_should(answer, name, checks, must_fail):
    fn = _load(getattr(A, answer), name)
    failed = set()
    for check in checks:
        try:
            getattr(R, check)(fn, question=9)
        except AnswerError as exc:
            assert str(exc).startswith("Question 9:")
            failed.add(check)
    assert failed == must_fail


@pytest.mark.parametrize("sql", [
    "PRAGMA table_info(events)",
    "SELECT name FROM sqlite_master",
    "ATTACH DATABASE ':memory:' AS other",
    "DELETE FROM events",
    "INSERT INTO events (created_at, title) VALUES (1, 'x')",
    "SELECT load_extension('x')",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
])
def test_learner_sql_is_confined(sql):
    db = R.EventsDB([(1, 10, "a"), (2, 11, "b")])
    with pytest.raises(R.QueryRefused):
        db.query(sql)
    assert db.query("SELECT id FROM events ORDER BY id") == [(1,), (2,)]


def test_query_arguments_must_be_plain_data():
    db = R.EventsDB([(1, 10, "a")])
    with pytest.raises(TypeError):
        db.query(b"SELECT 1")
    with pytest.raises(TypeError):
        db.query("SELECT id FROM events WHERE id = ?", (object(),))


def test_failure_messages_name_the_question_and_not_the_hidden_data():
    fn = _load(A.PAGE_OFFSET, "fetch_page")
    with pytest.raises(AnswerError) as err:
        R.check_pagination_changes(fn, question=8)
    msg = str(err.value)
    assert msg.startswith("Question 8:") and "1700000" not in msg


def test_keystore_forgets_expiry_like_redis():
    s = R.KeyStore()
    assert s.set("k", "v", nx=True, ex=10) and not s.set("k", "w", nx=True)
    s.set("k", "w", keepttl=True)
    assert s.expiry["k"] == 10
    s.set("k", "x")
    assert "k" not in s.expiry and s.get("k") == "x"
    with pytest.raises(TypeError):
        s.set("k", {"not": "a str"})
