"""Solutions and plausible wrong answers for the 02_api_design assessment (shared by the grading tests)."""

PAGE_SOLUTION = '''import base64
import json


def _encode(created_at, row_id):
    return base64.urlsafe_b64encode(json.dumps([created_at, row_id]).encode()).decode()


def _decode(cursor):
    created_at, row_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    return created_at, row_id


def fetch_page(db, cursor, page_size):
    if cursor is None:
        rows = db.query("SELECT id, created_at, title FROM events ORDER BY created_at, id LIMIT ?",
                        (page_size,))
    else:
        created_at, row_id = _decode(cursor)
        rows = db.query("SELECT id, created_at, title FROM events WHERE (created_at, id) > (?, ?) "
                        "ORDER BY created_at, id LIMIT ?", (created_at, row_id, page_size))
    if len(rows) < page_size:
        return rows, None
    last = rows[-1]
    return rows, _encode(last[1], last[0])'''

PAGE_OFFSET = '''def fetch_page(db, cursor, page_size):
    offset = int(cursor) if cursor else 0
    rows = db.query("SELECT id, created_at, title FROM events ORDER BY created_at, id LIMIT ? OFFSET ?",
                    (page_size, offset))
    return rows, (str(offset + page_size) if len(rows) == page_size else None)'''

PAGE_OFFSET_B64 = '''import base64


def fetch_page(db, cursor, page_size):
    offset = int(base64.b64decode(cursor)) if cursor else 0
    rows = db.query("SELECT id, created_at, title FROM events ORDER BY created_at, id LIMIT ? OFFSET ?",
                    (page_size, offset))
    nxt = base64.b64encode(str(offset + page_size).encode()).decode() if len(rows) == page_size else None
    return rows, nxt'''

PAGE_NO_TIEBREAK = '''import base64


def fetch_page(db, cursor, page_size):
    if cursor is None:
        rows = db.query("SELECT id, created_at, title FROM events ORDER BY created_at, id LIMIT ?", (page_size,))
    else:
        after = int(base64.b64decode(cursor))
        rows = db.query("SELECT id, created_at, title FROM events WHERE created_at > ? ORDER BY created_at, id LIMIT ?",
                        (after, page_size))
    if len(rows) < page_size:
        return rows, None
    return rows, base64.b64encode(str(rows[-1][1]).encode()).decode()'''

BUCKET_SOLUTION = '''class TokenBucket:
    def __init__(self, rate, burst, clock):
        if not rate > 0 or not burst >= 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.updated = clock()

    def _refill(self):
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def allow(self):
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def retry_after(self):
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate'''

BUCKET_FIXED_WINDOW = '''class TokenBucket:
    def __init__(self, rate, burst, clock):
        if not rate > 0 or not burst >= 1:
            raise ValueError("bad parameters")
        self.limit, self.window, self.clock = burst, burst / rate, clock
        self.index, self.count = None, 0

    def _roll(self):
        index = int(self.clock() // self.window)
        if index != self.index:
            self.index, self.count = index, 0
        return index

    def allow(self):
        self._roll()
        if self.count < self.limit:
            self.count += 1
            return True
        return False

    def retry_after(self):
        index = self._roll()
        return 0.0 if self.count < self.limit else (index + 1) * self.window - self.clock()'''

BUCKET_UNCAPPED = BUCKET_SOLUTION.replace(
    "self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)",
    "self.tokens = self.tokens + (now - self.updated) * self.rate")

BUCKET_COUNTER = '''class TokenBucket:
    def __init__(self, rate, burst, clock):
        if not rate > 0 or not burst >= 1:
            raise ValueError("bad parameters")
        self.left = burst

    def allow(self):
        if self.left > 0:
            self.left -= 1
            return True
        return False

    def retry_after(self):
        return 0.0 if self.left > 0 else 1.0'''

IDEM_SOLUTION = '''import json


def handle_payment(key, payload, store, charge):
    if not key:
        return 400, json.dumps({"title": "Bad Request", "detail": "Idempotency-Key required"})
    fingerprint = json.dumps(payload, sort_keys=True)
    record_key = "idem:" + key
    claim = json.dumps({"state": "in-flight", "fingerprint": fingerprint})
    if store.set(record_key, claim, nx=True, ex=86400):
        result = charge(payload)
        body = json.dumps(result)
        store.set(record_key, json.dumps({"state": "done", "fingerprint": fingerprint,
                                          "status": 201, "body": body}), ex=86400)
        return 201, body
    record = json.loads(store.get(record_key))
    if record["fingerprint"] != fingerprint:
        return 422, json.dumps({"title": "Unprocessable Content", "detail": "key reused with another payload"})
    if record["state"] == "in-flight":
        return 409, json.dumps({"title": "Conflict", "detail": "the first request is still in flight"})
    return record["status"], record["body"]'''

IDEM_STORE_AFTER = '''import json


def handle_payment(key, payload, store, charge):
    if not key:
        return 400, "{}"
    fingerprint = json.dumps(payload, sort_keys=True)
    record_key = "idem:" + key
    saved = store.get(record_key)
    if saved is not None:
        record = json.loads(saved)
        if record["fingerprint"] != fingerprint:
            return 422, "{}"
        return record["status"], record["body"]
    body = json.dumps(charge(payload))          # the work first ...
    store.set(record_key, json.dumps({"fingerprint": fingerprint, "status": 201, "body": body}), ex=86400)
    return 201, body                            # ... the key only afterwards'''

IDEM_NO_FINGERPRINT = '''import json


def handle_payment(key, payload, store, charge):
    if not key:
        return 400, "{}"
    record_key = "idem:" + key
    if store.set(record_key, json.dumps({"state": "in-flight"}), nx=True, ex=86400):
        body = json.dumps(charge(payload))
        store.set(record_key, json.dumps({"state": "done", "status": 201, "body": body}), ex=86400)
        return 201, body
    record = json.loads(store.get(record_key))
    if record["state"] == "in-flight":
        return 409, "{}"
    return record["status"], record["body"]'''

IDEM_GET_THEN_SET = IDEM_SOLUTION.replace(
    "    if store.set(record_key, claim, nx=True, ex=86400):\n",
    "    if store.get(record_key) is None:            # check ...\n"
    "        store.set(record_key, claim, ex=86400)   # ... then set: two steps, not atomic\n")
assert IDEM_GET_THEN_SET != IDEM_SOLUTION

IDEM_NAIVE = '''import json


def handle_payment(key, payload, store, charge):
    if not key:
        return 400, "{}"
    return 201, json.dumps(charge(payload))'''
