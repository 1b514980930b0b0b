"""Are the SOLID change costs computed from the code, and do they show what the lesson claims?"""

from __future__ import annotations

import sys

from course_tools.sim.solid import CASES, Design, change_cost, functions, run_tests


def test_every_design_passes_its_own_tests_before_the_change():
    """A smelly or clean design is working code: its own tests pass."""
    for case in CASES.values():
        for design in (case.smelly, case.clean):
            results = run_tests(design.files, design.tests)
            assert results and all(ok for ok, _ in results.values()), (case.principle, results)


def test_running_designs_leaves_sys_modules_as_it_was():
    """Loading a design's modules (named e.g. 'service') does not leak into sys.modules."""
    before = set(sys.modules)
    for case in CASES.values():
        change_cost(case.smelly, case.smelly_changed)
    assert set(sys.modules) == before


def test_functions_are_compared_by_ast_not_by_text():
    """Reformatting is not an edit; a changed body is."""
    a = {"m": "def f(x):\n    return x + 1\n"}
    b = {"m": "def f( x ):\n    return (x + 1)\n"}
    c = {"m": "def f(x):\n    return x + 2\n\ndef g():\n    pass\n"}
    assert functions(a) == functions(b)
    cost = change_cost(Design(a, "import m\ndef test_f():\n    assert m.f(1) == 2\n"), Design(c, ""))
    assert cost.functions_edited == ("m.f",) and cost.functions_added == ("m.g",)
    assert cost.tests_failing == ("test_f",) and cost.tests_at_risk == ("test_f",)


def test_the_clean_design_is_cheaper_for_every_case():
    """For each change request the clean design fails fewer old tests or puts fewer at risk,
    and never edits more existing functions."""
    for case in CASES.values():
        smelly = change_cost(case.smelly, case.smelly_changed)
        clean = change_cost(case.clean, case.clean_changed)
        assert len(clean.functions_edited) <= len(smelly.functions_edited)
        assert (len(clean.tests_failing), len(clean.tests_at_risk)) < (len(smelly.tests_failing),
                                                                       len(smelly.tests_at_risk)), case.principle


def test_specific_counts_the_lesson_describes():
    """SRP: 3 vs 1 failing; OCP: checkout edited vs nothing edited; LSP: the store contract breaks;
    ISP: the report's fake breaks;
    DIP: the service module is touched only in the smelly design."""
    c = {k: (change_cost(v.smelly, v.smelly_changed), change_cost(v.clean, v.clean_changed)) for k, v in CASES.items()}
    assert (len(c["SRP"][0].tests_failing), len(c["SRP"][1].tests_failing)) == (3, 1)
    assert c["OCP"][0].functions_edited == ("payments.checkout",) and c["OCP"][1].functions_edited == ()
    assert c["ISP"][0].tests_failing == ("test_revenue_sums_amounts",) and c["ISP"][1].tests_failing == ()
    assert c["LSP"][0].tests_failing == ("test_every_store_round_trips_a_save",) and c["LSP"][1].tests_failing == ()
    assert "service" in c["DIP"][0].files_touched and "service" not in c["DIP"][1].files_touched
