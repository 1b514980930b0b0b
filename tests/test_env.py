from course_tools.env import Requirement, check_environment


def test_environment_check_passes_here(capsys):
    """Does the first-cell check accept the environment the tests run in?"""
    report = check_environment()
    assert report["ok"], report["problems"]
    assert "Environment OK." in capsys.readouterr().out


def test_environment_check_names_the_fix(capsys):
    """A missing package is reported with the command that fixes it."""
    report = check_environment((Requirement("surely-not-installed-pkg", "1.0", "testing"),))
    assert not report["ok"]
    out = capsys.readouterr().out
    assert "surely-not-installed-pkg is missing" in out and "make lab" in out


def test_environment_check_flags_old_versions():
    report = check_environment((Requirement("pytest", "999.0", "testing"),), quiet=True)
    assert any("older than 999.0" in p for p in report["problems"])
