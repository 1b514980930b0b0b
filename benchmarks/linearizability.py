"""Benchmark and reference for course_tools.sim.linearizability.

Run: ``make bench-lin`` (or ``.venv/bin/python benchmarks/linearizability.py``). Prints,
as observations (best of several runs, nothing asserted), how long :func:`check` takes on
generated Jepsen-style histories (many processes, timeouts, read/write/cas/append) against
:func:`reference_check`, a straightforward Wing & Gong search with memoization, and checks
that both give the same verdict on every history. tests/sim/test_linearizability.py runs
the same comparison on hundreds of small seeded histories.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time

from course_tools.sim.linearizability import Op, check

INF = math.inf


# -- the reference: small and obviously correct ----------------------------------------------
def _apply(kind, arg, state):
    """(allowed, new state) of one operation on one key, written independently of the checker."""
    if kind == "read":
        return arg == state, state
    if kind == "write":
        return True, arg
    if kind == "cas":
        expected, new = arg
        return state == expected, new if state == expected else state
    if kind == "append":
        return True, (state or ()) + (arg,)
    raise ValueError(kind)


def _freeze(v):
    """Lists as tuples, and the empty list as None (a key never written), as the checker documents."""
    return (tuple(_freeze(x) for x in v) or None) if isinstance(v, (list, tuple)) else v


def reference_check_key(ops, initial=None) -> bool:
    """Wing & Gong: try every pending op that may go next, recurse, memoize (done set, value).

    An op may go next if it started before every pending op's response (else that op would
    have to come first). Ops with unknown outcome have no response (end = INF) and need not
    be linearized at all. Reads that returned nothing are dropped.
    """
    entries = []
    for op in ops:
        done = op.ok and op.end is not None
        if op.kind == "read" and not done:
            continue
        value = _freeze(op.value)
        entries.append((op.start, op.end if done else INF, op.kind, value, done))
    must = frozenset(i for i, e in enumerate(entries) if e[4])
    memo = {}

    def rec(done, state):
        if must <= done:
            return True
        if (done, state) not in memo:
            pending = [i for i in range(len(entries)) if i not in done]
            horizon = min(entries[i][1] for i in pending)
            memo[(done, state)] = any(
                ok and rec(done | {i}, new)
                for i in pending if entries[i][0] <= horizon
                for ok, new in [_apply(entries[i][2], entries[i][3], state)])
        return memo[(done, state)]

    return rec(frozenset(), _freeze(initial))


def reference_check(ops, initial=None) -> bool:
    keys = {op.key for op in ops}
    return all(reference_check_key([op for op in ops if op.key == k], initial) for k in keys)


# -- generated histories --------------------------------------------------------------------
def generate(rng: random.Random, n_ops: int, *, processes: int = 5, keys=("x",), kinds=("read", "write", "cas"),
             p_timeout: float = 0.08, values: int = 4, corrupt: int = 0) -> list[Op]:
    """A Jepsen-style history of a store that really is linearizable, then ``corrupt`` reads changed.

    Each process runs one operation at a time; each operation takes effect at a random
    instant inside its interval (its linearization point), so before corruption the history
    is linearizable by construction. A timed-out operation took effect or not at random,
    is recorded with no response, and its process is replaced by a new one (as in Jepsen).
    A cas whose comparison failed is left out (it is known not to have happened).
    """
    planned = []
    clock = {p: rng.random() for p in range(processes)}
    next_process = processes
    live = list(range(processes))
    for _ in range(n_ops):
        slot = rng.randrange(len(live))
        p = live[slot]
        start = clock[p]
        end = start + rng.expovariate(1.0)
        kind = rng.choice(kinds)
        timeout = kind != "read" and rng.random() < p_timeout
        point = rng.uniform(start, end)
        arg = None
        if kind == "write":
            arg = rng.randrange(values)
        elif kind == "cas":
            arg = (rng.choice([None, *range(values)]), rng.randrange(values))
        elif kind == "append":
            arg = len(planned)
        effect = not timeout or rng.random() < 0.5
        planned.append([p, kind, rng.choice(keys), arg, start, end, point, timeout, effect])
        clock[p] = end + rng.expovariate(4.0)
        if timeout:  # the process is considered crashed: a new one takes over
            live[slot] = next_process
            clock[next_process] = end
            next_process += 1
    state = {}
    ops = []
    for p, kind, key, arg, start, end, point, timeout, effect in sorted(planned, key=lambda e: e[6]):
        cur = state.get(key)
        if kind == "read":
            value = list(cur) if isinstance(cur, tuple) else cur
            if any(k == "append" for k in kinds) and value is None:
                value = []
        elif kind == "cas" and cur != arg[0]:
            if not timeout:
                continue  # known failed: left out
            value = arg
        else:
            value = arg
            if effect:
                state[key] = _apply(kind, arg, cur)[1]
        ops.append(Op(len(ops), f"p{p}", kind, key, value, start, None if timeout else end, not timeout))
    reads = [i for i, op in enumerate(ops) if op.kind == "read"]
    for i in rng.sample(reads, min(corrupt, len(reads))):
        op = ops[i]
        if "append" in kinds:
            bad = (op.value or [])[:-1] if op.value and rng.random() < 0.5 else [*(op.value or []), -1]
        else:
            bad = rng.choice([v for v in [None, *range(values)] if v != op.value])
        ops[i] = Op(op.id, op.client, op.kind, op.key, bad, op.start, op.end, op.ok)
    return sorted(ops, key=lambda op: op.start)


def best_of(f, repeats: int) -> tuple[float, object]:
    best, out = INF, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--reference-max", type=int, default=60, help="largest history given to the slow reference")
    args = ap.parse_args(argv)
    sys.setrecursionlimit(10_000)
    rng = random.Random(args.seed)
    print("time per verdict, best of", args.repeats, "(reference only up to", args.reference_max, "ops)")
    print(f"{'ops':>5} {'keys':>4} {'timeouts':>8} {'kinds':<15} {'corrupt':>7} {'check':>10} {'explain':>10} "
          f"{'reference':>10}  verdict")
    cases = [(n, keys, p, kinds, corrupt) for n in (40, 300) for keys in (1, 3) for p in (0.02, 0.08)
             for kinds in (("read", "write", "cas"), ("read", "append")) for corrupt in (0, 1)]
    for n_ops, n_keys, p_timeout, kinds, corrupt in cases:
        h = generate(rng, n_ops, processes=8, keys=[f"k{i}" for i in range(n_keys)], kinds=kinds,
                     p_timeout=p_timeout, corrupt=corrupt)
        try:
            t_check, verdict = best_of(lambda: check(h), args.repeats)
        except RuntimeError:
            print(f"{len(h):>5} {n_keys:>4} {p_timeout:>8} {'/'.join(kinds):<15} {corrupt:>7}  gave up (state limit)")
            continue
        t_explain = best_of(lambda: check(h).explain(), 1)[0] if not verdict else 0.0
        if len(h) <= args.reference_max:
            t_ref, ref = best_of(lambda: reference_check(h), 1)
            agree = "agree" if ref == bool(verdict) else "DISAGREE"
            ref_s = f"{t_ref * 1e3:8.1f}ms"
        else:
            ref_s, agree = f"{'-':>10}", ""
        print(f"{len(h):>5} {n_keys:>4} {p_timeout:>8} {'/'.join(kinds):<15} {corrupt:>7} {t_check * 1e3:8.1f}ms "
              f"{t_explain * 1e3:8.1f}ms {ref_s}  {bool(verdict)} {agree}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
