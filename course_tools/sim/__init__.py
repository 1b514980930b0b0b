"""Deterministic simulators. Pure Python, seeded (``rng=``), on a virtual clock (``clock=``).

Simulators know nothing of plots or widgets (see ``course_tools.viz``). Import them by
module, e.g. ``from course_tools.sim.caches import LRUCache``.
"""
