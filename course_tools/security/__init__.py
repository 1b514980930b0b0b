"""Authentication and security pieces for the Auth chapter (2.3): tokens, passwords, sessions.

- :mod:`course_tools.security.tokens` — JWTs: keys made at run time, a naive and a correct validator, attacks.
- :mod:`course_tools.security.passwords` — SHA-256 vs bcrypt vs Argon2id, guesses per second measured.
- :mod:`course_tools.security.sessions` — server sessions, a jti deny-list and rotating refresh tokens in Redis.
"""
