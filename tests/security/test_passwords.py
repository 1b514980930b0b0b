"""Is the password-hashing measurement capped by CPU time, and are the helpers right?"""

import hmac

from course_tools.security import passwords


class FakeCPU:
    """A CPU clock that advances a fixed amount per read, so a measurement's length is exact."""

    def __init__(self, step):
        self.t, self.step = 0.0, step

    def __call__(self):
        self.t += self.step
        return self.t


def test_measure_stops_on_time_not_on_a_count():
    """With each clock read costing 0.01 s, a 0.3 s budget in 3 rounds ends after ~0.1 s per round."""
    cpu = FakeCPU(0.01)
    slow = passwords.Scheme("slow", "slow", lambda pw: None)
    r = passwords.measure(slow, budget=0.3, rounds=3, cpu_time=cpu)
    assert r.rounds == 3 and cpu.t <= 0.3 + 0.1
    assert r.hashes == 30 and abs(r.rate - 100.0) < 1e-6


def test_a_hash_slower_than_the_budget_is_still_measured_once_per_round():
    cpu = FakeCPU(5.0)
    r = passwords.measure(passwords.Scheme("x", "x", lambda pw: None), budget=0.1, rounds=2, cpu_time=cpu)
    assert r.hashes == 2 and r.rate == 1 / 5.0


def test_real_schemes_rank_as_owasp_expects():
    """Measured briefly: both slow hashes allow at least 1000x fewer guesses than SHA-256 (a ratio, not a time)."""
    rates = passwords.measure_all(budget=0.6, rounds=2)
    assert rates["sha256"].rate > 1000 * rates["argon2id"].rate
    assert rates["sha256"].rate > 1000 * rates["bcrypt"].rate


def test_exhaustion_arithmetic():
    assert passwords.exhaustion_seconds(26 ** 8, alphabet=26, length=8) == 1.0
    assert passwords.human_duration(2 * 86400) == "2.0 days"
    assert passwords.human_duration(5) == "5.0 seconds"


def test_early_exit_comparison_counts_the_work():
    """The number of bytes examined reveals the length of the matching prefix; compare_digest agrees on the result."""
    secret = bytes(range(32))
    for right in (0, 5, 31):
        guess = secret[:right] + b"\xff" * (32 - right)
        same, examined = passwords.compare_early_exit(secret, guess)
        assert (same, examined) == (False, right + 1)
        assert hmac.compare_digest(secret, guess) is False
    assert passwords.compare_early_exit(secret, secret) == (True, 32)
    assert passwords.constant_time_equal(secret, bytes(secret))


def test_argon2id_hash_carries_owasp_parameters_and_verifies():
    stored = passwords.hash_password("pw")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify_password(stored, "pw") and not passwords.verify_password(stored, "pw2")
