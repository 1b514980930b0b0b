"""Password storage measured: how many guesses per second does each scheme allow an attacker?

    rates = measure_all(budget=1.5)           # CPU seconds for all three schemes together
    exhaustion_seconds(rates["sha256"].rate, alphabet=26, length=8)

Each scheme is timed in CPU time (``time.process_time``), not wall time, so that other
programs on a loaded machine do not make a hash look slower than it is; every scheme gets a
*time* budget (not a count of hashes) split into rounds, and the best round is kept
(best-of-N). The conclusion worth keeping is the *ratio* between schemes — several orders of
magnitude — which no load on the machine can flip.

Parameters follow the OWASP Password Storage Cheat Sheet: Argon2id m=19 MiB, t=2, p=1; bcrypt
work factor 10 (its minimum for legacy systems).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from typing import Callable

import argon2
import bcrypt

__all__ = ["Scheme", "SCHEMES", "Rate", "measure", "measure_all", "exhaustion_seconds", "human_duration",
           "compare_early_exit", "hash_password", "verify_password"]

ARGON2_OWASP = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}   # memory_cost in KiB
BCRYPT_ROUNDS = 10


@dataclass(frozen=True)
class Scheme:
    name: str
    label: str
    hash: Callable[[bytes], object]   # one guess: hash a candidate password


_SALT = os.urandom(16)
_ARGON2 = argon2.PasswordHasher(**ARGON2_OWASP, type=argon2.Type.ID)
_BCRYPT_SALT = bcrypt.gensalt(BCRYPT_ROUNDS)

SCHEMES = (
    Scheme("sha256", "SHA-256 (salted, one round)", lambda pw: hashlib.sha256(_SALT + pw).digest()),
    Scheme("bcrypt", f"bcrypt, cost {BCRYPT_ROUNDS}", lambda pw: bcrypt.hashpw(pw, _BCRYPT_SALT)),
    Scheme("argon2id", "Argon2id m=19 MiB t=2 p=1",
           lambda pw: argon2.low_level.hash_secret_raw(pw, _SALT, hash_len=32, type=argon2.low_level.Type.ID,
                                                       **ARGON2_OWASP)),
)


@dataclass(frozen=True)
class Rate:
    scheme: str
    label: str
    rate: float            # guesses per CPU second, best round
    hashes: int            # hashes computed in all rounds
    rounds: int

    def __str__(self) -> str:
        return f"{self.label:<28} {self.rate:>14,.1f} guesses/s  (best of {self.rounds} rounds, {self.hashes} hashes)"


def measure(scheme: Scheme, budget: float = 0.5, rounds: int = 3, *,
            cpu_time: Callable[[], float] = time.process_time) -> Rate:
    """Best-of-``rounds`` guesses per CPU second, spending at most about ``budget`` CPU seconds.

    Each round hashes candidates until its share of the budget is used (at least one hash, so
    a scheme slower than the budget is still measured once per round).
    """
    share = budget / rounds
    best, total = 0.0, 0
    for r in range(rounds):
        start = cpu_time()
        n, elapsed = 0, 0.0
        while elapsed < share or n == 0:
            for i in range(16 if scheme.name == "sha256" else 1):   # amortise the clock reads
                scheme.hash(b"guess%d-%d" % (r, n + i))
            n += 16 if scheme.name == "sha256" else 1
            elapsed = cpu_time() - start
        total += n
        best = max(best, n / max(elapsed, 1e-9))
    return Rate(scheme.name, scheme.label, best, total, rounds)


def measure_all(budget: float = 1.5, rounds: int = 3) -> dict[str, Rate]:
    """Every scheme with an equal share of ``budget`` CPU seconds."""
    return {s.name: measure(s, budget / len(SCHEMES), rounds) for s in SCHEMES}


def exhaustion_seconds(rate: float, *, alphabet: int = 26, length: int = 8) -> float:
    """Seconds for one core to try every password of ``length`` symbols from ``alphabet``."""
    return alphabet ** length / rate


def human_duration(seconds: float) -> str:
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{seconds:,.1f} seconds"


def compare_early_exit(a: bytes, b: bytes) -> tuple[bool, int]:
    """The comparison ``==`` on bytes amounts to: stop at the first difference. Returns the
    answer and how many bytes were examined — the work, hence the time, an attacker observes."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return False, i + 1
    return len(a) == len(b), min(len(a), len(b))


def hash_password(password: str) -> str:
    """Argon2id with OWASP's parameters, in the PHC string format (salt and parameters included)."""
    return _ARGON2.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _ARGON2.verify(stored, password)
    except argon2.exceptions.VerificationError:
        return False


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """``hmac.compare_digest``: the time does not depend on where the inputs differ."""
    return hmac.compare_digest(a, b)
